"""`paif:dlvm` and `paif:vks`: where the app runs in dev (a DLVM) and prod (a VKS cluster)."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from components.crds.virtual_machine import boot_disk_problem
from infra.config.base import (
    Cidr,
    DnsLabel,
    DnsName,
    Flag,
    Host,
    Hostname,
    ImageRef,
    Model,
    PemCertificates,
    Quantity,
    Size,
    derived_name_prefix,
    field_problem,
    rule,
)


def _boot_disk(value: str) -> str:
    problem = boot_disk_problem(value)
    if problem:
        raise ValueError(problem)
    return value


# DlvmWorkstation names the cloud-init Secret <name>-cloud-init; Cluster API names the
# workload cluster's kubeconfig Secret <clusterName>-kubeconfig.
LONGEST_DLVM_NAME_SUFFIX = "-cloud-init"
LONGEST_VKS_CLUSTER_NAME_SUFFIX = "-kubeconfig"


class DlvmConfig(Model):
    """A Deep Learning VM (VM Service VirtualMachine) that runs the app with cloud-init."""

    name: Annotated[DnsLabel, derived_name_prefix(LONGEST_DLVM_NAME_SUFFIX, "the VM's Secrets")] = "chat-dlvm"
    """VM name (a DNS label); also the prefix of the VM's Secrets."""
    image_name: Annotated[
        str,
        rule(
            lambda v: v.isprintable(),
            "must be a VM image name without line breaks or control characters: a VirtualMachineImage name "
            "such as vmi-0a0044d7c690bcbea, or the image's name in the content library",
        ),
    ] = Field(min_length=1, description="DLVM image in a namespace content library")
    storage_class: DnsLabel
    """Storage class (a DNS label) of the VM's disks."""
    boot_disk_size: Annotated[Size, AfterValidator(_boot_disk)] = "100Gi"
    """Boot disk size the image's disk grows to (Kubernetes quantity, a whole number of MiB, at least 10Gi, e.g. 100Gi)."""
    tls_certificate: PemCertificates | None = None
    """PEM certificate (chain) the DLVM serves on 443 for paif:app.hostname, e.g. issued by the corporate CA; its key is the secret paif:dlvmTlsKey. Only with paif:app.tls.mode self-signed; unset: a self-signed certificate (or, with mode secret, paif:app.tls.secretName's)."""


# An exact version: no range (>=, ~, ^, *, x), no `latest`; a leading v is allowed.
_PINNED_VERSION = re.compile(r"^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$")
# Cluster API's KubeSemver (sigs.k8s.io/cluster-api util/version): the Cluster's topology version.
_KUBE_SEMVER = re.compile(r"^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)([-0-9a-zA-Z_.+]*)?$")
# Prometheus retention (a count of one unit), an image path under a registry, an HTTP probe path.
_RETENTION = re.compile(r"^[1-9][0-9]*(h|d|w|y)$")
_IMAGE_PATH = re.compile(r"^[a-z0-9]+([._/-][a-z0-9]+)*$")
_HTTP_PATH = re.compile(r"^/[A-Za-z0-9/._-]*$")
# registry host[:port]/path (a Harbor project and optional sub-path), no scheme.
_REGISTRY_PATH = re.compile(r"^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


def _registry_path(value: str) -> str:
    if "://" in value:
        raise ValueError("must be host[:port]/project[/path] without a scheme (the Harbor mirror)")
    if not _REGISTRY_PATH.match(value):
        raise ValueError("must be host[:port]/project[/path], e.g. harbor.example.internal/platform")
    return value


PinnedVersion = Annotated[
    str,
    rule(
        _PINNED_VERSION.match,
        "must be one exact version such as 1.20.2+vmware.1-vks.1 or v25.10.0 "
        "(no range, wildcard or 'latest': the add-on must not change under a running cluster)",
    ),
]
RegistryPath = Annotated[str, AfterValidator(_registry_path)]
LabelKey = Annotated[
    str, rule(_LABEL_KEY.match, "must be a Kubernetes label key such as nvidia.com/gpu or node-role.paif.dev/gpu")
]


class TaintConfig(Model):
    """A node taint (ClusterClass variable `node.taints`)."""

    key: LabelKey
    """Taint key."""
    value: str = ""
    """Taint value."""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"
    """What the taint does to pods that do not tolerate it."""


class NodePoolConfig(Model):
    name: DnsLabel
    """Node pool (machineDeployment) name."""
    replicas: int = Field(ge=0, le=100)
    """Nodes in the pool, 0-100 (ignored when autoscaler bounds are set)."""
    vm_class: DnsLabel
    """VM class of the nodes (one of paif:vsphere.vmClasses)."""


# Where the GPU Operator's NFD/GFD labels come from and which taint key is conventional:
# docs/REFERENCE-VKS-PLATFORM.md section 5. Our own label marks the pool for nodeSelectors before
# the operator has labelled anything.
GPU_POOL_LABEL = "paif.dev/node-pool"
GPU_TAINT_KEY = "nvidia.com/gpu"


class GpuPoolConfig(NodePoolConfig):
    """The vGPU worker pool: the NodePool keys plus its labels, taints, disks, OS and autoscaler bounds."""

    labels: dict[str, str] = Field(default_factory=lambda: {GPU_POOL_LABEL: "gpu"})
    """Node labels of the pool (ClusterClass variable `node.labels`, overridden per pool: UNCONFIRMED on VKS)."""
    taints: list[TaintConfig] = Field(
        default_factory=lambda: [TaintConfig(key=GPU_TAINT_KEY, value="present", effect="NoSchedule")]
    )
    """Node taints: only pods that tolerate them (GPU workloads, the GPU Operator) run on the pool."""
    containerd_volume_size: Size = "50Gi"
    """Extra disk for /var/lib/containerd (vGPU driver and model images are large)."""
    kubelet_volume_size: Size = "50Gi"
    """Extra disk for /var/lib/kubelet."""
    os_name: Literal["ubuntu"] = "ubuntu"
    """Node OS (annotation run.tanzu.vmware.com/resolve-os-image); only ubuntu: the vGPU guest-driver container is not built for Photon OS."""
    os_version: str | None = None
    """Node OS version, e.g. 24.04 (Kubernetes 1.33+ VKrs); unset lets VKS choose."""
    min_replicas: int | None = Field(default=None, ge=0, le=100)
    """Cluster autoscaler minimum; with maxReplicas the pool is autoscaled and `replicas` is not sent."""
    max_replicas: int | None = Field(default=None, ge=1, le=100)
    """Cluster autoscaler maximum."""

    @model_validator(mode="after")
    def _bounds(self) -> GpuPoolConfig:
        for key in self.labels:
            if not _LABEL_KEY.match(key):
                raise field_problem(("labels", key), key, "a Kubernetes label key such as paif.dev/node-pool")
        if (self.min_replicas is None) != (self.max_replicas is None):
            given = self.min_replicas if self.max_replicas is None else self.max_replicas
            missing = "maxReplicas" if self.max_replicas is None else "minReplicas"
            raise field_problem((missing,), given, "minReplicas and maxReplicas go together (autoscaling)")
        if (
            self.min_replicas is not None
            and self.max_replicas is not None
            and self.min_replicas > self.max_replicas
        ):
            raise field_problem(
                ("minReplicas",), self.min_replicas, f"must be at most maxReplicas ({self.max_replicas})"
            )
        return self


class CertManagerConfig(Model):
    """cert-manager (VKS package) and the ClusterIssuer of the corporate CA."""

    package_version: PinnedVersion = "1.20.2+vmware.1-vks.1"
    """Version of cert-manager.kubernetes.vmware.com in the package repository."""
    issuer_name: DnsLabel = "corp-ca"
    """ClusterIssuer name (paif:app.tls.clusterIssuer refers to it)."""
    ca_secret_name: DnsLabel = "corp-ca"  # noqa: S105 - a Secret name
    """kubernetes.io/tls Secret in ns cert-manager holding the corporate (intermediate) CA; created by
    the program when caCertificate is set (its key: the secret paif:corporateCaKey), else it must exist."""
    ca_certificate: PemCertificates | None = None
    """PEM certificate of the corporate CA (public): set, the program manages the CA Secret and `up`
    needs paif:corporateCaKey; unset, the Secret must exist."""


class ContourConfig(Model):
    """Contour + Envoy (VKS package): the cluster's ingress controller."""

    package_version: PinnedVersion = "1.33.4+vmware.1-vks.1"
    """Version of contour.kubernetes.vmware.com in the package repository."""
    ingress_class_name: DnsLabel = "contour"
    """IngressClass created for Contour (its default class name)."""
    load_balancer_ip: str | None = None
    """Fixed VIP for the Envoy LoadBalancer Service; unset lets NSX/AVI assign one."""
    envoy_replicas: int = Field(default=2, ge=1, le=10)
    """Envoy runs as a Deployment with this many replicas (not a hostPort DaemonSet)."""


class MonitoringConfig(Model):
    """kube-prometheus-stack (Prometheus Operator, Prometheus, Alertmanager, Grafana) from Harbor OCI."""

    chart: str = "kube-prometheus-stack"
    """Chart name under the platform registry (oci://<registry>/<chart>)."""
    chart_version: PinnedVersion = "77.14.0"
    """Chart version; its Prometheus Operator must serve the monitoring.coreos.com/v1 fields our objects use."""
    retention: Annotated[
        str,
        rule(_RETENTION.match, "must be a whole number (above zero) of hours, days, weeks or years, such as 12h, 15d, 2w or 1y"),
    ] = "15d"
    """Prometheus TSDB retention (e.g. 15d)."""
    storage_size: Size = "100Gi"
    """Prometheus PVC size."""
    storage_class: DnsLabel | None = None
    """StorageClass of the Prometheus/Grafana PVCs; unset uses the cluster default."""
    grafana_hostname: Hostname | None = None
    """Host name of a TLS Ingress for Grafana (ClusterIssuer certificate); unset: no Ingress."""


class LogSinkConfig(Model):
    """Where Fluent Bit ships logs (a Fluent Bit output plugin)."""

    type: Literal["http", "syslog", "es", "splunk", "kafka"] = "http"
    """Fluent Bit output plugin."""
    host: Host
    """Sink host name or IP address, without the port (VCF Operations for Logs: <host>, port 9543)."""
    port: int = Field(default=9543, ge=1, le=65535)
    """Sink port."""
    tls: Flag = True
    """TLS to the sink (verified)."""
    uri: str = "/api/v2/events"
    """Path for the http output (VCF Operations for Logs' ingestion API)."""


class LoggingConfig(Model):
    """Fluent Bit (VKS package): app container logs and the API-server audit log to one sink."""

    package_version: PinnedVersion = "5.0.5+vmware.1-vks.1"
    """Version of fluent-bit.kubernetes.vmware.com in the package repository."""
    sink: LogSinkConfig
    """The log sink."""
    app_retention_days: int = Field(default=30, ge=1, le=3650)
    """Retention the sink applies to app logs (stamped on each record as retention_days)."""
    audit_retention_days: int = Field(default=365, ge=1, le=3650)
    """Retention the sink applies to API-server audit events (stamped as retention_days)."""


class GpuOperatorConfig(Model):
    """NVIDIA GPU Operator (Helm chart from Harbor OCI) with the vGPU guest driver from Harbor."""

    chart: str = "gpu-operator"
    """Chart name under the platform registry."""
    chart_version: PinnedVersion = "v25.10.0"
    """Chart version."""
    driver_repository: RegistryPath
    """Harbor path of the vGPU guest-driver image (built per NVIDIA AI Enterprise instructions)."""
    driver_image: Annotated[
        str,
        rule(
            _IMAGE_PATH.match,
            "must be an image name: lower-case letters and digits, words joined by '.', '_', '-' or '/', "
            "e.g. vgpu-guest-driver",
        ),
    ] = "vgpu-guest-driver"
    """Driver image name under driverRepository."""
    driver_version: PinnedVersion
    """Driver image tag (vGPU guest driver version + OS, e.g. 580.95.05-ubuntu24.04)."""
    licensing_config_name: DnsLabel = "licensing-config"
    """Secret with gridd.conf and client_configuration_token.tok; bump its name to rotate the token."""
    gridd_conf: str = "FeatureType=1"
    """gridd.conf content (not secret); the token is the secret paif:nvidiaLicenseToken."""


class GpuWorkloadConfig(Model):
    """An optional GPU Deployment (embedding/inference server) on the GPU pool, in the app's namespace."""

    name: DnsLabel = "embedder"
    """Deployment and Service name."""
    image: ImageRef
    """Image, pinned, from the Harbor project."""
    port: int = Field(default=8080, ge=1024, le=65535)
    """Container port (unprivileged)."""
    gpu_count: int = Field(default=1, ge=1, le=8)
    """nvidia.com/gpu per pod (request = limit)."""
    replicas: int = Field(default=2, ge=1, le=16)
    """Pods (each on its own GPU)."""
    cpu_request: Quantity = "2"
    """CPU request."""
    memory_request: Size = "8Gi"
    """Memory request."""
    memory_limit: Size = "16Gi"
    """Memory limit."""
    health_path: Annotated[
        str,
        rule(
            _HTTP_PATH.match,
            "must be a URL path starting with '/' of letters, digits and '/', '.', '_', '-' (no query), "
            "e.g. /health",
        ),
    ] = "/health"
    """HTTP path of its readiness and liveness probes."""


class AutoscalerConfig(Model):
    """The VKS cluster-autoscaler package, installed when the GPU pool has autoscaler bounds."""

    package_version: PinnedVersion
    """Version of cluster-autoscaler.kubernetes.vmware.com in the package repository; its Kubernetes minor must match the cluster's VKr (e.g. 1.33.x for v1.33 clusters)."""


class PlatformConfig(Model):
    """Add-ons installed into the workload cluster, in dependency order, all from the Harbor mirror."""

    registry: RegistryPath
    """Harbor project mirroring the platform artifacts (charts, package bundle, driver)."""
    package_repository: str = "vks-standard-packages:3.6.0-20260211"
    """VKS standard package bundle under registry (imgpkg copy'd), name:tag."""
    package_namespace: DnsLabel = "paif-packages"
    """Namespace of our PackageRepository and PackageInstalls (and their service account)."""
    cert_manager: CertManagerConfig = Field(default_factory=CertManagerConfig)
    """cert-manager and the corporate CA issuer."""
    contour: ContourConfig = Field(default_factory=ContourConfig)
    """Ingress controller."""
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    """Prometheus Operator stack and Grafana."""
    logging: LoggingConfig | None = None
    """Fluent Bit; required in prod."""
    gpu_operator: GpuOperatorConfig | None = None
    """NVIDIA GPU Operator; required where the GPU pool has nodes."""
    autoscaler: AutoscalerConfig | None = None
    """Cluster autoscaler (VKS package); required when paif:vks.gpuPool has minReplicas/maxReplicas."""

    @model_validator(mode="after")
    def _mirror_only(self) -> PlatformConfig:
        name, _, tag = self.package_repository.rpartition(":")
        if not _IMAGE_PATH.match(name) or not _PINNED_VERSION.match(tag.removeprefix("v")):
            raise field_problem(
                ("packageRepository",),
                self.package_repository,
                "name:tag with an exact version tag (e.g. 3.6.0-20260211) and a name that is an image path under "
                "paif:vks.platform.registry (lower-case words joined by . _ - or /)",
            )
        host = self.registry.split("/", 1)[0]
        if self.gpu_operator is not None and self.gpu_operator.driver_repository.split("/", 1)[0] != host:
            raise field_problem(
                ("gpuOperator", "driverRepository"),
                self.gpu_operator.driver_repository,
                f"must be on the platform registry host {host} (air-gapped: one mirror)",
            )
        return self


class VksConfig(Model):
    """A VKS workload cluster (Cluster API `Cluster`) with a CPU and a GPU node pool."""

    cluster_name: Annotated[
        DnsLabel, derived_name_prefix(LONGEST_VKS_CLUSTER_NAME_SUFFIX, "the cluster's Secrets")
    ] = "chat-vks"
    """Cluster name (a DNS label); also the prefix of the cluster's Secrets."""
    cluster_class: str = "builtin-generic-v3.4.0"
    """ClusterClass the cluster is built from."""
    class_namespace: DnsLabel = "vmware-system-vks-public"
    """Namespace of the ClusterClass."""
    version: Annotated[
        str,
        rule(
            _KUBE_SEMVER.match,
            "must be a Kubernetes release version v<major>.<minor>.<patch> with an optional suffix, "
            "e.g. the VKr name v1.33.3---vmware.1-fips-vkr.1 (Cluster API refuses any other form)",
        ),
    ] = Field(min_length=1, description="a VKr name, e.g. v1.33.3---vmware.1-fips-vkr.1")
    control_plane_replicas: Literal[1, 3] = 3
    """Control-plane nodes: 1 or 3 (prod requires 3)."""
    storage_class: DnsLabel
    """Storage class (a DNS label) for node volumes and the cluster's default."""
    cpu_pool: NodePoolConfig
    """The CPU worker pool the app runs on."""
    gpu_pool: GpuPoolConfig
    """The vGPU worker pool (tainted; only GPU workloads run there)."""
    pod_cidr: Cidr = "192.168.0.0/16"
    """Pod network CIDR (must not overlap serviceCidr)."""
    service_cidr: Cidr = "10.96.0.0/12"
    """Service network CIDR (must not overlap podCidr)."""
    service_domain: DnsName = "cluster.local"
    """Cluster DNS domain (immutable; set explicitly, add-ons break without it)."""
    gpu_workload: GpuWorkloadConfig | None = None
    """Optional GPU Deployment on the GPU pool (tolerates its taint, requests nvidia.com/gpu); only the app's backend may call it."""
    platform: PlatformConfig | None = None
    """In-cluster platform add-ons (cert-manager, Contour, monitoring, Fluent Bit, GPU Operator); required in prod."""

    @model_validator(mode="after")
    def _autoscaler_installed(self) -> VksConfig:
        autoscaler = self.platform.autoscaler if self.platform is not None else None
        if self.gpu_pool.min_replicas is not None and self.platform is not None and autoscaler is None:
            raise field_problem(
                ("platform", "autoscaler"),
                None,
                "required when gpuPool has minReplicas/maxReplicas: the pool's autoscaler annotations do nothing "
                "without the cluster-autoscaler package (set autoscaler.packageVersion)",
            )
        cluster_minor = re.match(r"^v?([0-9]+\.[0-9]+)\.", self.version)
        if autoscaler is not None and cluster_minor is not None:
            package_minor = ".".join(autoscaler.package_version.removeprefix("v").split(".")[:2])
            if package_minor != cluster_minor[1]:
                raise field_problem(
                    ("platform", "autoscaler", "packageVersion"),
                    autoscaler.package_version,
                    f"must be a {cluster_minor[1]}.x version: the autoscaler's Kubernetes minor must match the "
                    f"cluster's ({self.version})",
                )
        return self

    @model_validator(mode="after")
    def _cpu_nodes(self) -> VksConfig:
        if self.cpu_pool.replicas < 1:
            raise field_problem(
                ("cpuPool", "replicas"),
                self.cpu_pool.replicas,
                "must be at least 1: the app and the cluster platform run on the CPU pool (the GPU pool is "
                "tainted for GPU workloads)",
            )
        return self

    @model_validator(mode="after")
    def _gpu_nodes_for_the_workload(self) -> VksConfig:
        if self.gpu_workload is not None and self.gpu_pool.max_replicas is None and self.gpu_pool.replicas < 1:
            raise field_problem(
                ("gpuPool", "replicas"),
                self.gpu_pool.replicas,
                "must be at least 1 while gpuWorkload is set: its pods run only on the GPU pool (or autoscale the "
                "pool with minReplicas/maxReplicas)",
            )
        return self

    @model_validator(mode="after")
    def _pools_apart(self) -> VksConfig:
        if self.gpu_pool.name == self.cpu_pool.name:
            raise field_problem(
                ("gpuPool", "name"),
                self.gpu_pool.name,
                f"must differ from cpuPool.name ({self.cpu_pool.name!r}): each node pool is a machineDeployment "
                "of the cluster, named uniquely",
            )
        return self

    @model_validator(mode="after")
    def _cidrs_apart(self) -> VksConfig:
        pods, services = ipaddress.ip_network(self.pod_cidr), ipaddress.ip_network(self.service_cidr)
        if pods.version == services.version and pods.overlaps(services):
            raise field_problem(
                ("serviceCidr",),
                self.service_cidr,
                f"must not overlap podCidr ({self.pod_cidr}): pod and service addresses must be distinct networks",
            )
        return self
