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

from components.crds.cluster import NodePool
from components.dlvm import DlvmWorkstation, DlvmWorkstationArgs
from components.vks_cluster import VksCluster, VksClusterArgs
from infra.app_settings import CA_DIR, AppEnvironment
from infra.config import NAMESPACE, ConfigError, Settings
from infra.config.platform import DlvmConfig, VksConfig


@dataclass(frozen=True)
class DlvmOutputs:
    vm_name: pulumi.Output[str]
    primary_ip: pulumi.Output[str | None]
    """The VM's IPv4 address once VM Service reports it."""


@dataclass(frozen=True)
class VksOutputs:
    cluster_name: pulumi.Output[str]
    workload_provider: k8s.Provider | None
    """Deploys into the workload cluster; None where no Cluster API runs and no
    `paif:workloadKubeconfig` is set (the local profile)."""


def _missing(settings: Settings, key: str) -> NoReturn:
    """The profile declares a section the config lacks (parse_config's cross-checks prevent this)."""
    raise ConfigError(
        f"invalid stack config (1 problem); nothing was changed:\n"
        f"  - {NAMESPACE}:{key}: required key is missing ({settings.config.environment} declares it)"
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
    settings the Kubernetes deployment would get."""
    dlvm, app = _dlvm_config(settings), settings.config.app
    return DlvmWorkstationArgs(
        name=dlvm.name,
        namespace=namespace,
        vm_class=gpu_class,
        image_name=dlvm.image_name,
        storage_class=dlvm.storage_class,
        boot_disk_size=dlvm.boot_disk_size,
        app_name=app.name,
        frontend_image=app.frontend_image,
        backend_image=app.backend_image,
        frontend_port=app.frontend_port,
        backend_port=app.backend_port,
        config=app_env.config,
        secrets=app_env.secrets,
        registry_auth=pull_secret,
        ca_bundles=app_env.ca_bundles,
        ca_dir=CA_DIR,
        await_ready=settings.profile.await_custom_resources,
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
    return DlvmOutputs(vm_name=dlvm.vm_name, primary_ip=dlvm.primary_ip)


def vks_args(settings: Settings, namespace: pulumi.Input[str], gpu_class: pulumi.Input[str]) -> VksClusterArgs:
    """VksCluster's arguments. The GPU pool runs on the class VksNamespace bound (the config's
    gpuPool.vmClass is checked to name it); the control plane on the CPU pool's class."""
    vks = _vks_config(settings)
    return VksClusterArgs(
        name=vks.cluster_name,
        namespace=namespace,
        version=vks.version,
        storage_class=vks.storage_class,
        control_plane_vm_class=vks.cpu_pool.vm_class,
        cpu_pool=NodePool(name=vks.cpu_pool.name, replicas=vks.cpu_pool.replicas, vm_class=vks.cpu_pool.vm_class),
        gpu_pool=NodePool(name=vks.gpu_pool.name, replicas=vks.gpu_pool.replicas, vm_class=gpu_class),
        control_plane_replicas=vks.control_plane_replicas,
        cluster_class=vks.cluster_class,
        class_namespace=vks.class_namespace,
        pod_cidr=vks.pod_cidr,
        service_cidr=vks.service_cidr,
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
        opts=pulumi.ResourceOptions(providers={"kubernetes": supervisor}),
    )
    return VksOutputs(cluster_name=cluster.cluster_name, workload_provider=cluster.workload_provider)
