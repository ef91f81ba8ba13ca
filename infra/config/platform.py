"""`paif:dlvm` and `paif:vks`: where the app runs in dev (a DLVM) and prod (a VKS cluster)."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import Field, model_validator

from infra.config.base import Cidr, DnsLabel, Model, Size, derived_name_prefix, field_problem

# DlvmWorkstation names the cloud-init Secret <name>-cloud-init; Cluster API names the
# workload cluster's kubeconfig Secret <clusterName>-kubeconfig.
LONGEST_DLVM_NAME_SUFFIX = "-cloud-init"
LONGEST_VKS_CLUSTER_NAME_SUFFIX = "-kubeconfig"


class DlvmConfig(Model):
    """A Deep Learning VM (VM Service VirtualMachine) that runs the app with cloud-init."""

    name: Annotated[DnsLabel, derived_name_prefix(LONGEST_DLVM_NAME_SUFFIX, "the VM's Secrets")] = "chat-dlvm"
    image_name: str = Field(min_length=1, description="DLVM image in a namespace content library")
    storage_class: DnsLabel
    boot_disk_size: Size = "100Gi"


class NodePoolConfig(Model):
    name: DnsLabel
    replicas: int = Field(ge=0, le=100)
    vm_class: DnsLabel


class VksConfig(Model):
    """A VKS workload cluster (Cluster API `Cluster`) with a CPU and a GPU node pool."""

    cluster_name: Annotated[
        DnsLabel, derived_name_prefix(LONGEST_VKS_CLUSTER_NAME_SUFFIX, "the cluster's Secrets")
    ] = "chat-vks"
    cluster_class: str = "builtin-generic-v3.4.0"
    class_namespace: DnsLabel = "vmware-system-vks-public"
    version: str = Field(min_length=1, description="a VKr name, e.g. v1.33.3---vmware.1-fips-vkr.1")
    control_plane_replicas: Literal[1, 3] = 3
    storage_class: DnsLabel
    cpu_pool: NodePoolConfig
    gpu_pool: NodePoolConfig
    pod_cidr: Cidr = "192.168.0.0/16"
    service_cidr: Cidr = "10.96.0.0/12"

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
