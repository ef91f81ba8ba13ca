"""localenv/ingress.py without a cluster: Traefik's static configuration, the objects it needs
on the API server (against a recording fake transport), and the health rules."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from localenv import ingress, processes
from localenv.layout import Layout
from localenv.pki import Pki

PORTS = {ingress.PORT: 40443, ingress.PING_PORT: 40444}
APISERVER = "https://127.0.0.1:6443"


def config(tmp_path: Path) -> dict[str, Any]:
    return ingress.static_config(ingress.IngressFiles(Layout(tmp_path)), PORTS, Pki(tmp_path / "pki"), APISERVER)


def test_static_config_listens_on_loopback_only_and_calls_nobody(tmp_path: Path) -> None:
    static = config(tmp_path)
    addresses = [entry["address"] for entry in static["entryPoints"].values()]
    assert addresses == ["127.0.0.1:40443", "127.0.0.1:40444"]
    assert static["global"] == {"checkNewVersion": False, "sendAnonymousUsage": False}
    # No dashboard/API, no metrics, no tracing, no plugins: nothing else listens or calls out.
    assert set(static) == {"global", "entryPoints", "ping", "log", "accessLog", "providers"}
    # Ping on its own entrypoint (else Traefik opens an internal one on :8080, all addresses).
    assert static["ping"] == {"entryPoint": "ping"}


def test_ingresses_are_served_with_tls_on_the_https_entrypoint_only(tmp_path: Path) -> None:
    websecure, ping = config(tmp_path)["entryPoints"].values()
    assert websecure["asDefault"] is True
    assert websecure["http"] == {"tls": {}}
    assert "asDefault" not in ping


def test_provider_watches_our_class_and_publishes_loopback(tmp_path: Path) -> None:
    provider = config(tmp_path)["providers"]["kubernetesIngress"]
    assert provider["endpoint"] == APISERVER
    assert provider["certAuthFilePath"] == str(tmp_path / "pki" / "ca.crt")
    assert provider["ingressClass"] == ingress.INGRESS_CLASS == "traefik"
    assert provider["ingressEndpoint"] == {"ip": "127.0.0.1"}


def test_token_is_referenced_by_path_not_inlined(tmp_path: Path) -> None:
    provider = config(tmp_path)["providers"]["kubernetesIngress"]
    assert provider["token"] == str(tmp_path / "ingress" / "token")


def test_access_log_goes_to_the_logs_directory(tmp_path: Path) -> None:
    assert config(tmp_path)["accessLog"]["filePath"] == str(tmp_path / "logs" / "traefik-access.log")


class FakeApiServer:
    """Records requests; answers server-side apply with the object and TokenRequest with a token."""

    def __init__(self, fail: str | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.fail = fail

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail and request.url.path.endswith(self.fail):
            return httpx.Response(403, json={"kind": "Status", "message": "forbidden"})
        if request.url.path.endswith("/token"):
            return httpx.Response(
                201,
                json={"status": {"token": "header.payload.sig", "expirationTimestamp": "2030-01-02T03:04:05Z"}},
            )
        return httpx.Response(200, content=request.content)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=APISERVER, transport=httpx.MockTransport(self))


def test_objects_are_server_side_applied_at_their_rest_paths() -> None:
    api = FakeApiServer()
    with api.client() as client:
        applied = ingress.apply_objects(client)
    assert applied == [
        "Namespace/paif-ingress",
        "ServiceAccount/traefik",
        "ClusterRole/paif-traefik-ingress",
        "ClusterRoleBinding/paif-traefik-ingress",
        "IngressClass/traefik",
    ]
    assert [r.url.path for r in api.requests] == [
        "/api/v1/namespaces/paif-ingress",
        "/api/v1/namespaces/paif-ingress/serviceaccounts/traefik",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/paif-traefik-ingress",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/paif-traefik-ingress",
        "/apis/networking.k8s.io/v1/ingressclasses/traefik",
    ]
    for request in api.requests:
        assert request.method == "PATCH"
        assert request.headers["content-type"] == "application/apply-patch+yaml"
        assert request.url.params["fieldManager"] == "paif-localenv"
        assert request.url.params["force"] == "true"
    ingress_class = json.loads(api.requests[-1].content)
    assert ingress_class["spec"] == {"controller": "traefik.io/ingress-controller"}


def test_refused_object_is_an_error_naming_it() -> None:
    api = FakeApiServer(fail="/clusterroles/paif-traefik-ingress")
    with api.client() as client, pytest.raises(ingress.IngressError, match="ClusterRole/paif-traefik-ingress: HTTP 403"):
        ingress.apply_objects(client)


def test_role_grants_what_the_ingress_provider_reads_and_writes_nothing_else() -> None:
    granted = {
        (group, resource, verb)
        for rule in ingress.CLUSTER_ROLE_RULES
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    for group, resource in [
        ("networking.k8s.io", "ingresses"),
        ("networking.k8s.io", "ingressclasses"),
        ("", "services"),
        ("", "endpoints"),
        ("discovery.k8s.io", "endpointslices"),
        ("", "secrets"),
    ]:
        assert {(group, resource, verb) for verb in ("list", "watch")} <= granted
    writes = {g for g in granted if g[2] not in {"get", "list", "watch"}}
    assert writes == {("networking.k8s.io", "ingresses/status", "update")}
    binding = next(m for m in ingress.manifests() if m["kind"] == "ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "traefik", "namespace": "paif-ingress"}]


def test_token_request_asks_for_a_bounded_lifetime() -> None:
    api = FakeApiServer()
    with api.client() as client:
        token, expires = ingress.request_token(client, seconds=3600)
    assert token == "header.payload.sig"
    assert expires == datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    (request,) = api.requests
    assert (request.method, request.url.path) == ("POST", "/api/v1/namespaces/paif-ingress/serviceaccounts/traefik/token")
    assert json.loads(request.content)["spec"] == {"expirationSeconds": 3600}


def test_ingress_port_comes_from_state() -> None:
    assert ingress.ingress_port({"ports": {"traefik": 41000}}) == 41000
    with pytest.raises(ingress.IngressError, match="not up"):
        ingress.ingress_port({"ports": {}})


def test_unrecorded_or_dead_process_is_unhealthy() -> None:
    assert not ingress.ingress_healthy({})
    # pid 1 exists, but not with this start time.
    assert not ingress.ingress_healthy({"services": {"traefik": {"pid": 1, "started": -1}}, "ports": PORTS})


def test_token_about_to_expire_is_unhealthy_before_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    now = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    probes: list[int] = []

    def probe(port: int) -> bool:
        probes.append(port)
        return True

    monkeypatch.setattr(ingress, "_ping", probe)
    monkeypatch.setattr(ingress, "_serves_tls", probe)
    monkeypatch.setattr(processes, "alive", lambda pid, started: True)

    def state(expires_in: datetime.timedelta) -> dict[str, Any]:
        return {
            "services": {"traefik": {"pid": 12345, "started": 1}},
            "ports": PORTS,
            "ingress": {"token_expires": (now + expires_in).isoformat()},
        }

    assert not ingress.ingress_healthy(state(datetime.timedelta(minutes=30)), now)
    assert probes == []
    assert ingress.ingress_healthy(state(datetime.timedelta(hours=2)), now)
    assert probes == [40444, 40443]
