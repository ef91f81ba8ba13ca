"""The recall/precision corpus of issue 15: whole prod stacks, each a compliant stack with one
thing changed. A bad stack must fail with exactly its rule (and no other mandatory one), a
good stack with none. Function-level (every rule, prod policy config), so it also runs
against an older copy of the pack:

    .venv/bin/python -m tests.policy.corpus                   # this pack
    PYTHONPATH=/tmp/policy-orig .venv/bin/python -m tests.policy.corpus   # another copy

Secret-ness is what `policy/secretness.py` gives the rules (`SecretText`, `SECRET_UNKNOWN`);
a pack without it sees the plaintext, as the SDK hands it over.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from policy.rules import ALL_RULES, common
from policy.rules.common import UNKNOWN, NotApplicable, Res, ResourceRule
from tests.policy.builders import (
    HARBOR,
    LABELS,
    NAMESPACE,
    backend_policy,
    changed,
    config_map,
    container,
    default_deny,
    deployment,
    deployment_props,
    harbor_connection,
    hpa,
    monitoring,
    network_policy,
    pdb,
    res,
    stateful_set,
)

CACHE_LABELS = {"app.kubernetes.io/name": "chat-cache"}
PROD_CONFIG = json.loads((Path(common.__file__).parents[1] / "config" / "prod.json").read_text())


def secret(value: str) -> Any:
    """A Pulumi secret as the pack sees it (plaintext for a pack that cannot see secret-ness)."""
    marked = getattr(common, "SecretText", None)
    return marked(value) if marked is not None else value


def secret_unknown() -> Any:
    return getattr(common, "SECRET_UNKNOWN", UNKNOWN)


PROJECT = "pulumi-python:dynamic/harbor:Project"
PASSWORD = "pulumi-python:dynamic/random:Password"
SERVICE = "kubernetes:core/v1:Service"
SECRET = "kubernetes:core/v1:Secret"
CONFIG_GROUP_DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def harbor_project() -> Res:
    props = {
        **harbor_connection(),
        "name": "paif-chat",
        "public": False,
        "vulnerability_scanning": True,
        "deployment_security": "high",
        "force_destroy": False,
    }
    return res(PROJECT, props, name="registry", protect=True)


def immutable_tags(pattern: str, repos: str = "**") -> Res:
    """The project's immutable tag rule, its project_id from the Project (as HarborProject declares it)."""
    props = {**harbor_connection(), "project_id": 7, "tag_pattern": pattern, "repo_pattern": repos, "disabled": False}
    deps = {"project_id": (harbor_project().urn,)}
    return res("pulumi-python:dynamic/harbor:ImmutableTagRule", props, name="registry-immutable-tags",
               property_dependencies=deps)


def _release(**props: Any) -> Res:
    """The GPU Operator chart from the Harbor mirror at a pinned version, with `props` changed."""
    chart = {"chart": f"oci://{HARBOR}/paif-platform/gpu-operator", "version": "v25.10.0", "values": {}}
    return res("kubernetes:helm.sh/v3:Release", {**chart, **props}, name="gpu-operator")


RELEASE_TAGS = "{v*,[0-9]*}"
"""Prod's immutable tag pattern (stacks/Pulumi.prod.yaml): release tags with or without a v."""


def base(
    *,
    workload: Res | None = None,
    extra: Sequence[Res] = (),
    drop_hpa: bool = False,
    tags: str | None = RELEASE_TAGS,
    repos: str = "**",
) -> list[Res]:
    """A compliant prod stack: Harbor project with an immutable tag rule (`tags` in `repos`; None:
    no rule), Deployment with PDB and HPA, NetworkPolicies, monitoring."""
    stack = [
        harbor_project(),
        *([immutable_tags(tags, repos)] if tags is not None else []),
        workload or deployment(),
        pdb(),
        default_deny(),
        backend_policy(),
        *monitoring(),
    ]
    if not drop_hpa:
        stack.append(hpa())
    return [*stack, *extra]


def rbac_object(kind: str, **props: Any) -> Res:
    metadata = {"name": "r", "namespace": NAMESPACE} if kind in ("Role", "RoleBinding") else {"name": "r"}
    return res(f"kubernetes:rbac.authorization.k8s.io/v1:{kind}", {"metadata": metadata, **props}, name="r")


def cluster_admin_binding(service_account: str) -> Res:
    return rbac_object(
        "ClusterRoleBinding",
        roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        subjects=[{"kind": "ServiceAccount", "name": service_account, "namespace": NAMESPACE}],
    )


def pod_setting(path: str, value: Any) -> Res:
    """The compliant Deployment with one setting of its pod template (`path` below spec.template)."""
    return res(
        "kubernetes:apps/v1:Deployment", changed(deployment().props, f"spec.template.{path}", value), name="chat-backend"
    )


def with_env(*env: dict[str, Any], kind: str = "Deployment") -> Res:
    entries = [*container()["env"], *env]
    spec = changed(container(), "env", entries)
    if kind == "Deployment":
        return deployment(containers=[spec])
    props = deployment_props(containers=[spec])
    if kind == "StatefulSet":
        return res("kubernetes:apps/v1:StatefulSet", {**props, "kind": "StatefulSet"}, name="chat-backend")
    template = props["spec"]["template"]
    job = {
        "metadata": props["metadata"],
        "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}},
    }
    return res("kubernetes:batch/v1:CronJob", job, name="chat-backend")


def with_init_env(*env: dict[str, Any]) -> Res:
    init = changed(container("seed"), "env", list(env))
    props = deployment_props()
    props["spec"]["template"]["spec"]["initContainers"] = [init]
    return res("kubernetes:apps/v1:Deployment", props, name="chat-backend")


def service(port: dict[str, Any], kind: str = "LoadBalancer") -> Res:
    props = {
        "metadata": {"name": "chat-lb", "namespace": NAMESPACE},
        "spec": {"type": kind, "selector": LABELS, "ports": [port]},
    }
    return res(SERVICE, props, name="chat-lb")


def pods_with_ports(*ports: dict[str, Any]) -> Res:
    return deployment(containers=[changed(container(), "ports", list(ports))])


def k8s_secret(values: dict[str, Any], section: str = "stringData", **options: Any) -> Res:
    props = {"metadata": {"name": "chat-secrets", "namespace": NAMESPACE}, "type": "Opaque", section: values}
    return res(SECRET, props, name="chat-secrets", **options)


def password() -> Res:
    return res(
        PASSWORD, {"length": 32, "result": secret_unknown()}, name="app-password", secret_outputs=("result",)
    )


def batch_job() -> Res:
    """A one-off Job of the compliant backend's pod, without probes (a Job runs to completion)."""
    template = deployment_props()["spec"]["template"]
    spec = template["spec"]
    spec["containers"] = [
        {k: v for k, v in c.items() if k not in ("readinessProbe", "livenessProbe", "startupProbe")}
        for c in spec["containers"]
    ]
    spec["restartPolicy"] = "Never"
    props = {"metadata": {"name": "chat-migrate", "namespace": NAMESPACE}, "spec": {"template": template}}
    return res("kubernetes:batch/v1:Job", props, name="chat-migrate")


APP_HOST = "chat.paif.example.com"


def ingress_backend() -> dict[str, Any]:
    return {"service": {"name": "chat-frontend", "port": {"number": 8080}}}


def ingress_rule() -> dict[str, Any]:
    path = {"path": "/", "pathType": "Prefix", "backend": ingress_backend()}
    return {"host": APP_HOST, "http": {"paths": [path]}}


def ingress(spec: dict[str, Any]) -> Res:
    props = {"metadata": {"name": "chat", "namespace": NAMESPACE}, "spec": {"ingressClassName": "contour", **spec}}
    return res("kubernetes:networking.k8s.io/v1:Ingress", props, name="chat-ingress")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


PEM_KEY = b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg\n-----END EC PRIVATE KEY-----\n"
PEM_CERT = b"-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n"
DER_CERT = bytes([0x30, 0x82, 0x01, 0x0A]) + bytes(range(256)) + bytes(10)  # SEQUENCE, 266 bytes of content
PKCS12 = bytes([0x30, 0x80]) + b"\x02\x01\x03" + bytes(40) + b"\x00\x00"
JKS = b"\xfe\xed\xfe\xed\x00\x00\x00\x02" + bytes(30)


def ignoring(path: str, **kwargs: Any) -> Res:
    workload = deployment(**kwargs)
    return res(workload.type, dict(workload.props), name="chat-backend", ignore_changes=(path,))


def binary_config_map_stack(blob: bytes) -> list[Res]:
    props = {"metadata": {"name": "certs", "namespace": NAMESPACE}, "binaryData": {"bundle": b64(blob)}}
    return base(extra=[res("kubernetes:core/v1:ConfigMap", props, name="certs")])


@dataclass(frozen=True)
class Case:
    name: str
    category: str
    stack: Callable[[], list[Res]]
    rule: str | None
    """The one mandatory rule a bad stack fails; None for a good stack."""


CASES: list[Case] = [
    # -- a NodePort/LoadBalancer whose targetPort is a name --------------------------------------
    Case(
        "lb-targetport-named-http",
        "named-target-port",
        lambda: base(extra=[service({"name": "web", "port": 443, "targetPort": "http"})]),
        "no-plain-http-external-service",
    ),
    Case(
        "nodeport-targetport-resolves-to-8080",
        "named-target-port",
        lambda: base(
            workload=pods_with_ports({"name": "app", "containerPort": 8080}),
            extra=[service({"name": "app", "port": 8000, "targetPort": "app"}, "NodePort")],
        ),
        "no-plain-http-external-service",
    ),
    Case(
        "lb-targetport-resolves-to-80",
        "named-target-port",
        lambda: base(
            workload=pods_with_ports({"name": "web", "containerPort": 80}),
            extra=[service({"port": 9000, "targetPort": "web"})],
        ),
        "no-plain-http-external-service",
    ),
    Case(
        "nodeport-targetport-http-alt",
        "named-target-port",
        lambda: base(extra=[service({"port": 30443, "targetPort": "http-alt"}, "NodePort")]),
        "no-plain-http-external-service",
    ),
    Case(
        "lb-numeric-targetport-on-a-pod-port-named-http",
        "named-target-port",
        lambda: base(extra=[service({"port": 8000, "targetPort": 8000})]),
        "no-plain-http-external-service",
    ),
    Case(
        "lb-numeric-targetport-8080-on-a-pod-port-named-https",
        "named-target-port",
        lambda: base(
            workload=pods_with_ports({"name": "https", "containerPort": 8080}),
            extra=[service({"port": 443, "targetPort": 8080})],
        ),
        None,
    ),
    Case(
        "lb-numeric-targetport-8080",
        "named-target-port",
        lambda: base(extra=[service({"name": "api", "port": 8443, "targetPort": 8080})]),
        "no-plain-http-external-service",
    ),
    Case(
        "lb-unresolved-name-service-port-80",
        "named-target-port",
        lambda: base(extra=[service({"name": "main", "port": 80, "targetPort": "svc"})]),
        "no-plain-http-external-service",
    ),
    Case(
        "lb-targetport-https-pod",
        "named-target-port",
        lambda: base(
            workload=pods_with_ports({"name": "https", "containerPort": 8443}),
            extra=[service({"name": "https", "port": 443, "targetPort": "https"})],
        ),
        None,
    ),
    Case(
        "lb-targetport-resolves-to-8443",
        "named-target-port",
        lambda: base(
            workload=pods_with_ports({"name": "web", "containerPort": 8443}),
            extra=[service({"name": "web", "port": 443, "targetPort": "web"})],
        ),
        None,
    ),
    Case(
        "clusterip-targetport-http",
        "named-target-port",
        lambda: base(extra=[service({"name": "http", "port": 80, "targetPort": "http"}, "ClusterIP")]),
        None,
    ),
    # -- env values that are Pulumi secrets under harmless names ---------------------------------
    Case(
        "env-config-secret-harmless-name",
        "secret-env",
        lambda: base(workload=with_env({"name": "APP_SETTING", "value": secret("s3cr3t-from-config")})),
        "no-secret-data-flow",
    ),
    Case(
        "env-generated-password-in-preview",
        "secret-env",
        lambda: base(workload=with_env({"name": "DB_EXTRA", "value": secret_unknown()}), extra=[password()]),
        "no-secret-data-flow",
    ),
    Case(
        "init-env-config-secret",
        "secret-env",
        lambda: base(workload=with_init_env({"name": "SEED", "value": secret("seed-value-123456")})),
        "no-secret-data-flow",
    ),
    Case(
        "cronjob-env-config-secret",
        "secret-env",
        lambda: base(
            extra=[with_env({"name": "UPSTREAM", "value": secret("upstream-credential")}, kind="CronJob")]
        ),
        "no-secret-data-flow",
    ),
    Case(
        "statefulset-env-robot-secret",
        "secret-env",
        lambda: base(extra=[with_env({"name": "PULL", "value": secret_unknown()}, kind="StatefulSet")]),
        "no-secret-data-flow",
    ),
    Case(
        "env-secret-inside-a-dsn",
        "secret-env",
        lambda: base(
            workload=with_env({"name": "DSN", "value": secret("host=db user=app password=abcdefgh")})
        ),
        "no-secret-data-flow",
    ),
    Case(
        "env-plain-unknown-host",
        "secret-env",
        lambda: base(workload=with_env({"name": "DB_HOST", "value": UNKNOWN})),
        None,
    ),
    Case(
        "env-plain-settings",
        "secret-env",
        lambda: base(
            workload=with_env({"name": "LOG_LEVEL", "value": "info"}, {"name": "WORKERS", "value": "4"})
        ),
        None,
    ),
    # -- ConfigMap values that are Pulumi secrets under harmless keys ----------------------------
    Case(
        "configmap-config-secret-harmless-key",
        "secret-configmap",
        lambda: base(extra=[config_map({"SETTING_A": secret("abcdef123456")})]),
        "no-secret-data-flow",
    ),
    Case(
        "configmap-generated-password-in-preview",
        "secret-configmap",
        lambda: base(extra=[config_map({"EXTRA": secret_unknown()})]),
        "no-secret-data-flow",
    ),
    Case(
        "configmap-binary-secret",
        "secret-configmap",
        lambda: base(
            extra=[
                res(
                    "kubernetes:core/v1:ConfigMap",
                    {
                        "metadata": {"name": "blob", "namespace": NAMESPACE},
                        "binaryData": {"blob": secret(b64(b"opaque-bytes-1234"))},
                    },
                    name="blob",
                )
            ]
        ),
        "no-secret-data-flow",
    ),
    Case(
        "configmap-secret-dsn",
        "secret-configmap",
        lambda: base(extra=[config_map({"DSN": secret("host=db user=app")})]),
        "no-secret-data-flow",
    ),
    Case(
        "configmap-plain-unknown",
        "secret-configmap",
        lambda: base(extra=[config_map({"DB_NAME": UNKNOWN, "PUBLIC_HOST": "chat.example"})]),
        None,
    ),
    Case(
        "configmap-url-password-without-user",
        "secret-configmap",
        lambda: base(extra=[config_map({"CACHE": "redis://:hunter2hunter2@chat-redis:6379/0"})]),
        "no-secrets-in-configmap",
    ),
    Case(
        "env-url-password-without-user",
        "secret-env",
        lambda: base(workload=with_env({"name": "CACHE", "value": "redis://:hunter2hunter2@chat-redis:6379/0"})),
        "no-secret-literal-env",
    ),
    Case(
        "configmap-settings-about-secrets",
        "precision",
        lambda: base(
            extra=[
                config_map(
                    {"password_policy": "min_length=12", "SECRET_STORE": "vault", "PASSWORD_HASHER": "argon2"}
                )
            ]
        ),
        None,
    ),
    Case(
        "settings-naming-the-secret-objects",
        "precision",
        lambda: base(
            workload=with_env({"name": "API_KEY_AUTH", "value": "disabled"}),
            extra=[config_map({"DB_PASSWORD_SECRET": "chat-secrets", "TLS_SECRET": "chat-tls"})],
        ),
        None,
    ),
    Case(
        "configmap-client-secret-literal",
        "secret-configmap",
        lambda: base(extra=[config_map({"OIDC_CLIENT_SECRET": "chat-backend-prod-7f3a"})]),
        "no-secrets-in-configmap",
    ),
    Case(
        "env-settings-about-secrets",
        "precision",
        lambda: base(
            workload=with_env(
                {"name": "TOKEN_PROVIDER", "value": "keycloak"}, {"name": "SECRETS_BACKEND", "value": "kubernetes"}
            )
        ),
        None,
    ),
    # -- Kubernetes Secrets filled from plain config values ---------------------------------------
    Case(
        "secret-stringdata-plain-password",
        "plain-secret",
        lambda: base(extra=[k8s_secret({"DB_PASSWORD": "from-plain-config"})]),
        "secret-outputs-marked",
    ),
    Case(
        "secret-stringdata-plain-harmless-key",
        "plain-secret",
        lambda: base(extra=[k8s_secret({"value": "Zm9vYmFyYmF6"})]),
        "secret-outputs-marked",
    ),
    Case(
        "secret-data-plain-base64",
        "plain-secret",
        lambda: base(extra=[k8s_secret({"token": b64(b"plain-token-value")}, "data")]),
        "secret-outputs-marked",
    ),
    Case(
        "secret-dockerconfig-plain",
        "plain-secret",
        lambda: base(extra=[k8s_secret({".dockerconfigjson": '{"auths":{"h":{"auth":"dTpw"}}}'})]),
        "secret-outputs-marked",
    ),
    Case(
        "secret-tls-key-plain",
        "plain-secret",
        lambda: base(extra=[k8s_secret({"tls.crt": PEM_CERT.decode(), "tls.key": "plain-key-material"})]),
        "secret-outputs-marked",
    ),
    Case(
        "secret-from-pulumi-secrets",
        "plain-secret",
        lambda: base(
            extra=[
                k8s_secret(
                    {
                        "DB_PASSWORD": secret("from-secret-config"),
                        "username": "chat_app",
                        "tls.crt": PEM_CERT.decode(),
                    }
                )
            ]
        ),
        None,
    ),
    Case(
        "secret-generated-password",
        "plain-secret",
        lambda: base(extra=[password(), k8s_secret({"password": secret_unknown(), "port": "5432"})]),
        None,
    ),
    # -- ignore_changes on a parent of security fields --------------------------------------------
    Case(
        "ignore-spec",
        "ignore-parent",
        lambda: base(workload=ignoring("spec")),
        "no-ignore-changes-on-security-fields",
    ),
    Case(
        "ignore-spec-template",
        "ignore-parent",
        lambda: base(workload=ignoring("spec.template")),
        "no-ignore-changes-on-security-fields",
    ),
    Case(
        "ignore-pod-spec",
        "ignore-parent",
        lambda: base(workload=ignoring("spec.template.spec")),
        "no-ignore-changes-on-security-fields",
    ),
    Case(
        "ignore-containers",
        "ignore-parent",
        lambda: base(workload=ignoring("spec.template.spec.containers[0]")),
        "no-ignore-changes-on-security-fields",
    ),
    Case(
        "ignore-everything",
        "ignore-parent",
        lambda: base(workload=ignoring("*")),
        "no-ignore-changes-on-security-fields",
    ),
    Case(
        "ignore-replicas-under-hpa", "ignore-parent", lambda: base(workload=ignoring("spec.replicas")), None
    ),
    Case(
        "ignore-annotations",
        "ignore-parent",
        lambda: base(workload=ignoring("spec.template.metadata.annotations")),
        None,
    ),
    # -- binaryData holding a key or a certificate ------------------------------------------------
    *[
        Case(
            f"binarydata-{what}",
            "binary-key",
            partial(binary_config_map_stack, blob),
            "no-secrets-in-configmap",
        )
        for what, blob in [
            ("pem-key", PEM_KEY),
            ("pem-cert", PEM_CERT),
            ("der-cert", DER_CERT),
            ("pkcs12", PKCS12),
            ("jks", JKS),
        ]
    ],
    Case(
        "binarydata-font",
        "binary-key",
        lambda: base(
            extra=[
                res(
                    "kubernetes:core/v1:ConfigMap",
                    {
                        "metadata": {"name": "assets", "namespace": NAMESPACE},
                        "binaryData": {"logo.png": b64(b"\x89PNG\r\n\x1a\n" + bytes(64))},
                    },
                    name="assets",
                )
            ]
        ),
        None,
    ),
    Case(
        "configmap-ca-bundle-in-data",
        "binary-key",
        lambda: base(extra=[config_map({"ca.crt": PEM_CERT.decode()})]),
        None,
    ),
    # -- precision: names about secrets, HPA-owned replicas ---------------------------------------
    Case(
        "token-limit-number",
        "precision",
        lambda: base(
            extra=[config_map({"TOKEN_LIMIT": "8192", "MAX_TOKENS": "4096", "PASSWORD_MIN_LENGTH": "12"})]
        ),
        None,
    ),
    Case(
        "token-settings-env",
        "precision",
        lambda: base(
            workload=with_env(
                {"name": "TOKEN_LIMIT", "value": "8192"},
                {"name": "SECRET_ROTATION", "value": "30d"},
                {"name": "AUTH_TOKEN_TTL", "value": "3600"},
            )
        ),
        None,
    ),
    Case("hpa-owns-replicas", "precision", lambda: base(workload=deployment(replicas=None)), None),
    Case(
        "secret-name-with-secret-value",
        "precision",
        lambda: base(extra=[config_map({"API_TOKEN": "tok-9f8a7b6c5d"})]),
        "no-secrets-in-configmap",
    ),
    # -- StatefulSets: one replica, no PDB or no spreading is as fragile as for a Deployment ------
    Case(
        "stateful-set-one-replica",
        "availability",
        lambda: base(extra=[stateful_set("chat-cache", replicas=1), pdb("chat-cache-pdb")]),
        "deployment-min-replicas",
    ),
    Case(
        "stateful-set-without-pdb",
        "availability",
        lambda: base(
            extra=[
                stateful_set("chat-cache", replicas=3, labels=CACHE_LABELS),
                network_policy("cache", {"matchLabels": CACHE_LABELS}, ["Ingress"], ingress=[{"from": [{"podSelector": {}}]}]),
            ]
        ),
        "deployment-has-pdb",
    ),
    Case(
        "stateful-set-unspread",
        "availability",
        lambda: base(
            extra=[
                res(
                    "kubernetes:apps/v1:StatefulSet",
                    changed(stateful_set("chat-cache", replicas=3).props, "spec.template.spec.affinity", None),
                    name="chat-cache",
                ),
                pdb("chat-cache-pdb"),
            ]
        ),
        "multi-replica-spread",
    ),
    Case(
        "stateful-set-ha",
        "availability",
        lambda: base(extra=[stateful_set("chat-cache", replicas=3), pdb("chat-cache-pdb")]),
        None,
    ),
    # -- config files in a ConfigMap or an env value that set a secret ----------------------------
    Case(
        "configmap-yaml-file-password",
        "secrets-in-files",
        lambda: base(extra=[config_map({"config.yaml": "db:\n  host: db\n  password: Chat-db-Pw-2291\n"})]),
        "no-secrets-in-configmap",
    ),
    Case(
        "configmap-dotenv-line",
        "secrets-in-files",
        lambda: base(extra=[config_map({"backend.env": "OIDC_CLIENT_SECRET=q8Zt4mWc2LrV9xKe"})]),
        "no-secrets-in-configmap",
    ),
    Case(
        "configmap-json-client-secret",
        "secrets-in-files",
        lambda: base(extra=[config_map({"settings.json": '{"pais": {"client_id": "chat", "client_secret": "q8Zt4mWc2LrV9xKe"}}'})]),
        "no-secrets-in-configmap",
    ),
    Case(
        "env-json-settings-api-key",
        "secrets-in-files",
        lambda: base(workload=with_env({"name": "APP_SETTINGS", "value": '{"log": "info", "api_key": "k-8f7e6d5c4b3a"}'})),
        "no-secret-literal-env",
    ),
    Case(
        "configmap-files-referencing-secrets",
        "secrets-in-files",
        lambda: base(
            extra=[
                config_map(
                    {
                        "grafana.ini": "[security]\nadmin_user = admin\nadmin_password = $__env{GF_ADMIN_PASSWORD}\n",
                        "values.yaml": "auth:\n  existingSecret: chat-auth\n  adminPasswordKey: admin-password\n",
                        "prometheus.yml": "basic_auth:\n  username: scrape\n  password_file: /etc/prom/pw\n",
                    }
                )
            ]
        ),
        None,
    ),
    Case(
        "configmap-file-about-tokens",
        "secrets-in-files",
        lambda: base(
            extra=[config_map({"model.yaml": "tokenizer: cl100k_base\nmax_tokens: 4096\ntoken_limit: 8192\n"})]
        ),
        None,
    ),
    # -- registry allow-list unset fails closed ---------------------------------------------------
    Case(
        "no-registry-allow-list",
        "registry",
        lambda: [r for r in base() if r.type != PROJECT],
        "images-from-allowed-registry",
    ),
    # -- a tag a push could overwrite under running pods ---------------------------------------------
    Case("app-tag-not-immutable", "supply-chain", lambda: base(tags="v*"), "image-tag-immutable"),
    Case(
        "immutable-rule-for-another-repository",
        "supply-chain",
        lambda: base(repos="chat-frontend"),
        "image-tag-immutable",
    ),
    Case("project-without-immutable-rules", "supply-chain", lambda: base(tags=None), "image-tag-immutable"),
    Case("app-tag-immutable", "supply-chain", base, None),
    Case(
        "mutable-tag-pinned-by-digest",
        "supply-chain",
        lambda: base(
            workload=deployment(containers=[container(image=f"{HARBOR}/paif-chat/chat-backend:1.4.2@sha256:{'c' * 64}")]),
            tags="v*",
        ),
        None,
    ),
    Case(
        "project-without-immutable-rules-pinned-by-digest",
        "supply-chain",
        lambda: base(
            workload=deployment(containers=[container(image=f"{HARBOR}/paif-chat/chat-backend:1.4.2@sha256:{'d' * 64}")]),
            tags=None,
        ),
        None,
    ),
    # -- the baseline Pod Security Standard beyond privileged/host namespaces -----------------------
    Case(
        "unmasked-proc",
        "pod-security",
        lambda: base(workload=pod_setting("spec.containers.0.securityContext.procMount", "Unmasked")),
        "pod-security-baseline",
    ),
    Case(
        "unconfined-apparmor-annotation",
        "pod-security",
        lambda: base(
            workload=pod_setting(
                "metadata.annotations", {"container.apparmor.security.beta.kubernetes.io/backend": "unconfined"}
            )
        ),
        "pod-security-baseline",
    ),
    Case(
        "unsafe-sysctl",
        "pod-security",
        lambda: base(workload=pod_setting("spec.securityContext.sysctls", [{"name": "kernel.msgmax", "value": "1"}])),
        "pod-security-baseline",
    ),
    Case(
        "windows-host-process",
        "pod-security",
        lambda: base(workload=pod_setting("spec.securityContext.windowsOptions", {"hostProcess": True})),
        "pod-security-baseline",
    ),
    Case(
        "safe-sysctl-and-runtime-default-apparmor",
        "pod-security",
        lambda: base(
            workload=pod_setting(
                "spec.securityContext",
                {
                    "runAsNonRoot": True,
                    "seccompProfile": {"type": "RuntimeDefault"},
                    "appArmorProfile": {"type": "RuntimeDefault"},
                    "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}],
                },
            )
        ),
        None,
    ),
    Case(
        "added-sys-admin",
        "pod-security",
        lambda: base(
            workload=pod_setting("spec.containers.0.securityContext.capabilities", {"add": ["SYS_ADMIN"], "drop": ["ALL"]})
        ),
        "pod-security-baseline",
    ),
    Case(
        "seccomp-unconfined",
        "pod-security",
        lambda: base(workload=pod_setting("spec.containers.0.securityContext.seccompProfile", {"type": "Unconfined"})),
        "pod-security-baseline",
    ),
    Case(
        "added-chown-restricted-only",
        "pod-security",
        lambda: base(
            workload=pod_setting("spec.containers.0.securityContext.capabilities", {"add": ["CHOWN"], "drop": ["ALL"]})
        ),
        "pod-security-restricted",
    ),
    Case(
        "job-without-probes",
        "pod-security",
        lambda: base(extra=[batch_job()]),
        None,
    ),
    # -- RBAC ---------------------------------------------------------------------------------------
    Case(
        "role-reads-every-secret",
        "rbac",
        lambda: base(extra=[rbac_object("Role", rules=[{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}])]),
        "rbac-least-privilege",
    ),
    Case(
        "app-service-account-is-cluster-admin",
        "rbac",
        lambda: base(extra=[cluster_admin_binding("chat-backend")]),
        "rbac-least-privilege",
    ),
    Case(
        "package-installer-is-cluster-admin",
        "rbac",
        lambda: base(extra=[cluster_admin_binding("paif-package-installer")]),
        None,
    ),
    Case(
        "clusterrole-proxies-to-kubelets",
        "rbac",
        lambda: base(
            extra=[rbac_object("ClusterRole", rules=[{"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]}])]
        ),
        "rbac-least-privilege",
    ),
    Case(
        "clusterrole-writes-mutating-webhooks",
        "rbac",
        lambda: base(
            extra=[
                rbac_object(
                    "ClusterRole",
                    rules=[
                        {
                            "apiGroups": ["admissionregistration.k8s.io"],
                            "resources": ["mutatingwebhookconfigurations"],
                            "verbs": ["create", "update"],
                        }
                    ],
                )
            ]
        ),
        "rbac-least-privilege",
    ),
    Case(
        "role-mints-service-account-tokens",
        "rbac",
        lambda: base(
            extra=[rbac_object("Role", rules=[{"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]}])]
        ),
        "rbac-least-privilege",
    ),
    Case(
        "role-execs-into-pods",
        "rbac",
        lambda: base(
            extra=[rbac_object("Role", rules=[{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}])]
        ),
        "rbac-least-privilege",
    ),
    Case(
        "clusterrole-reads-volumes-and-nodes",
        "rbac",
        lambda: base(
            extra=[
                rbac_object(
                    "ClusterRole",
                    rules=[{"apiGroups": [""], "resources": ["persistentvolumes", "nodes"], "verbs": ["get", "list"]}],
                )
            ]
        ),
        None,
    ),
    # -- Ingress TLS edges -----------------------------------------------------------------------------
    Case(
        "ingress-tls-without-secret",
        "ingress-tls",
        lambda: base(extra=[ingress({"tls": [{"hosts": [APP_HOST]}], "rules": [ingress_rule()]})]),
        "ingress-tls-covers-hosts",
    ),
    Case(
        "ingress-default-backend-plain-http",
        "ingress-tls",
        lambda: base(extra=[ingress({"defaultBackend": ingress_backend()})]),
        "ingress-tls-covers-hosts",
    ),
    Case(
        "ingress-wildcard-certificate",
        "ingress-tls",
        lambda: base(
            extra=[ingress({"tls": [{"hosts": ["*.paif.example.com"], "secretName": "wildcard-tls"}], "rules": [ingress_rule()]})]
        ),
        None,
    ),
    # -- the in-cluster platform -------------------------------------------------------------------
    Case(
        "no-alert-rules",
        "platform",
        lambda: [r for r in base() if not r.type.endswith(":PrometheusRule")],
        "monitoring-required",
    ),
    Case(
        "chart-from-a-public-repository",
        "platform",
        lambda: base(
            extra=[
                _release(chart="gpu-operator", repositoryOpts={"repo": "https://helm.ngc.nvidia.com/nvidia"})
            ]
        ),
        "addon-sources-allowed",
    ),
    Case(
        "chart-version-range",
        "platform",
        lambda: base(extra=[_release(version="^25.10.0")]),
        "addon-versions-pinned",
    ),
    Case(
        "chart-from-the-mirror-pinned",
        "platform",
        lambda: base(extra=[_release()]),
        None,
    ),
    # -- endpoints the app sends its client secret to --------------------------------------------
    Case(
        "env-oidc-token-url-plain-http",
        "token-endpoints",
        lambda: base(workload=with_env({"name": "OIDC_TOKEN_URL", "value": "http://sso.paif.example.internal/token"})),
        "pais-endpoints-https",
    ),
    Case(
        "configmap-issuer-url-plain-http",
        "token-endpoints",
        lambda: base(extra=[config_map({"ISSUER_URL": "http://sso.paif.example.internal/realms/paif"})]),
        "pais-endpoints-https",
    ),
    Case(
        "env-in-cluster-backend-url-plain-http",
        "token-endpoints",
        lambda: base(workload=with_env({"name": "BACKEND_URL", "value": "http://chat-backend.paif-chat.svc:8000"})),
        None,
    ),
    # -- credentials in a chart's values (plaintext in the state's inputs) ------------------------
    Case(
        "helm-values-admin-password-literal",
        "helm-values",
        lambda: base(extra=[_release(values={"grafana": {"adminPassword": "Gr4fana-admin-77"}})]),
        "secret-outputs-marked",
    ),
    Case(
        "helm-values-token-in-a-list",
        "helm-values",
        lambda: base(extra=[_release(values={"licensing": [{"name": "nls", "apiToken": "nls-tok-0c1d2e3f"}]})]),
        "secret-outputs-marked",
    ),
    Case(
        "helm-values-pem-key-under-a-harmless-key",
        "helm-values",
        lambda: base(extra=[_release(values={"webhook": {"material": PEM_KEY.decode()}})]),
        "secret-outputs-marked",
    ),
    Case(
        "helm-values-secret-references",
        "helm-values",
        lambda: base(
            extra=[
                _release(
                    values={
                        "grafana": {
                            "admin": {"existingSecret": "grafana-admin", "userKey": "admin-user", "passwordKey": "admin-password"}
                        },
                        "tokenTtl": "24h",
                        "existingSecretKey": "token",
                    }
                )
            ]
        ),
        None,
    ),
    Case(
        "helm-values-password-as-a-pulumi-secret",
        "helm-values",
        lambda: base(extra=[_release(values={"grafana": {"adminPassword": secret("Gr4fana-admin-77")}})]),
        None,
    ),
]


def mandatory_rules(stack: Sequence[Res], config: dict[str, Any] = PROD_CONFIG) -> set[str]:
    """The rules the prod policy config makes mandatory that report something on `stack`."""
    fired = set()
    for rule in ALL_RULES:
        entry = config.get(rule.name, {})
        if entry.get("enforcementLevel") != "mandatory":
            continue
        try:
            if isinstance(rule, ResourceRule):
                found = any(rule.evaluate(r, entry) for r in stack)
            else:
                found = bool(rule.evaluate(list(stack), entry))
        except NotApplicable:
            found = False
        if found:
            fired.add(rule.name)
    return fired


def outcome(case: Case) -> tuple[bool, set[str]]:
    fired = mandatory_rules(case.stack())
    return fired == ({case.rule} if case.rule else set()), fired


def main() -> None:
    bad = [c for c in CASES if c.rule]
    good = [c for c in CASES if not c.rule]
    exact = [c for c in bad if outcome(c)[0]]
    caught = [c for c in bad if c.rule in outcome(c)[1]]
    clean = [c for c in good if outcome(c)[0]]
    print(f"bad: {len(bad)}, good: {len(good)}")
    print(f"recall (exactly the rule): {len(exact)}/{len(bad)}; caught by the rule: {len(caught)}/{len(bad)}")
    print(f"good stacks without a mandatory violation: {len(clean)}/{len(good)}")
    for c in CASES:
        ok, fired = outcome(c)
        if not ok:
            print(
                f"  MISS {c.category}/{c.name}: want {c.rule or 'nothing'}, got {sorted(fired) or 'nothing'}"
            )


if __name__ == "__main__":
    main()
