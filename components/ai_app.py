"""`AiApp`: the chat application (React/Nginx frontend + FastAPI backend) on Kubernetes.

Secure by default: restricted pod security, no service-account tokens, TLS Ingress,
default-deny NetworkPolicies with the few flows the app needs, settings split into a
ConfigMap (non-secret) and a Secret (Pulumi secrets, referenced by `secretKeyRef`, never
literal env values). Availability features (HPA, PDB, anti-affinity, monitoring) are
switched on by the caller from the environment profile.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from components.certificate import SelfSignedCertificate, SelfSignedCertificateArgs
from components.crds import monitoring
from components.crds.monitoring import Rule, RuleGroup
from components.kube_secret import kube_secret
from components.labels import selector, workload_labels
from components.password import Password
from components.pod_security import container_security_context, pod_security_context

TlsMode = Literal["self-signed", "secret", "cert-manager"]
Tier = Literal["frontend", "backend"]
DNS_PORT = 53
HTTPS_PORT = 443
PATCH_FORCE = "pulumi.com/patchForce"
SETTINGS_DIGEST = "paif.vmware.com/settings-digest"
"""Pod-template annotation of the backend: a digest of its ConfigMap and Secret (see `_settings_digest`)."""
DIGEST_PREFIX = "hmac-sha256:"


@dataclass(frozen=True)
class ResourceSpec:
    """Requests and limits of one container."""

    cpu_request: str
    memory_request: str
    memory_limit: str
    cpu_limit: str | None = None
    """CPU limit; None leaves CPU unthrottled (requests still reserve capacity)."""

    def to_spec(self) -> dict[str, Any]:
        """A container's `resources`: requests, and limits (memory, CPU when given)."""
        limits = {"memory": self.memory_limit}
        if self.cpu_limit is not None:
            limits["cpu"] = self.cpu_limit
        return {"requests": {"cpu": self.cpu_request, "memory": self.memory_request}, "limits": limits}


@dataclass(frozen=True)
class TlsSpec:
    """Where the Ingress certificate comes from."""

    mode: TlsMode = "self-signed"
    secret_name: str | None = None
    """An existing kubernetes.io/tls Secret (mode "secret")."""
    cluster_issuer: str | None = None
    """cert-manager ClusterIssuer (mode "cert-manager")."""


@dataclass(frozen=True)
class AutoscalingSpec:
    min_replicas: int
    max_replicas: int
    target_cpu_percent: int


@dataclass(frozen=True)
class Mount:
    """A pod volume and where the container mounts it."""

    name: str
    path: str
    source: Mapping[str, Any] = field(default_factory=lambda: {"emptyDir": {}})
    """The volume's source; an emptyDir by default."""
    read_only: bool = False

    def volume(self) -> dict[str, Any]:
        return {"name": self.name, **self.source}

    def mount(self) -> dict[str, Any]:
        mount: dict[str, Any] = {"name": self.name, "mountPath": self.path}
        if self.read_only:
            mount["readOnly"] = True
        return mount


TMP = Mount("tmp", "/tmp")  # noqa: S108 - an emptyDir
NGINX_MOUNTS = (TMP, Mount("nginx-cache", "/var/cache/nginx"), Mount("nginx-run", "/var/run"))
"""What the frontend's Nginx writes to (its root file system is read-only)."""


@dataclass(frozen=True, kw_only=True)
class AppContainers:
    """The app's two containers and the backend's settings: what AiApp runs on Kubernetes and
    DlvmWorkstation runs on a VM, the same way."""

    frontend_image: str
    backend_image: str
    config: Mapping[str, pulumi.Input[str]]
    """Non-secret settings for the backend (AiApp's ConfigMap, from infra.app_settings)."""
    secrets: Mapping[str, pulumi.Output[str]]
    """Secret settings for the backend (AiApp's Secret); values must be Pulumi secrets."""
    ca_bundles: Mapping[str, str] = field(default_factory=dict)
    """PEM CA bundles by file name (e.g. db.crt, pais.crt), mounted read-only into the backend
    at `ca_dir` (CA certificates are public; AiApp's ConfigMap `<name>-ca`)."""
    ca_dir: str = "/etc/paif/ca"
    """Where the backend finds `ca_bundles` (the settings name the files, e.g. DB_SSLROOTCERT)."""
    frontend_port: int = 8080
    """Frontend container port."""
    backend_port: int = 8000
    """Backend container port."""


@dataclass(frozen=True, kw_only=True)
class AiAppArgs(AppContainers):
    """Everything AiApp declares; the program fills it from the stack config and the profile."""

    name: str
    """Prefix of every object's name, e.g. "chat"."""
    namespace: str
    """Kubernetes namespace the app runs in."""
    hostname: str
    """Public host name of the Ingress."""
    frontend_resources: ResourceSpec
    backend_resources: ResourceSpec
    pais_egress_cidr: str
    """Network the PAIS endpoints live in (backend egress on 443)."""
    db_egress_cidr: str
    """Network the PostgreSQL endpoint lives in (backend egress on db_port)."""
    db_port: int = 5432
    replicas: int = 1
    create_namespace: bool = True
    """False when the namespace is managed elsewhere (a Supervisor namespace)."""
    tls: TlsSpec = field(default_factory=TlsSpec)
    autoscaling: AutoscalingSpec | None = None
    disruption_budget: bool = False
    anti_affinity: bool = False
    monitoring: bool = False
    """ServiceMonitor + PrometheusRule (P95 latency, 5xx rate) for the backend, and the
    backend's NetworkPolicy admits scrapes from `monitoring_namespace`."""
    monitoring_namespace: str = "monitoring"
    """Namespace of the Prometheus that scrapes the backend (with `monitoring`)."""
    uploads_volume_size: str | None = None
    """Size of a PVC for uploads mounted into the backend; None for none."""
    uploads_access_mode: Literal["ReadWriteOnce", "ReadWriteMany"] = "ReadWriteOnce"
    """ReadWriteOnce mounts on one node, so only with one backend replica and no HPA;
    ReadWriteMany (a class that provisions it, e.g. vSAN File Services) for several."""
    uploads_storage_class: str | None = None
    """StorageClass of the uploads PVC; None uses the cluster's default class."""
    protect_uploads: bool = False
    """Protect the uploads PVC (the files users uploaded) from deletion and replacement."""
    image_pull_dockerconfigjson: pulumi.Output[str] | None = None
    """`.dockerconfigjson` content of a registry robot (secret); None for anonymous pulls."""
    ingress_class: str | None = None
    """spec.ingressClassName of the Ingress; None leaves it to the cluster's default class."""
    ingress_controller_namespace: str | None = None
    """Namespace of the ingress controller allowed to reach the frontend; None allows any namespace."""


def _namespace(name: str) -> dict[str, Any]:
    """A NetworkPolicy namespaceSelector for one namespace (the label the API server sets on every namespace)."""
    return {"matchLabels": {"kubernetes.io/metadata.name": name}}


def _secret(value: pulumi.Input[str]) -> pulumi.Output[str]:
    """Marks a value secret even if a caller forgot to."""
    return pulumi.Output.secret(value)


class AiApp(pulumi.ComponentResource):
    """Frontend + backend Deployments, Services, TLS Ingress, settings, NetworkPolicies and,
    when asked, HPA, PDB, anti-affinity, uploads PVC and monitoring."""

    url: pulumi.Output[str]
    namespace: pulumi.Output[str]
    deployments: dict[Tier, k8s.apps.v1.Deployment]

    def __init__(self, name: str, args: AiAppArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        if args.uploads_volume_size and args.uploads_access_mode == "ReadWriteOnce":
            writers = args.autoscaling.max_replicas if args.autoscaling else args.replicas
            if writers > 1:
                raise ValueError(
                    f"AiApp {name}: a ReadWriteOnce uploads volume mounts on one node, but the backend runs up to "
                    f"{writers} replicas: use ReadWriteMany (with a class that provisions it) or one replica"
                )
        super().__init__("paif:app:AiApp", name, None, opts)
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        a = args

        self.namespace = self._declare_namespace(name)
        config_map, app_secret, self._pull_secrets = self._config_and_secrets(name)
        uploads_claim = self._uploads_claim(name)
        backend_depends_on, backend_mounts = self._backend_files(
            name, [config_map, app_secret], uploads_claim is not None
        )
        secret_env = [
            {"name": key, "valueFrom": {"secretKeyRef": {"name": f"{a.name}-secrets", "key": key}}}
            for key in sorted(a.secrets)
        ]
        backend_url = {"configMapKeyRef": {"name": f"{a.name}-config", "key": "BACKEND_URL"}}
        self.deployments = {
            "backend": self._deployment(
                name,
                "backend",
                env_from=[{"configMapRef": {"name": f"{a.name}-config"}}],
                env=secret_env,
                mounts=backend_mounts,
                readiness="/readyz",
                depends_on=backend_depends_on,
                template_annotations={SETTINGS_DIGEST: self._settings_digest(name)},
            ),
            "frontend": self._deployment(
                name,
                "frontend",
                env=[{"name": "BACKEND_URL", "valueFrom": backend_url}],
                mounts=NGINX_MOUNTS,
                depends_on=[config_map],
            ),
        }
        self._services(name)
        self._ingress(name)
        self._network_policies(name)
        self._availability(name)
        if a.monitoring:
            self._monitoring(name)

        scheme_host = f"https://{a.hostname}"
        self.url = pulumi.Output.from_input(scheme_host)
        self.register_outputs(
            {
                "url": self.url,
                "namespace": self.namespace,
                "frontendDeployment": self.deployments["frontend"].metadata.apply(lambda m: m["name"]),
                "backendDeployment": self.deployments["backend"].metadata.apply(lambda m: m["name"]),
            }
        )

    # -- parts of the app, in the order __init__ declares them ------------------------------
    def _declare_namespace(self, name: str) -> pulumi.Output[str]:
        """The namespace, created (with the pod security labels) when asked; later objects wait for it."""
        a = self._args
        if not a.create_namespace:
            return pulumi.Output.from_input(a.namespace)
        ns = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata={"name": a.namespace, "labels": self._pss_labels()},
            opts=self._child,
        )
        self._child = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        return ns.metadata.apply(lambda m: m["name"])

    def _config_and_secrets(
        self, name: str
    ) -> tuple[k8s.core.v1.ConfigMap, k8s.core.v1.Secret, list[dict[str, str]]]:
        """The settings ConfigMap, the app Secret and the image pull secret (when a robot is given)."""
        a = self._args
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=self._meta(f"{a.name}-config", "backend"),
            data={
                **a.config,
                "BACKEND_URL": f"http://{a.name}-backend.{a.namespace}.svc:{a.backend_port}",
            },
            opts=self._child,
        )
        app_secret = kube_secret(
            f"{name}-secrets",
            metadata=self._meta(f"{a.name}-secrets", "backend"),
            string_data={k: _secret(v) for k, v in a.secrets.items()},
            opts=self._child,
        )
        pull_secrets: list[dict[str, str]] = []
        if a.image_pull_dockerconfigjson is not None:
            kube_secret(
                f"{name}-registry",
                metadata=self._meta(f"{a.name}-registry", "backend"),
                kind="kubernetes.io/dockerconfigjson",
                string_data={".dockerconfigjson": _secret(a.image_pull_dockerconfigjson)},
                opts=self._child,
            )
            pull_secrets = [{"name": f"{a.name}-registry"}]

        return config_map, app_secret, pull_secrets

    def _uploads_claim(self, name: str) -> k8s.core.v1.PersistentVolumeClaim | None:
        """The uploads volume, when asked (protected unless released)."""
        a = self._args
        if not a.uploads_volume_size:
            return None
        claim_spec: dict[str, Any] = {
            "accessModes": [a.uploads_access_mode],
            "resources": {"requests": {"storage": a.uploads_volume_size}},
        }
        if a.uploads_storage_class:
            claim_spec["storageClassName"] = a.uploads_storage_class
        uploads_claim = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-uploads",
            metadata=self._meta(f"{a.name}-uploads", "backend"),
            spec=claim_spec,
            opts=pulumi.ResourceOptions.merge(self._child, pulumi.ResourceOptions(protect=a.protect_uploads)),
        )
        return uploads_claim

    def _backend_files(
        self, name: str, depends_on: list[pulumi.Resource], uploads: bool
    ) -> tuple[list[pulumi.Resource], list[Mount]]:
        """What the backend Deployment waits for and what it mounts (tmp, CA bundles, uploads)."""
        a = self._args
        backend_depends_on: list[pulumi.Resource] = list(depends_on)
        mounts = [TMP]
        if a.ca_bundles:
            backend_depends_on.append(
                k8s.core.v1.ConfigMap(
                    f"{name}-ca",
                    metadata=self._meta(f"{a.name}-ca", "backend"),
                    data=dict(a.ca_bundles),
                    opts=self._child,
                )
            )
            mounts.append(Mount("ca", a.ca_dir, {"configMap": {"name": f"{a.name}-ca"}}, read_only=True))
        if uploads:
            claim = {"persistentVolumeClaim": {"claimName": f"{a.name}-uploads"}}
            mounts.append(Mount("uploads", "/data/uploads", claim))
        return backend_depends_on, mounts

    def _services(self, name: str) -> None:
        a = self._args
        for tier in ("backend", "frontend"):
            _, port, _ = self._container(tier)
            k8s.core.v1.Service(
                f"{name}-{tier}",
                metadata=self._meta(f"{a.name}-{tier}", tier),
                spec={
                    "type": "ClusterIP",
                    "selector": self._selector(tier),
                    "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}],
                },
                opts=self._child,
            )

    def _ingress(self, name: str) -> None:
        """The TLS Ingress in front of the frontend."""
        a = self._args
        tls_secret = self._tls_secret(name)
        ingress_annotations: dict[str, str] = {}
        if a.tls.mode == "cert-manager" and a.tls.cluster_issuer:
            ingress_annotations["cert-manager.io/cluster-issuer"] = a.tls.cluster_issuer
        ingress_spec: dict[str, Any] = {
            "tls": [{"hosts": [a.hostname], "secretName": tls_secret}],
            "rules": [
                {
                    "host": a.hostname,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {
                                    "service": {"name": f"{a.name}-frontend", "port": {"name": "http"}}
                                },
                            }
                        ]
                    },
                }
            ],
        }
        if a.ingress_class:
            ingress_spec["ingressClassName"] = a.ingress_class
        k8s.networking.v1.Ingress(
            f"{name}-ingress",
            metadata=self._meta(f"{a.name}", "frontend", extra_annotations=ingress_annotations),
            spec=ingress_spec,
            opts=self._child,
        )

    def _availability(self, name: str) -> None:
        """PodDisruptionBudgets and HorizontalPodAutoscalers where the profile asks for them."""
        a = self._args
        if a.disruption_budget:
            for tier in ("frontend", "backend"):
                k8s.policy.v1.PodDisruptionBudget(
                    f"{name}-{tier}-pdb",
                    metadata=self._meta(f"{a.name}-{tier}", tier),
                    spec={"maxUnavailable": 1, "selector": {"matchLabels": self._selector(tier)}},
                    opts=self._child,
                )
        if a.autoscaling is not None:
            for tier in ("frontend", "backend"):
                k8s.autoscaling.v2.HorizontalPodAutoscaler(
                    f"{name}-{tier}-hpa",
                    metadata=self._meta(f"{a.name}-{tier}", tier),
                    spec={
                        "scaleTargetRef": {
                            "apiVersion": "apps/v1",
                            "kind": "Deployment",
                            "name": f"{a.name}-{tier}",
                        },
                        "minReplicas": a.autoscaling.min_replicas,
                        "maxReplicas": a.autoscaling.max_replicas,
                        "metrics": [
                            {
                                "type": "Resource",
                                "resource": {
                                    "name": "cpu",
                                    "target": {
                                        "type": "Utilization",
                                        "averageUtilization": a.autoscaling.target_cpu_percent,
                                    },
                                },
                            }
                        ],
                    },
                    opts=self._child,
                )

    # -- helpers -------------------------------------------------------------------------
    @staticmethod
    def _pss_labels() -> dict[str, str]:
        return {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/audit": "restricted",
            "pod-security.kubernetes.io/warn": "restricted",
        }

    def _selector(self, tier: str) -> dict[str, str]:
        return selector(self._args.name, tier)

    def _meta(
        self,
        name: str,
        tier: str,
        extra_annotations: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        annotations = dict(extra_annotations or {})
        meta: dict[str, Any] = {
            "name": name,
            "namespace": self._args.namespace,
            "labels": workload_labels(self._args.name, tier),
        }
        if annotations:
            meta["annotations"] = annotations
        return meta

    def _settings_digest(self, name: str) -> pulumi.Output[str]:
        """A digest of the backend's settings (its ConfigMap data and Secret values): in the pod
        template, a changed setting rolls the pods, which read them only at start (a database
        back on another port, a rotated password). HMAC-SHA256 under a generated key that lives
        only as a secret in state, so the digest reveals nothing about the secrets and is not
        one itself (a secret in the pod template would hide the whole spec)."""
        a = self._args
        key = Password(f"{name}-settings-digest-key", length=64, opts=self._child).result
        settings = pulumi.Output.all(
            key, pulumi.Output.from_input(dict(a.config)), pulumi.Output.from_input(dict(a.secrets))
        ).apply(
            lambda v: DIGEST_PREFIX
            + hmac.new(
                str(v[0]).encode(), json.dumps([v[1], v[2]], sort_keys=True).encode(), hashlib.sha256
            ).hexdigest()
        )
        return pulumi.Output.unsecret(settings)

    def _container(self, tier: Tier) -> tuple[str, int, ResourceSpec]:
        """A tier's image, container port and resources."""
        a = self._args
        if tier == "backend":
            return a.backend_image, a.backend_port, a.backend_resources
        return a.frontend_image, a.frontend_port, a.frontend_resources

    def _deployment(
        self,
        name: str,
        tier: Tier,
        *,
        env: list[dict[str, Any]],
        mounts: Sequence[Mount],
        env_from: Sequence[Mapping[str, Any]] = (),
        readiness: str = "/healthz",
        depends_on: Sequence[pulumi.Resource] = (),
        template_annotations: Mapping[str, pulumi.Input[str]] | None = None,
    ) -> k8s.apps.v1.Deployment:
        """A tier's ServiceAccount and Deployment: liveness on /healthz, readiness on `readiness`."""
        a = self._args
        image, port, resources = self._container(tier)
        service_account = k8s.core.v1.ServiceAccount(
            f"{name}-{tier}-sa",
            metadata=self._meta(f"{a.name}-{tier}", tier),
            automount_service_account_token=False,
            opts=self._child,
        )
        pod_spec: dict[str, Any] = {
            "serviceAccountName": f"{a.name}-{tier}",
            "automountServiceAccountToken": False,
            "securityContext": pod_security_context(),
            "containers": [
                {
                    "name": tier,
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
                    "envFrom": list(env_from),
                    "env": env,
                    "resources": resources.to_spec(),
                    "livenessProbe": {
                        "httpGet": {"path": "/healthz", "port": "http"},
                        "initialDelaySeconds": 10,
                        "periodSeconds": 10,
                        "failureThreshold": 3,
                    },
                    "readinessProbe": {
                        "httpGet": {"path": readiness, "port": "http"},
                        "periodSeconds": 5,
                        "failureThreshold": 3,
                    },
                    "securityContext": container_security_context(),
                    "volumeMounts": [m.mount() for m in mounts],
                }
            ],
            "volumes": [m.volume() for m in mounts],
        }
        if self._pull_secrets:
            pod_spec["imagePullSecrets"] = self._pull_secrets
        if a.anti_affinity:
            pod_spec["affinity"] = {
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 100,
                            "podAffinityTerm": {
                                "labelSelector": {"matchLabels": self._selector(tier)},
                                "topologyKey": "kubernetes.io/hostname",
                            },
                        }
                    ]
                }
            }
            pod_spec["topologySpreadConstraints"] = [
                {
                    "maxSkew": 1,
                    "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": self._selector(tier)},
                }
            ]
        spec: dict[str, Any] = {
            "revisionHistoryLimit": 5,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "selector": {"matchLabels": self._selector(tier)},
            "template": {"metadata": {"labels": self._selector(tier)}, "spec": pod_spec},
        }
        if template_annotations:
            spec["template"]["metadata"]["annotations"] = dict(template_annotations)
        # One owner for spec.replicas. The provider applies server-side: the fields we send
        # are owned by Pulumi's field manager, and sending a value another manager owns
        # (the HPA controller's or `kubectl scale`'s writes through the scale subresource)
        # fails the update with a conflict.
        # - With an HPA we never send replicas: the HPA owns the field, an out-of-band scale
        #   is just another writer, no apply conflicts. (A new Deployment starts at the API
        #   default of 1 until the HPA raises it to minReplicas, seconds later.)
        # - Without one the declared count is the truth: `pulumi.com/patchForce` makes the
        #   provider apply with force=true, so after a `kubectl scale` the next update takes
        #   spec.replicas back instead of failing. Per resource, not the provider-wide
        #   PULUMI_K8S_ENABLE_PATCH_FORCE (every object) or enableServerSideApply=false
        #   (client-side apply: no field ownership at all).
        extra_annotations: dict[str, str] = {}
        if a.autoscaling is None:
            spec["replicas"] = a.replicas
            extra_annotations[PATCH_FORCE] = "true"
        return k8s.apps.v1.Deployment(
            f"{name}-{tier}",
            metadata=self._meta(f"{a.name}-{tier}", tier, extra_annotations=extra_annotations),
            spec=spec,
            opts=pulumi.ResourceOptions.merge(
                self._child, pulumi.ResourceOptions(depends_on=[service_account, *depends_on])
            ),
        )

    def _tls_secret(self, name: str) -> str:
        """The name of the Secret the Ingress serves; creates it for self-signed TLS."""
        a = self._args
        secret_name = f"{a.name}-tls"
        if a.tls.mode == "secret":
            assert a.tls.secret_name is not None
            return a.tls.secret_name
        if a.tls.mode == "cert-manager":
            return secret_name  # cert-manager's ingress-shim writes it
        cert = SelfSignedCertificate(
            f"{name}-tls-cert", SelfSignedCertificateArgs(hostnames=[a.hostname]), self._child
        )
        kube_secret(
            f"{name}-tls",
            metadata=self._meta(secret_name, "frontend"),
            kind="kubernetes.io/tls",
            string_data={"tls.crt": cert.cert_pem, "tls.key": cert.key_pem},
            opts=self._child,
        )
        return secret_name

    def _network_policies(self, name: str) -> None:
        a = self._args
        dns_egress = {
            "to": [
                {
                    "namespaceSelector": _namespace("kube-system"),
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                }
            ],
            "ports": [{"protocol": "UDP", "port": DNS_PORT}, {"protocol": "TCP", "port": DNS_PORT}],
        }
        backend_ingress: list[dict[str, Any]] = [
            {
                "from": [{"podSelector": {"matchLabels": self._selector("frontend")}}],
                "ports": [{"protocol": "TCP", "port": a.backend_port}],
            }
        ]
        if a.monitoring:
            backend_ingress.append(
                {
                    "from": [{"namespaceSelector": _namespace(a.monitoring_namespace)}],
                    "ports": [{"protocol": "TCP", "port": a.backend_port}],
                }
            )
        ingress_source: dict[str, Any] = {"namespaceSelector": {}}
        if a.ingress_controller_namespace:
            ingress_source = {"namespaceSelector": _namespace(a.ingress_controller_namespace)}
        policies: dict[str, dict[str, Any]] = {
            "default-deny": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
            "frontend": {
                "podSelector": {"matchLabels": self._selector("frontend")},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [
                    {"from": [ingress_source], "ports": [{"protocol": "TCP", "port": a.frontend_port}]}
                ],
                "egress": [
                    {
                        "to": [{"podSelector": {"matchLabels": self._selector("backend")}}],
                        "ports": [{"protocol": "TCP", "port": a.backend_port}],
                    },
                    dns_egress,
                ],
            },
            "backend": {
                "podSelector": {"matchLabels": self._selector("backend")},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": backend_ingress,
                "egress": [
                    {
                        "to": [{"ipBlock": {"cidr": a.pais_egress_cidr}}],
                        "ports": [{"protocol": "TCP", "port": HTTPS_PORT}],
                    },
                    {
                        "to": [{"ipBlock": {"cidr": a.db_egress_cidr}}],
                        "ports": [{"protocol": "TCP", "port": a.db_port}],
                    },
                    dns_egress,
                ],
            },
        }
        for policy, spec in policies.items():
            k8s.networking.v1.NetworkPolicy(
                f"{name}-netpol-{policy}",
                metadata=self._meta(f"{a.name}-{policy}", "backend" if policy == "backend" else "frontend"),
                spec=spec,
                opts=self._child,
            )

    def _monitoring(self, name: str) -> None:
        """The backend's ServiceMonitor and its alerts (P95 latency, 5xx ratio)."""
        a = self._args
        job = f'job="{a.name}-backend"'
        alerts = RuleGroup(
            name=f"{a.name}-backend",
            rules=[
                Rule(
                    alert="ChatBackendHighP95Latency",
                    expr=(
                        "histogram_quantile(0.95, sum by (le) "
                        f"(rate(http_request_duration_seconds_bucket{{{job}}}[5m]))) > 2"
                    ),
                    for_="10m",
                    labels={"severity": "warning"},
                    annotations={"summary": "P95 latency of the chat backend is above 2 s"},
                ),
                Rule(
                    alert="ChatBackendHigh5xxRate",
                    expr=(
                        f'sum(rate(http_requests_total{{{job},status=~"5.."}}[5m])) / '
                        f"sum(rate(http_requests_total{{{job}}}[5m])) > 0.05"
                    ),
                    for_="5m",
                    labels={"severity": "critical"},
                    annotations={"summary": "More than 5% of chat backend responses are 5xx"},
                ),
            ],
        )
        scrape = {
            "selector": {"matchLabels": self._selector("backend")},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
        }
        for resource, kind, spec in (
            ("servicemonitor", monitoring.SERVICE_MONITOR, scrape),
            ("alerts", monitoring.PROMETHEUS_RULE, monitoring.prometheus_rule_spec([alerts])),
        ):
            k8s.apiextensions.CustomResource(
                f"{name}-{resource}",
                api_version=monitoring.API_VERSION,
                kind=kind,
                metadata=self._meta(f"{a.name}-backend", "backend"),
                spec=spec,
                opts=self._child,
            )
