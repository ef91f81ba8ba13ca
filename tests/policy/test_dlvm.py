"""The DLVM rules on the workload annotation the component really renders (components/dlvm.py):
it passes as rendered, and each rule fails a copy with exactly one thing wrong."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from components.crds.virtual_machine import GuestInfoCheck, ReadinessProbe
from components.dlvm import READINESS_KEY, READY_VALUE, WORKLOAD_ANNOTATION, ContainerPlan, Resources
from policy.rules.common import SECRET_UNKNOWN, UNKNOWN, NotApplicable, Res, SecretText
from policy.rules.dlvm import (
    IMAGES,
    LIMITS_AND_HEALTH,
    NO_PLAINTEXT_SECRETS,
    TLS_ONLY,
    VIRTUAL_MACHINE,
    WORKLOAD_DECLARED,
)
from tests.policy.builders import HARBOR, res

PROJECT = "paif-chat-dev"
FRONTEND = f"{HARBOR}/{PROJECT}/chat-frontend:1.4.2"
BACKEND = f"{HARBOR}/{PROJECT}/chat-backend:1.4.2"
HARBOR_PROJECT = res(
    "pulumi-python:dynamic/harbor:Project", {"url": f"https://{HARBOR}", "name": PROJECT}, name="registry-project"
)


# The readiness probe as DlvmWorkstation renders it.
PROBE = ReadinessProbe((GuestInfoCheck(READINESS_KEY, READY_VALUE),)).to_spec()
ABSENT = object()


def rendered(tls_source: str = "self-signed", tls_secret: str | None = None) -> dict[str, Any]:
    """The workload annotation as DlvmWorkstation renders it for dev."""
    plan = ContainerPlan(
        app_name="chat",
        frontend_image=FRONTEND,
        backend_image=BACKEND,
        frontend_port=8080,
        backend_port=8000,
        authenticated_pull=True,
        frontend_resources=Resources("250m", "256Mi", "512Mi", "1"),
        backend_resources=Resources("500m", "512Mi", "1Gi", "2"),
    )
    return plan.workload("chat-dlvm-cloud-init", ["DB_PASSWORD", "PAIS_CLIENT_SECRET", "TLS_KEY"], tls_source, tls_secret)


def vm(
    workload: Any = None, *, annotations: dict[str, Any] | None = None, cloud_init: Any = None, probe: Any = PROBE
) -> Res:
    spec = rendered() if workload is None else workload
    notes = {WORKLOAD_ANNOTATION: json.dumps(spec) if isinstance(spec, dict) else spec, **(annotations or {})}
    if workload == "absent":
        notes.pop(WORKLOAD_ANNOTATION)
    return res(
        VIRTUAL_MACHINE,
        {
            "metadata": {"name": "chat-dlvm", "namespace": "paif-chat-dev", "annotations": notes},
            "spec": {
                "className": "paif-gpu-a100-40c",
                "bootstrap": {
                    "cloudInit": cloud_init or {"rawCloudConfig": {"name": "chat-dlvm-cloud-init", "key": "user-data"}}
                },
                **({} if probe is ABSENT else {"readinessProbe": probe}),
            },
        },
        name="dlvm-vm",
    )


def changed(path: list[str | int], value: Any) -> dict[str, Any]:
    spec = copy.deepcopy(rendered())
    target: Any = spec
    for step in path[:-1]:
        target = target[step]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return spec


class TestRenderedWorkloadPasses:
    """No false alarm: the dev DLVM as the component renders it passes every rule."""

    def test_every_rule(self) -> None:
        assert WORKLOAD_DECLARED.evaluate(vm()) == []
        assert TLS_ONLY.evaluate(vm()) == []
        assert LIMITS_AND_HEALTH.evaluate(vm()) == []
        assert NO_PLAINTEXT_SECRETS.evaluate(vm()) == []
        assert IMAGES.evaluate([HARBOR_PROJECT, vm()]) == []

    def test_unknown_annotation_in_a_preview_is_no_violation(self) -> None:
        assert WORKLOAD_DECLARED.evaluate(vm(UNKNOWN)) == []
        assert TLS_ONLY.evaluate(vm(UNKNOWN)) == []
        assert LIMITS_AND_HEALTH.evaluate(vm(UNKNOWN)) == []

    def test_other_resources_are_ignored(self) -> None:
        other = res("kubernetes:core/v1:Service", {"spec": {}})
        for rule in (WORKLOAD_DECLARED, TLS_ONLY, LIMITS_AND_HEALTH, NO_PLAINTEXT_SECRETS):
            assert rule.evaluate(other) == []
        with pytest.raises(NotApplicable, match="no DLVM"):
            IMAGES.evaluate([HARBOR_PROJECT, other])


class TestWorkloadDeclared:
    def test_a_cloud_init_vm_without_the_annotation_fails(self) -> None:
        [message] = WORKLOAD_DECLARED.evaluate(vm("absent"))
        assert "VirtualMachine 'paif-chat-dev/chat-dlvm' runs what its cloud-init says" in message
        assert WORKLOAD_ANNOTATION in message

    def test_an_annotation_without_containers_fails(self) -> None:
        [message] = WORKLOAD_DECLARED.evaluate(vm("not json"))
        assert "lists no containers" in message


class TestTlsOnly:
    def test_a_plain_http_port_fails(self) -> None:
        spec = changed(["published", 1, "protocol"], "http")
        [message] = TLS_ONLY.evaluate(vm(spec))
        assert "publishes port 80 as 'http': serve the app over https only" in message

    def test_a_redirect_is_refused_where_configured(self) -> None:
        [message] = TLS_ONLY.evaluate(vm(), {"allowHttpRedirect": False})
        assert "port 80 as 'http-redirect'" in message

    def test_no_https_port_fails(self) -> None:
        messages = TLS_ONLY.evaluate(vm(changed(["published"], [])))
        assert messages == ["VirtualMachine 'paif-chat-dev/chat-dlvm' publishes no https port: put the app behind TLS (a TLS proxy on 443)"]

    def test_weak_protocols_and_unknown_certificates_fail(self) -> None:
        spec = changed(["tls"], {"port": 443, "certificate": "none", "protocols": ["TLSv1", "TLSv1.2"]})
        messages = TLS_ONLY.evaluate(vm(spec))
        assert any("certificate from 'none'" in m for m in messages)
        assert any("allows TLSv1: allow only TLSv1.2 and TLSv1.3" in m for m in messages)

    def test_each_source_the_component_renders_passes(self) -> None:
        for source, secret in (("self-signed", None), ("given", None), ("secret", "chat-tls")):
            assert TLS_ONLY.evaluate(vm(rendered(source, secret))) == [], source
        assert rendered("secret", "chat-tls")["tls"]["secret"] == "Secret/chat-tls"

    def test_self_signed_refused_where_configured(self) -> None:
        [message] = TLS_ONLY.evaluate(vm(), {"allowedCertificateSources": ["given", "issuer"]})
        assert "certificate from 'self-signed'" in message


class TestLimitsAndHealth:
    def test_a_missing_memory_limit_fails_as_on_a_pod(self) -> None:
        spec = changed(["containers", 0, "resources", "limits"], {})
        [message] = LIMITS_AND_HEALTH.evaluate(vm(spec))
        assert message.startswith("container 'chat-backend' of Pod ")
        assert "lacks resources limits.memory: set them" in message

    def test_cpu_limit_when_configured(self) -> None:
        spec = changed(["containers", 1, "resources", "limits"], {"memory": "512Mi"})
        assert LIMITS_AND_HEALTH.evaluate(vm(spec)) == []
        [message] = LIMITS_AND_HEALTH.evaluate(vm(spec), {"requireCpuLimit": True})
        assert "container 'chat-frontend'" in message and "limits.cpu" in message

    def test_a_vm_without_a_readiness_probe_fails(self) -> None:
        for probe in (ABSENT, {}, {"guestInfo": []}, {"periodSeconds": 10}):
            [message] = LIMITS_AND_HEALTH.evaluate(vm(probe=probe))
            assert message.startswith("VirtualMachine 'paif-chat-dev/chat-dlvm' has no readiness probe"), probe
            assert "spec.readinessProbe" in message

    def test_an_unknown_probe_in_a_preview_is_no_violation(self) -> None:
        assert LIMITS_AND_HEALTH.evaluate(vm(probe=UNKNOWN)) == []
        assert LIMITS_AND_HEALTH.evaluate(vm(probe={"guestInfo": UNKNOWN})) == []

    def test_a_container_without_health_check_fails(self) -> None:
        [message] = LIMITS_AND_HEALTH.evaluate(vm(changed(["containers", 2, "healthCheck"], None)))
        assert message.startswith("container 'chat-tls' of VirtualMachine 'paif-chat-dev/chat-dlvm' has no health check")


class TestImages:
    def test_a_foreign_registry_fails(self) -> None:
        spec = changed(["containers", 0, "image"], "docker.io/library/python:3.12")
        [violation] = IMAGES.evaluate([HARBOR_PROJECT, vm(spec)])
        assert "pulls 'docker.io/library/python:3.12': push it to and pull it from" in violation.message
        assert f"{HARBOR}/{PROJECT}/" in violation.message
        assert violation.urn == vm().urn

    def test_latest_fails_and_a_digest_when_required(self) -> None:
        spec = changed(["containers", 1, "image"], f"{HARBOR}/{PROJECT}/chat-frontend:latest")
        [violation] = IMAGES.evaluate([HARBOR_PROJECT, vm(spec)])
        assert "uses :latest" in violation.message
        digests = IMAGES.evaluate([HARBOR_PROJECT, vm()], {"requireDigest": True})
        assert len(digests) == 3 and all("is not pinned by digest" in v.message for v in digests)

    def test_no_allow_list_and_no_harbor_fails_closed(self) -> None:
        [violation] = IMAGES.evaluate([vm()])
        assert "no registry allow-list" in violation.message
        assert IMAGES.evaluate([vm()], {"allowedRegistries": [f"{HARBOR}/{PROJECT}/"]}) == []


class TestNoPlaintextSecrets:
    def test_inline_cloud_config_fails(self) -> None:
        [message] = NO_PLAINTEXT_SECRETS.evaluate(vm(cloud_init={"cloudConfig": {"write_files": []}}))
        assert "carries its cloud-config inline" in message

    def test_a_secret_in_an_annotation_fails(self) -> None:
        for value in (SecretText("hunter2-hunter2"), SECRET_UNKNOWN):
            [message] = NO_PLAINTEXT_SECRETS.evaluate(vm(annotations={"note": value}))
            assert "annotation note holds a Pulumi secret in plaintext" in message

    def test_a_secret_literal_env_fails(self) -> None:
        spec = changed(["containers", 1, "env", "DB_PASSWORD"], "hunter2-hunter2")
        [message] = NO_PLAINTEXT_SECRETS.evaluate(vm(spec))
        assert "sets the secret-looking env DB_PASSWORD literally" in message

    def test_secrets_from_elsewhere_fail(self) -> None:
        [message] = NO_PLAINTEXT_SECRETS.evaluate(vm(changed(["secrets", "from"], "ConfigMap/settings")))
        assert "gets its secret settings from 'ConfigMap/settings'" in message
