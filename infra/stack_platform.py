"""Where the app runs: a DLVM in dev (`paif:dlvm`), a VKS cluster in prod (`paif:vks`).

The profile decides which of the two a stack declares and whether to wait for VM Service
and Cluster API to report them ready; the config names and sizes them. Both go through the
Supervisor's kubernetes provider into the Supervisor namespace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

import pulumi
import pulumi_kubernetes as k8s

from components.cluster_platform import (
    AutoscalerSpec,
    CertManagerSpec,
    ClusterPlatform,
    ClusterPlatformArgs,
    ContourSpec,
    GpuOperatorSpec,
    LoggingSpec,
    LogSinkSpec,
    MonitoringSpec,
    Taint,
)
from components.crds.cluster import NodePool, NodeVolume
from components.crds.cluster import Taint as NodeTaint
from components.dlvm import DlvmWorkstation, DlvmWorkstationArgs, Resources
from components.gpu_workload import GpuWorkload, GpuWorkloadArgs, Toleration
from components.vks_cluster import VksCluster, VksClusterArgs
from infra.app_settings import AppEnvironment
from infra.config import NAMESPACE, ConfigError, Settings
from infra.config.platform import DlvmConfig, GpuPoolConfig, PlatformConfig, VksConfig
from infra.credentials import credential


@dataclass(frozen=True)
class DlvmOutputs:
    vm_name: pulumi.Output[str]
    primary_ip: pulumi.Output[str | None]
    """The VM's IPv4 address once VM Service reports it."""
    url: pulumi.Output[str | None]
    """https://<ip>/ (TLS only) once the IP is known."""
    ready_url: pulumi.Output[str | None]
    """https://<ip>/readyz: what a pipeline waits on after `up` (VM Service cannot see inside the guest)."""


@dataclass(frozen=True)
class VksOutputs:
    cluster_name: pulumi.Output[str]
    workload_provider: k8s.Provider | None
    """Deploys into the workload cluster; None where no Cluster API runs and no
    `paif:workloadKubeconfig` is set (the local profile)."""


def _missing(settings: Settings, key: str) -> NoReturn:
    """The profile declares a section the config lacks (parse_config's cross-checks prevent this)."""
    raise ConfigError.listing(
        [f"{NAMESPACE}:{key}: required key is missing ({settings.config.environment} declares it)"]
    )


def _dlvm_config(settings: Settings) -> DlvmConfig:
    dlvm = settings.config.dlvm
    if dlvm is None:
        _missing(settings, "dlvm")
    return dlvm


def _vks_config(settings: Settings) -> VksConfig:
    vks = settings.config.vks
    if vks is None:
        _missing(settings, "vks")
    return vks


def dlvm_args(
    settings: Settings,
    namespace: pulumi.Input[str],
    gpu_class: pulumi.Input[str],
    app_env: AppEnvironment,
    pull_secret: pulumi.Output[str] | None,
) -> DlvmWorkstationArgs:
    """DlvmWorkstation's arguments: the VM from `paif:dlvm`, the app from `paif:app`, the
    settings the Kubernetes deployment would get. The certificate follows paif:app.tls.mode as
    the Ingress's would: `secret` serves paif:app.tls.secretName's from the Supervisor namespace,
    `self-signed` paif:dlvm.tlsCertificate when given, else a self-signed one."""
    dlvm, app = _dlvm_config(settings), settings.config.app
    return DlvmWorkstationArgs(
        name=dlvm.name,
        namespace=namespace,
        vm_class=gpu_class,
        image_name=dlvm.image_name,
        storage_class=dlvm.storage_class,
        boot_disk_size=dlvm.boot_disk_size,
        app_name=app.name,
        frontend_resources=Resources(**app.frontend_resources.model_dump()),
        backend_resources=Resources(**app.backend_resources.model_dump()),
        hostname=app.hostname,
        tls_certificate=dlvm.tls_certificate,
        tls_key=credential("dlvmTlsKey", settings.secrets.dlvm_tls_key) if dlvm.tls_certificate else None,
        # paif:app.tls.mode secret: the Secret's certificate (config validation refuses it
        # together with paif:dlvm.tlsCertificate).
        tls_secret_name=app.tls.secret_name if app.tls.mode == "secret" else None,
        registry_auth=pull_secret,
        await_ready=settings.profile.await_custom_resources,
        **app_env.args(),
    )


def declare_dlvm(  # noqa: PLR0917 - the program's call contract
    settings: Settings,
    supervisor: k8s.Provider,
    namespace: pulumi.Input[str],
    gpu_class: pulumi.Input[str],
    app_env: AppEnvironment,
    pull_secret: pulumi.Output[str] | None,
) -> DlvmOutputs:
    """The DLVM and its cloud-init Secret in the Supervisor namespace."""
    dlvm = DlvmWorkstation(
        "dlvm",
        dlvm_args(settings, namespace, gpu_class, app_env, pull_secret),
        opts=pulumi.ResourceOptions(providers={"kubernetes": supervisor}),
    )
    return DlvmOutputs(vm_name=dlvm.vm_name, primary_ip=dlvm.primary_ip, url=dlvm.url, ready_url=dlvm.ready_url)


def gpu_node_pool(pool: GpuPoolConfig, vm_class: pulumi.Input[str], storage_class: str) -> NodePool:
    """The GPU machineDeployment: labels, taints, containerd/kubelet disks, OS, autoscaler bounds.

    UNCONFIRMED on a real VKS (docs/REFERENCE-VKS-PLATFORM.md section 6): overriding the `node` and
    `volumes` variables per pool (documented examples override only vmClass); the variable
    names are builtin-generic-v3.2+'s; the autoscaler annotations need the VKS
    cluster-autoscaler package installed."""
    os_image = f"os-name={pool.os_name}" + (f",os-version={pool.os_version}" if pool.os_version else "")
    autoscale = None
    if pool.min_replicas is not None and pool.max_replicas is not None:
        autoscale = (pool.min_replicas, pool.max_replicas)
    return NodePool(
        name=pool.name,
        replicas=pool.replicas,
        vm_class=vm_class,
        labels=dict(pool.labels),
        taints=tuple(NodeTaint(key=t.key, value=t.value, effect=t.effect) for t in pool.taints),
        volumes=(
            NodeVolume("containerd", "/var/lib/containerd", pool.containerd_volume_size, storage_class),
            NodeVolume("kubelet", "/var/lib/kubelet", pool.kubelet_volume_size, storage_class),
        ),
        os_image=os_image,
        autoscale=autoscale,
    )


def vks_args(
    settings: Settings, namespace: pulumi.Input[str], gpu_class: pulumi.Input[str]
) -> VksClusterArgs:
    """VksCluster's arguments. The GPU pool runs on the class SupervisorNamespace bound (the config's
    gpuPool.vmClass is checked to name it); the control plane on the CPU pool's class."""
    vks = _vks_config(settings)
    return VksClusterArgs(
        name=vks.cluster_name,
        namespace=namespace,
        version=vks.version,
        storage_class=vks.storage_class,
        control_plane_vm_class=vks.cpu_pool.vm_class,
        cpu_pool=NodePool(**vks.cpu_pool.model_dump()),
        gpu_pool=gpu_node_pool(vks.gpu_pool, gpu_class, vks.storage_class),
        control_plane_replicas=vks.control_plane_replicas,
        cluster_class=vks.cluster_class,
        class_namespace=vks.class_namespace,
        pod_cidr=vks.pod_cidr,
        service_cidr=vks.service_cidr,
        service_domain=vks.service_domain,
        kubeconfig=settings.secrets.workload_kubeconfig,
        await_ready=settings.profile.await_custom_resources,
    )


def declare_vks_cluster(
    settings: Settings,
    supervisor: k8s.Provider,
    namespace: pulumi.Input[str],
    gpu_class: pulumi.Input[str],
) -> VksOutputs:
    """The VKS Cluster in the Supervisor namespace and a provider for its workloads."""
    cluster = VksCluster(
        "vks",
        vks_args(settings, namespace, gpu_class),
        opts=pulumi.ResourceOptions(
            providers={"kubernetes": supervisor}, protect=settings.protect("vksCluster")
        ),
    )
    return VksOutputs(cluster_name=cluster.cluster_name, workload_provider=cluster.workload_provider)


def _platform_config(settings: Settings) -> PlatformConfig:
    platform = _vks_config(settings).platform
    if platform is None:
        _missing(settings, "vks.platform")
    for key, section in (("logging", platform.logging), ("gpuOperator", platform.gpu_operator)):
        if section is None:
            _missing(settings, f"vks.platform.{key}")
    return platform


def platform_args(settings: Settings) -> ClusterPlatformArgs:
    """ClusterPlatform's arguments: every chart, package and image from the Harbor mirror
    `paif:vks.platform.registry`, at the pinned versions of the config."""
    vks, platform = _vks_config(settings), _platform_config(settings)
    app = settings.config.app
    registry = platform.registry
    cm, mon = platform.cert_manager, platform.monitoring
    logging = None
    if platform.logging is not None:
        logging = LoggingSpec(
            sink=LogSinkSpec(**platform.logging.sink.model_dump()),
            **platform.logging.model_dump(exclude={"sink"}),
        )
    gpu = None
    if platform.gpu_operator is not None:
        g = platform.gpu_operator
        gpu = GpuOperatorSpec(
            chart=f"oci://{registry}/{g.chart}",
            license_token=credential("nvidiaLicenseToken", settings.secrets.nvidia_license_token),
            pool_taints=tuple(Taint(t.key, t.value, t.effect) for t in vks.gpu_pool.taints),
            image_registry=registry,
            pool_labels=dict(vks.gpu_pool.labels),
            **g.model_dump(exclude={"chart"}),
        )
    autoscaler = None
    if platform.autoscaler is not None and vks.gpu_pool.min_replicas is not None:
        autoscaler = AutoscalerSpec(
            package_version=platform.autoscaler.package_version,
            cluster_name=vks.cluster_name,
            cluster_namespace=settings.config.vsphere.namespace.name,
        )
    return ClusterPlatformArgs(
        package_repository_image=f"{registry}/{platform.package_repository}",
        package_namespace=platform.package_namespace,
        cert_manager=CertManagerSpec(
            **cm.model_dump(),
            # The committed certificate says the program manages the CA Secret; the key is a
            # credential the deploy job supplies (a preview without it changes nothing).
            ca_key=credential("corporateCaKey", settings.secrets.corporate_ca_key) if cm.ca_certificate else None,
        ),
        contour=ContourSpec(**platform.contour.model_dump()),
        monitoring=MonitoringSpec(
            chart=f"oci://{registry}/{mon.chart}",
            namespace=settings.effective.monitoring_namespace,
            image_registry=registry,
            **mon.model_dump(exclude={"chart"}),
        ),
        app_namespace=app.namespace,
        app_job=f"{app.name}-backend",
        logging=logging,
        gpu_operator=gpu,
        autoscaler=autoscaler,
    )


def declare_cluster_platform(settings: Settings, workload: k8s.Provider) -> ClusterPlatform:
    """The platform add-ons in the workload cluster; the app depends on `ready`."""
    args = platform_args(settings)
    return ClusterPlatform("platform", args, opts=pulumi.ResourceOptions(providers={"kubernetes": workload}))


def gpu_workload_args(settings: Settings, pull_secret_name: str | None) -> GpuWorkloadArgs | None:
    """GpuWorkload's arguments from `paif:vks.gpuWorkload`, on the GPU pool (its taints tolerated,
    its labels selected); None when the workload is not configured."""
    vks = _vks_config(settings)
    workload, app = vks.gpu_workload, settings.config.app
    if workload is None:
        return None
    return GpuWorkloadArgs(
        namespace=app.namespace,
        tolerations=tuple(Toleration(t.key, t.value, t.effect) for t in vks.gpu_pool.taints),
        node_selector=dict(vks.gpu_pool.labels),
        clients={"app.kubernetes.io/name": app.name, "app.kubernetes.io/component": "backend"},
        pull_secret_name=pull_secret_name,
        disruption_budget=settings.profile.disruption_budget,
        **workload.model_dump(),
    )


def declare_gpu_workload(
    settings: Settings,
    workload: k8s.Provider,
    pull_secret_name: str | None,
    depends_on: list[pulumi.Resource],
) -> GpuWorkload | None:
    """The optional GPU Deployment; after the app (its namespace, default-deny policy and pull
    secret) and the platform (the GPU Operator's device plugin)."""
    args = gpu_workload_args(settings, pull_secret_name)
    if args is None:
        return None
    return GpuWorkload(
        "gpu-workload",
        args,
        opts=pulumi.ResourceOptions(providers={"kubernetes": workload}, depends_on=depends_on),
    )
