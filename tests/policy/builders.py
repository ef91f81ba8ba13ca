"""Plain-dict fixtures for the rule tests: compliant objects by default, so a failing fixture
is a compliant one with exactly one thing changed."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from policy.rules.common import Res

HARBOR = "harbor.paif.example.internal"
IMAGE = f"{HARBOR}/paif-chat/chat-backend:1.4.2"
DIGEST = "sha256:" + "a" * 64
NAMESPACE = "paif-chat"
LABELS = {"app.kubernetes.io/name": "chat", "app.kubernetes.io/component": "backend"}


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:test::paif-app::{type_}::{name}"


def res(type_: str, props: dict[str, Any], name: str = "r", **options: Any) -> Res:
    return Res(type=type_, props=props, name=name, urn=urn(type_, name), **options)


def changed(value: Mapping[str, Any], path: str, new: Any) -> dict[str, Any]:
    """A deep copy of `value` with the dotted `path` set to `new` (None deletes it)."""
    result = copy.deepcopy(dict(value))
    target: Any = result
    *parents, last = path.split(".")
    for step in parents:
        target = target[int(step)] if step.isdigit() else target.setdefault(step, {})
    if new is None:
        target.pop(last, None)
    else:
        target[last] = new
    return result


def container(name: str = "backend", image: str = IMAGE) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "ports": [{"name": "http", "containerPort": 8000}],
        "env": [
            {
                "name": "DB_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "chat-secrets", "key": "DB_PASSWORD"}},
            }
        ],
        "resources": {
            "requests": {"cpu": "250m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def deployment_props(
    name: str = "chat-backend",
    *,
    replicas: int | None = 2,
    containers: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
    namespace: str | None = NAMESPACE,
) -> dict[str, Any]:
    labels = labels or LABELS
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    spec: dict[str, Any] = {
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": containers or [container()],
                "affinity": {
                    "podAntiAffinity": {
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {
                                "weight": 100,
                                "podAffinityTerm": {
                                    "labelSelector": {"matchLabels": labels},
                                    "topologyKey": "kubernetes.io/hostname",
                                },
                            }
                        ]
                    }
                },
            },
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}


def deployment(name: str = "chat-backend", **kwargs: Any) -> Res:
    return res("kubernetes:apps/v1:Deployment", deployment_props(name, **kwargs), name=name)


def stateful_set(name: str = "chat-backend", **kwargs: Any) -> Res:
    """A StatefulSet with the same pod template as `deployment` (serviceName set)."""
    props = deployment_props(name, **kwargs)
    props["kind"], props["spec"]["serviceName"] = "StatefulSet", name
    return res("kubernetes:apps/v1:StatefulSet", props, name=name)


def pdb(name: str = "chat-backend-pdb", labels: dict[str, str] | None = None, **spec: Any) -> Res:
    spec = spec or {"maxUnavailable": 1}
    props = {
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {**spec, "selector": {"matchLabels": labels or LABELS}},
    }
    return res("kubernetes:policy/v1:PodDisruptionBudget", props, name=name)


def hpa(
    target: str = "chat-backend",
    min_replicas: int | None = 2,
    name: str = "chat-backend-hpa",
    max_replicas: int = 6,
    kind: str = "Deployment",
) -> Res:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": target},
        "maxReplicas": max_replicas,
    }
    if min_replicas is not None:
        spec["minReplicas"] = min_replicas
    props = {"metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec}
    return res("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", props, name=name)


def network_policy(name: str, selector: dict[str, Any], types: list[str], **rules: Any) -> Res:
    props = {
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"podSelector": selector, "policyTypes": types, **rules},
    }
    return res("kubernetes:networking.k8s.io/v1:NetworkPolicy", props, name=name)


def default_deny() -> Res:
    return network_policy("default-deny", {}, ["Ingress", "Egress"])


def backend_policy() -> Res:
    return network_policy(
        "backend",
        {"matchLabels": LABELS},
        ["Ingress", "Egress"],
        ingress=[{"from": [{"podSelector": {}}]}],
        egress=[{"to": [{"ipBlock": {"cidr": "10.20.30.0/24"}}]}],
    )


def config_map(data: dict[str, Any], name: str = "chat-config", **options: Any) -> Res:
    props = {"metadata": {"name": name, "namespace": NAMESPACE}, "data": data}
    return res("kubernetes:core/v1:ConfigMap", props, name=name, **options)


def harbor_connection() -> dict[str, Any]:
    return {
        "url": f"https://{HARBOR}",
        "username": "svc-paif",
        "password": None,
        "insecure": False,
        "ca_bundle": None,
        "timeout": 30.0,
        "attempts": 5,
    }


def pg_connection(sslmode: str = "verify-full") -> dict[str, Any]:
    return {
        "host": "db.paif.example.internal",
        "port": 5432,
        "admin_user": "pgadmin",
        "admin_password": "admin-password-123",
        "maintenance_database": "postgres",
        "sslmode": sslmode,
        "sslrootcert": "system",
        "connect_timeout": 10,
        "connect_attempts": 5,
    }


def monitoring() -> list[Res]:
    """What monitoring-required wants of a prod stack: the app's ServiceMonitor and alert rules,
    and the chart that serves them (kube-prometheus-stack from the Harbor mirror, pinned)."""
    meta = {"name": "chat-backend", "namespace": NAMESPACE}
    return [
        res("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", {"metadata": meta, "spec": {}}, name="sm"),
        res(
            "kubernetes:monitoring.coreos.com/v1:PrometheusRule", {"metadata": meta, "spec": {}}, name="rules"
        ),
        res(
            "kubernetes:helm.sh/v3:Release",
            {
                "chart": f"oci://{HARBOR}/paif-platform/kube-prometheus-stack",
                "version": "77.14.0",
                "values": {},
            },
            name="kube-prometheus-stack",
        ),
    ]
