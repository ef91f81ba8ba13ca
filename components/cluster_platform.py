"""`ClusterPlatform`: what the app's objects need in a VKS workload cluster, installed in
dependency order from the Harbor mirror (air-gapped sites are the norm).

    PackageRepository (VKS standard packages, imgpkg bundle mirrored to Harbor)
     ├─ cert-manager (VKS package) ── CA Secret ── ClusterIssuer (corporate CA)
     │   └─ Contour + Envoy LoadBalancer (VKS package) ── IngressClass
     └─ Fluent Bit (VKS package): app logs + API-server audit log -> sink, retention per stream
    kube-prometheus-stack (Helm chart, Harbor OCI): Prometheus Operator + CRDs, Prometheus,
     │   Alertmanager, Grafana with the dashboard sidecar, kube-state-metrics, node-exporter
     ├─ PrometheusRule (app + GPU rules) and dashboard ConfigMaps (components/platform_monitoring.py)
     └─ NVIDIA GPU Operator (Helm chart, Harbor OCI): vGPU driver from Harbor, licensing
        Secret from a Pulumi secret, DCGM exporter + its ServiceMonitor

Why kube-prometheus-stack and not the VKS `prometheus` package: the package installs a plain
Prometheus without the Operator by default (no ServiceMonitor/PrometheusRule CRDs; the
operator switch is a values flag whose Prometheus CR and selectors are UNCONFIRMED), Broadcom's
own VKS examples call that route deprecated, and no VKS Grafana package exists. One chart
brings the Operator, its CRDs, Prometheus, Alertmanager and Grafana with a dashboard sidecar,
at one pinned version, from the same Harbor.

`ready` lists what the app's objects depend on (the issuer for its Certificate, Contour for its
Ingress, the Operator's CRDs for its ServiceMonitor/PrometheusRule): the program passes it as
the app's `depends_on`, so the first `up` on an empty cluster succeeds in one run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.crds import carvel, cert_manager, cluster, monitoring
from components.crds.custom_resource import await_annotations
from components.kube_secret import kube_secret
from components.labels import PAIF_LABELS
from components.password import Password
from components.platform_monitoring import (
    DASHBOARD_LABEL,
    app_dashboard,
    app_rule_groups,
    dashboard_configmap_data,
    gpu_dashboard,
    gpu_rule_groups,
)
from components.vks_package import VksPackage, VksPackageArgs

CONTOUR_CONTROLLER = "projectcontour.io/ingress-controller"
CONTOUR_NAMESPACE = "tanzu-system-ingress"
LOGGING_NAMESPACE = "tanzu-system-logging"
GPU_OPERATOR_NAMESPACE = "gpu-operator"
INSTALLER_SA = "paif-package-installer"
KPS_RELEASE = "kube-prometheus-stack"
GRAFANA_TLS_SECRET = "grafana-tls"  # noqa: S105 - a Secret name
GRAFANA_ADMIN_SECRET = "grafana-admin"  # noqa: S105 - a Secret name
TOKEN_FILE = "client_configuration_token.tok"  # noqa: S105 - a file name
"""The NVIDIA licence token's file name: the driver reads exactly this name."""
Taint = cluster.Taint
"""A taint of the GPU pool (`GpuOperatorSpec.pool_taints`)."""


@dataclass(frozen=True)
class CertManagerSpec:
    package_version: str
    issuer_name: str
    ca_secret_name: str
    ca_certificate: str | None = None
    """PEM of the CA; with `ca_key` the program creates the CA Secret."""
    ca_key: pulumi.Output[str] | None = None
    """The CA's private key (a Pulumi secret); None: the Secret exists already."""


@dataclass(frozen=True)
class ContourSpec:
    package_version: str
    ingress_class_name: str = "contour"
    load_balancer_ip: str | None = None
    envoy_replicas: int = 2


@dataclass(frozen=True, kw_only=True)
class ChartSpec:
    """A Helm chart from the Harbor mirror at a pinned version; its images come from the mirror too."""

    chart: str
    """oci://<harbor>/<project>/<chart>."""
    chart_version: str
    image_registry: str
    """Harbor mirror host/path the chart's images are pulled from."""


@dataclass(frozen=True, kw_only=True)
class MonitoringSpec(ChartSpec):
    """kube-prometheus-stack (its images from `image_registry`: global.imageRegistry)."""

    namespace: str
    retention: str = "15d"
    storage_size: str = "100Gi"
    storage_class: str | None = None
    grafana_hostname: str | None = None


@dataclass(frozen=True)
class LogSinkSpec:
    type: str
    host: str
    port: int
    tls: bool
    uri: str = "/api/v2/events"


@dataclass(frozen=True)
class LoggingSpec:
    package_version: str
    sink: LogSinkSpec
    app_retention_days: int
    audit_retention_days: int


@dataclass(frozen=True, kw_only=True)
class GpuOperatorSpec(ChartSpec):
    """NVIDIA's GPU Operator (its images from `image_registry`: nvcr.io/nvidia/... -> <mirror>/nvidia/...)."""

    driver_repository: str
    driver_image: str
    driver_version: str
    licensing_config_name: str
    gridd_conf: str
    license_token: pulumi.Output[str] | None
    """client_configuration_token.tok (a Pulumi secret); None: no licensing Secret (up refuses)."""
    pool_taints: tuple[Taint, ...]
    """The GPU pool's taints: the operator's daemonsets tolerate exactly these."""
    pool_labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AutoscalerSpec:
    """The VKS cluster-autoscaler package for this cluster's autoscaled pools.

    UNCONFIRMED (docs/REFERENCE-VKS-PLATFORM.md section 6): the package's values names
    (`clusterConfig.clusterName` / `clusterNamespace`, as the TKG package documents them)."""

    package_version: str
    cluster_name: str
    """The Cluster API Cluster whose machineDeployments carry the min/max annotations."""
    cluster_namespace: pulumi.Input[str]
    """Its Supervisor namespace."""


@dataclass(frozen=True)
class ClusterPlatformArgs:
    package_repository_image: str
    """<harbor>/<project>/vks-standard-packages:<tag>."""
    package_namespace: str
    cert_manager: CertManagerSpec
    contour: ContourSpec
    monitoring: MonitoringSpec
    app_namespace: str
    """Namespace of the app (its rules and dashboard select it)."""
    app_job: str
    """Prometheus job of the backend (its Service name)."""
    logging: LoggingSpec | None = None
    gpu_operator: GpuOperatorSpec | None = None
    autoscaler: AutoscalerSpec | None = None


def _meta(name: str, namespace: str | None = None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(PAIF_LABELS)}
    if namespace:
        meta["namespace"] = namespace
    for key, value in extra.items():
        meta[key] = value
    return meta


def _privileged_namespace_labels() -> dict[str, str]:
    """node-exporter and the GPU Operator's driver daemonsets need host access (VKS enforces restricted)."""
    return {**PAIF_LABELS, "pod-security.kubernetes.io/enforce": "privileged"}


def fluent_bit_outputs(spec: LoggingSpec) -> str:
    """Fluent Bit classic-config [FILTER]/[OUTPUT] sections: app container logs (tag kube.*) and
    API-server audit events (tag apiserver_audit.*, the VKS package's default input) to the sink,
    each stamped with its retention.

    The record_modifier [FILTER]s travel in the `outputs` value on purpose: setting the
    package's `filters` value would replace its default filters (the kubernetes metadata
    filter among them); classic config applies a filter by its Match wherever it stands."""
    sink = spec.sink
    common = [f"    Host {sink.host}", f"    Port {sink.port}"]
    if sink.tls:
        common += ["    tls On", "    tls.verify On"]
    if sink.type == "http":
        common += [f"    URI {sink.uri}", "    Format json"]
    elif sink.type == "syslog":
        common += ["    Mode tcp", "    Syslog_Format rfc5424", "    Syslog_Message_Key log"]
    sections = []
    for tag, days, stream in (
        ("kube.*", spec.app_retention_days, "app"),
        ("apiserver_audit.*", spec.audit_retention_days, "audit"),
    ):
        sections.append(
            "\n".join(
                [
                    "[FILTER]",
                    "    Name record_modifier",
                    f"    Match {tag}",
                    f"    Record log_stream {stream}",
                    f"    Record retention_days {days}",
                ]
            )
        )
        sections.append("\n".join(["[OUTPUT]", f"    Name {sink.type}", f"    Match {tag}", *common]))
    return "\n\n".join(sections) + "\n"


class ClusterPlatform(pulumi.ComponentResource):
    """The add-ons, their ordering and the monitoring content; `ready` gates the app."""

    ready: list[pulumi.Resource]

    def __init__(
        self, name: str, args: ClusterPlatformArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("paif:platform:ClusterPlatform", name, None, opts)
        self._name = name
        self._child = pulumi.ResourceOptions(parent=self)
        a = args

        packages_ns = k8s.core.v1.Namespace(
            f"{name}-packages-ns", metadata=_meta(a.package_namespace), opts=self._child
        )
        installer = self._installer(packages_ns, a.package_namespace)
        repository = k8s.apiextensions.CustomResource(
            f"{name}-package-repository",
            api_version=carvel.API_VERSION,
            kind=carvel.PACKAGE_REPOSITORY,
            metadata=_meta(
                "vks-standard-packages",
                a.package_namespace,
                annotations=await_annotations([carvel.RECONCILED], 600),
            ),
            spec=carvel.package_repository_spec(a.package_repository_image),
            opts=self._opts(packages_ns),
        )
        package_deps: list[pulumi.Resource] = [repository, *installer]

        self._package_namespace = a.package_namespace
        cm = self._package(
            "cert-manager",
            a.cert_manager.package_version,
            {"namespace": cert_manager.CLUSTER_RESOURCE_NAMESPACE},
            package_deps,
        )
        issuer = self._issuer(a.cert_manager, cm.install)

        contour = self._package(
            "contour", a.contour.package_version, self._contour_values(a.contour), [*package_deps, cm.install]
        )
        # Contour serves class `contour` with or without this object; whether the VKS package
        # creates it is UNCONFIRMED, so we declare it (patchForce takes it over if it exists).
        ingress_class = k8s.networking.v1.IngressClass(
            f"{name}-ingress-class",
            metadata=_meta(a.contour.ingress_class_name, annotations={"pulumi.com/patchForce": "true"}),
            spec={"controller": CONTOUR_CONTROLLER},
            opts=self._opts(contour.install),
        )

        kps = self._monitoring(a, issuer, contour.install)
        content = self._monitoring_content(a, kps)

        if a.logging is not None:
            outputs = fluent_bit_outputs(a.logging)
            values = {"namespace": LOGGING_NAMESPACE, "fluent_bit": {"config": {"outputs": outputs}}}
            self._package("fluent-bit", a.logging.package_version, values, package_deps)
        if a.autoscaler is not None:
            values = {
                "clusterConfig": {
                    "clusterName": a.autoscaler.cluster_name,
                    "clusterNamespace": a.autoscaler.cluster_namespace,
                }
            }
            self._package("cluster-autoscaler", a.autoscaler.package_version, values, package_deps)
        self.gpu_ready: list[pulumi.Resource] = []
        """What a GPU workload waits for (the GPU Operator: driver, device plugin)."""
        if a.gpu_operator is not None:
            self.gpu_ready = [self._gpu_operator(a.gpu_operator, kps)]

        self.ready = [issuer, contour.install, ingress_class, kps, *content]
        self.register_outputs({})

    # -- pieces ---------------------------------------------------------------------------
    def _package(
        self, package: str, version: str, values: Mapping[str, Any], depends_on: Sequence[pulumi.Resource]
    ) -> VksPackage:
        """VKS package `<package>.kubernetes.vmware.com` at exactly `version`."""
        return VksPackage(
            f"{self._name}-{package}",
            VksPackageArgs(
                ref_name=f"{package}.kubernetes.vmware.com",
                version=version,
                namespace=self._package_namespace,
                service_account=INSTALLER_SA,
                values=values,
            ),
            depends_on=depends_on,
            opts=self._child,
        )

    def _release(  # noqa: PLR0917 - one call per chart, each argument differs
        self,
        resource: str,
        release: str,
        chart: ChartSpec,
        namespace: str,
        values: Mapping[str, Any],
        timeout: int,
        depends_on: Sequence[pulumi.Resource],
    ) -> k8s.helm.v3.Release:
        """Helm release `release` of `chart`: atomic (a failed install or upgrade rolls back),
        waited for up to `timeout` seconds."""
        return k8s.helm.v3.Release(
            f"{self._name}-{resource}",
            name=release,
            chart=chart.chart,
            version=chart.chart_version,
            namespace=namespace,
            values=values,
            atomic=True,
            timeout=timeout,
            opts=self._opts(*depends_on),
        )

    def _opts(self, *depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))

    def _installer(self, namespace: k8s.core.v1.Namespace, ns: str) -> list[pulumi.Resource]:
        """The service account kapp-controller installs packages as; packages create CRDs and
        cluster-scoped objects, so it is bound to cluster-admin, as `vcf package install` does."""
        sa = k8s.core.v1.ServiceAccount(
            f"{self._name}-installer-sa", metadata=_meta(INSTALLER_SA, ns), opts=self._opts(namespace)
        )
        binding = k8s.rbac.v1.ClusterRoleBinding(
            f"{self._name}-installer-binding",
            metadata=_meta(f"{INSTALLER_SA}-{ns}"),
            role_ref={
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            subjects=[{"kind": "ServiceAccount", "name": INSTALLER_SA, "namespace": ns}],
            opts=self._opts(sa),
        )
        return [sa, binding]

    def _issuer(self, spec: CertManagerSpec, cert_manager_install: pulumi.Resource) -> pulumi.Resource:
        deps: list[pulumi.Resource] = [cert_manager_install]
        if spec.ca_key is not None:
            if not spec.ca_certificate:
                raise ValueError("cert-manager: a CA key needs its certificate (caCertificate)")
            deps.append(
                kube_secret(
                    f"{self._name}-corp-ca",
                    metadata=_meta(spec.ca_secret_name, cert_manager.CLUSTER_RESOURCE_NAMESPACE),
                    kind="kubernetes.io/tls",
                    string_data={
                        "tls.crt": pulumi.Output.secret(spec.ca_certificate),
                        "tls.key": spec.ca_key,  # a Pulumi secret from the config
                    },
                    opts=self._opts(cert_manager_install),
                )
            )
        return k8s.apiextensions.CustomResource(
            f"{self._name}-cluster-issuer",
            api_version=cert_manager.API_VERSION,
            kind=cert_manager.CLUSTER_ISSUER,
            metadata=_meta(spec.issuer_name, annotations=await_annotations(["condition=Ready"], 300)),
            spec=cert_manager.ca_cluster_issuer_spec(spec.ca_secret_name),
            opts=self._opts(*deps),
        )

    @staticmethod
    def _contour_values(spec: ContourSpec) -> dict[str, Any]:
        # externalTrafficPolicy stays the package default (Cluster on vsphere): Local would need
        # the NSX/AVI health checks to follow Envoy's nodes, which nothing here can verify.
        service: dict[str, Any] = {"type": "LoadBalancer"}
        if spec.load_balancer_ip:
            service["loadBalancerIP"] = spec.load_balancer_ip
        return {
            "namespace": CONTOUR_NAMESPACE,
            "infrastructure_provider": "vsphere",
            "contour": {"replicas": 2},
            "envoy": {
                "service": service,
                "workload": {"type": "Deployment", "replicas": spec.envoy_replicas},
                "hostPorts": {"enable": False},
            },
        }

    def _monitoring(
        self, a: ClusterPlatformArgs, issuer: pulumi.Resource, contour: pulumi.Resource
    ) -> k8s.helm.v3.Release:
        m = a.monitoring
        namespace = k8s.core.v1.Namespace(
            f"{self._name}-monitoring-ns",
            metadata={"name": m.namespace, "labels": _privileged_namespace_labels()},
            opts=self._child,
        )
        storage: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": m.storage_size}},
        }
        if m.storage_class:
            storage["storageClassName"] = m.storage_class
        # Never the chart's default admin password (a published one): a generated one, kept
        # only as a Pulumi secret and in a Secret the chart reads.
        admin_password = Password(f"{self._name}-grafana-admin-password", opts=self._child).result
        admin = kube_secret(
            f"{self._name}-grafana-admin",
            metadata=_meta(GRAFANA_ADMIN_SECRET, m.namespace),
            string_data={"admin-user": pulumi.Output.secret("admin"), "admin-password": admin_password},
            opts=self._opts(namespace),
        )
        grafana: dict[str, Any] = {
            "admin": {
                "existingSecret": GRAFANA_ADMIN_SECRET,
                "userKey": "admin-user",
                "passwordKey": "admin-password",
            },
            "sidecar": {
                "dashboards": {
                    "enabled": True,
                    "label": DASHBOARD_LABEL,
                    "labelValue": "1",
                    "searchNamespace": "ALL",
                },
            },
            "persistence": {
                "enabled": True,
                "size": "10Gi",
                **({"storageClassName": m.storage_class} if m.storage_class else {}),
            },
        }
        deps: list[pulumi.Resource] = [namespace, admin]
        if m.grafana_hostname:
            # An explicit Certificate (not the ingress-shim annotation): it exists, and is
            # awaited Ready, before the chart's Ingress serves it.
            certificate = k8s.apiextensions.CustomResource(
                f"{self._name}-grafana-certificate",
                api_version=cert_manager.API_VERSION,
                kind=cert_manager.CERTIFICATE,
                metadata=_meta(
                    GRAFANA_TLS_SECRET, m.namespace, annotations=await_annotations(["condition=Ready"], 600)
                ),
                spec=cert_manager.certificate_spec(
                    GRAFANA_TLS_SECRET, [m.grafana_hostname], a.cert_manager.issuer_name
                ),
                opts=self._opts(namespace, issuer),
            )
            grafana["ingress"] = {
                "enabled": True,
                "ingressClassName": a.contour.ingress_class_name,
                "hosts": [m.grafana_hostname],
                "tls": [{"secretName": GRAFANA_TLS_SECRET, "hosts": [m.grafana_hostname]}],
            }
            deps += [certificate, contour]
        values = {
            "global": {"imageRegistry": m.image_registry},
            "crds": {"enabled": True},
            "prometheus": {
                "prometheusSpec": {
                    "retention": m.retention,
                    "serviceMonitorSelectorNilUsesHelmValues": False,
                    "podMonitorSelectorNilUsesHelmValues": False,
                    "ruleSelectorNilUsesHelmValues": False,
                    "storageSpec": {"volumeClaimTemplate": {"spec": storage}},
                },
            },
            "grafana": grafana,
        }
        return self._release("monitoring", KPS_RELEASE, m, m.namespace, values, 1200, deps)

    def _monitoring_content(self, a: ClusterPlatformArgs, kps: pulumi.Resource) -> list[pulumi.Resource]:
        ns = a.monitoring.namespace
        groups = app_rule_groups(a.app_namespace, a.app_job)
        if a.gpu_operator is not None:
            groups += gpu_rule_groups()
        rules = k8s.apiextensions.CustomResource(
            f"{self._name}-rules",
            api_version=monitoring.API_VERSION,
            kind=monitoring.PROMETHEUS_RULE,
            metadata=_meta("paif-platform", ns),
            spec=monitoring.prometheus_rule_spec(groups),
            opts=self._opts(kps),
        )
        dashboards: list[pulumi.Resource] = [rules]
        boards = {"paif-app": app_dashboard(a.app_namespace, a.app_job)}
        if a.gpu_operator is not None:
            boards["paif-gpu"] = gpu_dashboard()
        for board, content in boards.items():
            dashboards.append(
                k8s.core.v1.ConfigMap(
                    f"{self._name}-dashboard-{board}",
                    metadata={
                        "name": f"{board}-dashboard",
                        "namespace": ns,
                        "labels": {**PAIF_LABELS, DASHBOARD_LABEL: "1"},
                    },
                    data=dashboard_configmap_data(board, content),
                    opts=self._opts(kps),
                )
            )
        return dashboards

    def _gpu_operator(self, g: GpuOperatorSpec, kps: pulumi.Resource) -> k8s.helm.v3.Release:
        namespace = k8s.core.v1.Namespace(
            f"{self._name}-gpu-operator-ns",
            metadata={"name": GPU_OPERATOR_NAMESPACE, "labels": _privileged_namespace_labels()},
            opts=self._child,
        )
        deps: list[pulumi.Resource] = [namespace, kps]
        if g.license_token is not None:
            deps.append(
                kube_secret(
                    f"{self._name}-gpu-licensing",
                    metadata=_meta(g.licensing_config_name, GPU_OPERATOR_NAMESPACE),
                    string_data={
                        "gridd.conf": pulumi.Output.secret(g.gridd_conf.rstrip("\n") + "\n"),
                        TOKEN_FILE: g.license_token,  # a Pulumi secret from the config
                    },
                    opts=self._opts(namespace),
                )
            )
        tolerations = [t.toleration() for t in g.pool_taints]
        values: dict[str, Any] = {
            "operator": {"defaultRuntime": "containerd"},
            "daemonsets": {"tolerations": tolerations},
            "node-feature-discovery": {"worker": {"tolerations": tolerations}},
            "driver": {
                "enabled": True,
                "repository": g.driver_repository,
                "image": g.driver_image,
                "version": g.driver_version,
                "licensingConfig": {"secretName": g.licensing_config_name, "nlsEnabled": True},
            },
            "dcgmExporter": {
                "enabled": True,
                "repository": f"{g.image_registry}/nvidia/k8s",
                "serviceMonitor": {"enabled": True, "interval": "15s", "honorLabels": False},
            },
        }
        # Every other image from the mirror too (air-gapped): same paths below the mirror as
        # below nvcr.io / registry.k8s.io.
        for component, path in (
            ("operator", "nvidia"),
            ("validator", "nvidia/cloud-native"),
            ("toolkit", "nvidia/k8s"),
            ("devicePlugin", "nvidia"),
            ("gfd", "nvidia"),
            ("nodeStatusExporter", "nvidia/cloud-native"),
        ):
            values.setdefault(component, {})["repository"] = f"{g.image_registry}/{path}"
        values["node-feature-discovery"]["image"] = {
            "repository": f"{g.image_registry}/nfd/node-feature-discovery"
        }
        return self._release("gpu-operator", "gpu-operator", g, GPU_OPERATOR_NAMESPACE, values, 1800, deps)
