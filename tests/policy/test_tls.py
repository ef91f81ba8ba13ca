"""TLS rules: Ingress TLS, external Services, Harbor verification, PostgreSQL sslmode, PAIS URLs."""

from __future__ import annotations

from typing import Any

import pytest

from policy.rules.common import UNKNOWN, Res, Violation
from policy.rules.tls import HARBOR_TLS, INGRESS_TLS, NO_PLAIN_HTTP_SERVICE, PAIS_HTTPS, POSTGRES_SSLMODE
from tests.policy.builders import (
    LABELS,
    NAMESPACE,
    changed,
    config_map,
    container,
    deployment,
    deployment_props,
    harbor_connection,
    pg_connection,
    res,
)

INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"


def ingress(tls: Any, hosts: tuple[str, ...] = ("chat.paif.example.com",)) -> dict[str, Any]:
    spec: dict[str, Any] = {"rules": [{"host": h, "http": {"paths": []}} for h in hosts]}
    if tls is not None:
        spec["tls"] = tls
    return {"metadata": {"name": "chat", "namespace": "paif-chat"}, "spec": spec}


class TestIngressTls:
    def test_tls_covering_every_host_passes(self) -> None:
        props = ingress([{"hosts": ["chat.paif.example.com"], "secretName": "chat-tls"}])
        assert INGRESS_TLS.evaluate(res(INGRESS, props)) == []

    def test_wildcard_certificate_covers_one_label(self) -> None:
        props = ingress(
            [{"hosts": ["*.paif.example.com"], "secretName": "wildcard-tls"}],
            hosts=("chat.paif.example.com", "a.b.paif.example.com"),
        )
        messages = INGRESS_TLS.evaluate(res(INGRESS, props))
        assert messages == [
            "Ingress 'paif-chat/chat' serves host 'a.b.paif.example.com' without TLS: add it to "
            "spec.tls[].hosts (with a certificate that covers it)"
        ]

    def test_missing_tls_fails(self) -> None:
        messages = INGRESS_TLS.evaluate(res(INGRESS, ingress(None)))
        assert messages == [
            "Ingress 'paif-chat/chat' has no spec.tls: add a tls entry with a certificate Secret for its hosts"
        ]

    def test_host_outside_tls_fails(self) -> None:
        props = ingress(
            [{"hosts": ["chat.paif.example.com"], "secretName": "chat-tls"}],
            hosts=("chat.paif.example.com", "admin.example.com"),
        )
        assert len(INGRESS_TLS.evaluate(res(INGRESS, props))) == 1

    def test_tls_entry_without_a_secret_fails(self) -> None:
        """Without secretName the controller serves its default certificate for the host."""
        messages = INGRESS_TLS.evaluate(res(INGRESS, ingress([{"hosts": ["chat.paif.example.com"]}])))
        assert messages == [
            "Ingress 'paif-chat/chat' spec.tls[0] names no secretName: the controller would serve its default "
            "certificate (cert-manager, too, needs the Secret's name)"
        ]

    def test_default_backend_only_still_needs_tls(self) -> None:
        props = {
            "metadata": {"name": "chat", "namespace": "paif-chat"},
            "spec": {"defaultBackend": {"service": {"name": "chat-frontend", "port": {"number": 8080}}}},
        }
        assert INGRESS_TLS.evaluate(res(INGRESS, props)) == [
            "Ingress 'paif-chat/chat' has no spec.tls: add a tls entry with a certificate Secret for its hosts"
        ]

    def test_unknown_hosts_are_not_a_violation(self) -> None:
        assert INGRESS_TLS.evaluate(res(INGRESS, ingress([{"hosts": UNKNOWN}]))) == []
        assert INGRESS_TLS.evaluate(res(INGRESS, ingress(UNKNOWN))) == []


SERVICE = "kubernetes:core/v1:Service"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def service(kind: str, port: dict[str, Any], selector: dict[str, str] | None = None) -> Res:
    spec: dict[str, Any] = {"type": kind, "ports": [port]}
    if selector is not None:
        spec["selector"] = selector
    return res(SERVICE, {"metadata": {"name": "web", "namespace": NAMESPACE}, "spec": spec}, name="web")


def pods_with_port(name: str, number: int) -> Res:
    ported = changed(container(), "ports", [{"name": name, "containerPort": number}])
    return deployment(containers=[ported])


class TestExternalService:
    def test_cluster_ip_http_passes(self) -> None:
        assert NO_PLAIN_HTTP_SERVICE.evaluate([service("ClusterIP", {"name": "http", "port": 80})]) == []

    def test_load_balancer_https_passes(self) -> None:
        port = {"name": "https", "port": 443, "appProtocol": "https"}
        assert NO_PLAIN_HTTP_SERVICE.evaluate([service("LoadBalancer", port)]) == []

    @pytest.mark.parametrize(
        "port",
        [
            {"name": "http", "port": 8000},
            {"name": "web", "port": 80},
            {"port": 9000, "appProtocol": "http"},
            {"name": "api", "port": 8443, "targetPort": 8080},
            {"port": 443, "targetPort": "http-alt"},
        ],
    )
    def test_plain_http_on_an_external_service_fails(self, port: dict[str, Any]) -> None:
        violations = NO_PLAIN_HTTP_SERVICE.evaluate([service("NodePort", port)])
        assert len(violations) == 1
        assert "make the Service ClusterIP" in violations[0].message

    def test_a_named_target_port_is_resolved_against_the_selected_pods(self) -> None:
        lb = service("LoadBalancer", {"name": "web", "port": 443, "targetPort": "app"}, LABELS)
        [violation] = NO_PLAIN_HTTP_SERVICE.evaluate([lb, pods_with_port("app", 8080)])
        assert violation == Violation(
            "Service 'paif-chat/web' exposes plain HTTP on port 443 (targetPort 'app') as a LoadBalancer: route "
            "it through the TLS Ingress (make the Service ClusterIP) or serve HTTPS on that port",
            lb.urn,
        )
        assert NO_PLAIN_HTTP_SERVICE.evaluate([lb, pods_with_port("app", 8443)]) == []

    def test_a_target_port_named_http_is_plain_http(self) -> None:
        lb = service("LoadBalancer", {"name": "web", "port": 443, "targetPort": "http"}, LABELS)
        assert len(NO_PLAIN_HTTP_SERVICE.evaluate([lb, deployment()])) == 1

    def test_pods_of_another_namespace_are_not_the_target(self) -> None:
        lb = service("NodePort", {"port": 443, "targetPort": "app"}, LABELS)
        assert NO_PLAIN_HTTP_SERVICE.evaluate([lb, pods_with_port("app", 8080)]) != []
        ported = changed(container(), "ports", [{"name": "app", "containerPort": 8080}])
        elsewhere = res(DEPLOYMENT, deployment_props(namespace="other", containers=[ported]))
        assert NO_PLAIN_HTTP_SERVICE.evaluate([lb, elsewhere]) == []


class TestHarborTls:
    def test_verified_https_passes(self) -> None:
        props = {**harbor_connection(), "name": "paif-chat"}
        assert HARBOR_TLS.evaluate(res("pulumi-python:dynamic/harbor:Project", props, name="p")) == []

    def test_insecure_fails(self) -> None:
        props = {**harbor_connection(), "insecure": True}
        messages = HARBOR_TLS.evaluate(res("pulumi-python:dynamic/harbor:RobotAccount", props, name="pull"))
        assert messages == [
            "RobotAccount 'pull' skips TLS verification of Harbor: set insecure to false (give ca_bundle for a private CA)"
        ]

    def test_official_provider_with_plain_http_fails(self) -> None:
        props = {"url": "http://harbor.local", "insecure": "true"}
        assert len(HARBOR_TLS.evaluate(res("pulumi:providers:harbor", props, name="harbor"))) == 2

    def test_other_types_are_ignored(self) -> None:
        assert HARBOR_TLS.evaluate(res("pulumi-python:dynamic/vsphere:VmClass", {"insecure": True})) == []


class TestPostgresSslmode:
    @pytest.mark.parametrize("mode", ["require", "verify-ca", "verify-full"])
    def test_tls_modes_pass(self, mode: str) -> None:
        resource = res("pulumi-python:dynamic/postgres:Role", {**pg_connection(mode), "name": "chat_app"})
        assert POSTGRES_SSLMODE.evaluate(resource) == []

    def test_disable_fails(self) -> None:
        resource = res("pulumi-python:dynamic/postgres:Database", pg_connection("disable"), name="db")
        assert POSTGRES_SSLMODE.evaluate(resource) == [
            "Database 'db' connects to PostgreSQL with sslmode 'disable': set sslmode to require or verify-ca "
            "or verify-full"
        ]

    def test_official_provider_without_sslmode_fails(self) -> None:
        assert len(POSTGRES_SSLMODE.evaluate(res("pulumi:providers:postgresql", {"host": "db"}))) == 1

    def test_config_narrows_allowed_modes(self) -> None:
        resource = res("pulumi-python:dynamic/postgres:Schema", pg_connection("require"))
        assert POSTGRES_SSLMODE.evaluate(resource, {"allowedModes": ["verify-full"]}) != []

    def test_app_settings_in_configmap(self) -> None:
        assert POSTGRES_SSLMODE.evaluate(config_map({"DB_SSLMODE": "verify-full"})) == []
        assert POSTGRES_SSLMODE.evaluate(config_map({"DB_SSLMODE": "prefer"})) == [
            "ConfigMap 'paif-chat/chat-config' data.DB_SSLMODE gives the app sslmode 'prefer': use require or "
            "verify-ca or verify-full"
        ]

    def test_connection_url_in_literal_env(self) -> None:
        env = [{"name": "DATABASE_URL", "value": "postgresql://db.internal/chat?sslmode=disable"}]
        workload = deployment(containers=[changed(container(), "env", env)])
        assert len(POSTGRES_SSLMODE.evaluate(workload)) == 1

    def test_unknown_sslmode_is_not_a_violation(self) -> None:
        resource = res("pulumi-python:dynamic/postgres:Grant", pg_connection(UNKNOWN))  # type: ignore[arg-type]
        assert POSTGRES_SSLMODE.evaluate(resource) == []


class TestPaisHttps:
    def test_https_urls_pass(self) -> None:
        data = {
            "PAIS_BASE_URL": "https://pais.internal",
            "PAIS_TOKEN_URL": "https://pais.internal/oauth/token",
        }
        assert PAIS_HTTPS.evaluate(config_map(data)) == []

    def test_backend_url_over_cluster_http_is_not_a_pais_url(self) -> None:
        assert (
            PAIS_HTTPS.evaluate(config_map({"BACKEND_URL": "http://chat-backend.paif-chat.svc:8000"})) == []
        )

    def test_http_token_url_fails(self) -> None:
        assert PAIS_HTTPS.evaluate(config_map({"PAIS_TOKEN_URL": "http://pais.internal/oauth/token"})) == [
            "ConfigMap 'paif-chat/chat-config' data.PAIS_TOKEN_URL is 'http://pais.internal/oauth/token': "
            "PAIS must be called over https://"
        ]

    def test_http_base_url_in_literal_env_fails(self) -> None:
        env = [{"name": "PAIS_BASE_URL", "value": "http://pais.internal"}]
        assert len(PAIS_HTTPS.evaluate(deployment(containers=[changed(container(), "env", env)]))) == 1
