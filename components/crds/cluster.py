"""Cluster API `Cluster` (`cluster.x-k8s.io/v1beta1`) with a managed topology: a VKS cluster.

The mapping from Python fields to the CR's camelCase keys lives only here
(`ClusterSpec.to_spec`). With VKS's `builtin-generic-v3.x` classes the `vmClass` and
`storageClass` variables must be explicit; a node pool's `vmClass` override places it on
another VM class (the vGPU class for a GPU pool).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import pulumi

from components.crds.custom_resource import SpecResource, require_dns_label
from components.crds.spec import CamelSpec

API_VERSION = "cluster.x-k8s.io/v1beta1"
KIND = "Cluster"
TYPE = f"kubernetes:{API_VERSION}:{KIND}"
NODE_POOL_CLASS = "node-pool"
"""The worker class every VKS builtin ClusterClass defines."""
OS_IMAGE_ANNOTATION = "run.tanzu.vmware.com/resolve-os-image"
AUTOSCALER_MIN = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size"
AUTOSCALER_MAX = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size"


@dataclass(frozen=True)
class Taint(CamelSpec):
    """A node taint (ClusterClass variable `node.taints`, builtin-generic-v3.2+)."""

    key: str
    value: str = ""
    effect: str = "NoSchedule"

    def __post_init__(self) -> None:
        if self.effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise ValueError(
                f"taint {self.key!r}: effect {self.effect!r} must be NoSchedule, PreferNoSchedule or NoExecute"
            )

    def toleration(self) -> dict[str, Any]:
        """A pod toleration of exactly this taint (what runs on a tainted pool needs)."""
        return {**self.to_spec(), "operator": "Equal"}


@dataclass(frozen=True)
class NodeVolume(CamelSpec):
    """An extra disk of every node of a pool (ClusterClass variable `volumes`)."""

    name: str
    mount_path: str
    capacity: str
    storage_class: str


@dataclass(frozen=True)
class NodePool:
    """A worker machineDeployment of the topology."""

    name: str
    """Pool name (DNS label), unique in the cluster."""
    replicas: int
    """Worker count."""
    vm_class: pulumi.Input[str]
    """VM class of the workers (bound to the namespace); the vGPU class makes it a GPU pool."""
    worker_class: str = NODE_POOL_CLASS
    """ClusterClass worker class."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Node labels (`node` variable override; per-pool override of `node` is UNCONFIRMED on VKS)."""
    taints: tuple[Taint, ...] = ()
    """Node taints (`node` variable override)."""
    volumes: tuple[NodeVolume, ...] = ()
    """Extra node disks (`volumes` variable override)."""
    os_image: str | None = None
    """`run.tanzu.vmware.com/resolve-os-image` value, e.g. os-name=ubuntu,os-version=24.04."""
    autoscale: tuple[int, int] | None = None
    """(min, max) for the cluster autoscaler; `replicas` is then not sent (nil = managed externally)."""

    def __post_init__(self) -> None:
        require_dns_label(self.name, "node pool name")
        if self.replicas < 0:
            raise ValueError(f"node pool {self.name!r}: replicas {self.replicas} must be 0 or more")
        if self.autoscale is not None and not 0 <= self.autoscale[0] <= self.autoscale[1]:
            raise ValueError(
                f"node pool {self.name!r}: autoscaler bounds {self.autoscale} must be 0 <= min <= max"
            )

    def to_spec(self) -> dict[str, Any]:
        overrides: list[dict[str, Any]] = [{"name": "vmClass", "value": self.vm_class}]
        if self.labels or self.taints:
            node: dict[str, Any] = {}
            if self.labels:
                node["labels"] = dict(self.labels)
            if self.taints:
                node["taints"] = [t.to_spec() for t in self.taints]
            overrides.append({"name": "node", "value": node})
        if self.volumes:
            overrides.append({"name": "volumes", "value": [v.to_spec() for v in self.volumes]})
        spec: dict[str, Any] = {"class": self.worker_class, "name": self.name}
        annotations: dict[str, str] = {}
        if self.os_image:
            annotations[OS_IMAGE_ANNOTATION] = self.os_image
        if self.autoscale is None:
            spec["replicas"] = self.replicas
        else:
            annotations[AUTOSCALER_MIN], annotations[AUTOSCALER_MAX] = (str(n) for n in self.autoscale)
        if annotations:
            spec["metadata"] = {"annotations": annotations}
        spec["variables"] = {"overrides": overrides}
        return spec


def _networks(cidrs: tuple[str, ...], what: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    if not cidrs:
        raise ValueError(f"{what} CIDRs: at least one is required")
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr, strict=True))
        except ValueError as exc:
            raise ValueError(
                f"{what} CIDR {cidr!r}: must be a network in CIDR notation such as 10.96.0.0/12"
            ) from exc
    return networks


@dataclass(frozen=True, kw_only=True)
class ClusterSettings:
    """The cluster its owner chooses: what `VksClusterArgs` takes and a `ClusterSpec` renders."""

    version: str
    """Kubernetes release (a VKr name), e.g. v1.33.3---vmware.1-fips-vkr.1."""
    storage_class: str
    """Storage class of the nodes' disks."""
    control_plane_replicas: int = 3
    """Control plane nodes: 1, or 3 for an HA etcd quorum."""
    cluster_class: str = "builtin-generic-v3.4.0"
    """ClusterClass name (one of VKS's builtin classes)."""
    class_namespace: str = "vmware-system-vks-public"
    """Namespace of the ClusterClass."""
    service_domain: str | None = None
    """clusterNetwork.serviceDomain (immutable); None leaves Cluster API's default."""

    def cluster_settings(self) -> dict[str, Any]:
        """These settings by field name, as `ClusterSpec` takes them."""
        return {f.name: getattr(self, f.name) for f in fields(ClusterSettings)}


@dataclass(frozen=True, kw_only=True)
class ClusterSpec(ClusterSettings):
    """`spec` of a Cluster whose shape comes from a ClusterClass (`spec.topology`)."""

    vm_class: pulumi.Input[str]
    """Default VM class (control plane and pools without an override)."""
    node_pools: tuple[NodePool, ...]
    """Worker pools."""
    pod_cidrs: tuple[str, ...] = ("192.168.0.0/16",)
    service_cidrs: tuple[str, ...] = ("10.96.0.0/12",)

    def __post_init__(self) -> None:
        if self.control_plane_replicas < 1 or self.control_plane_replicas % 2 == 0:
            raise ValueError(
                f"control plane replicas {self.control_plane_replicas}: must be odd (1, or 3 for HA) "
                "so etcd keeps a quorum"
            )
        require_dns_label(self.storage_class, "storage class")
        require_dns_label(self.class_namespace, "ClusterClass namespace")
        if not self.cluster_class or not self.version:
            raise ValueError("cluster_class and version must be set")
        if not self.node_pools:
            raise ValueError("node_pools: at least one worker pool is required")
        names = [p.name for p in self.node_pools]
        if len(set(names)) != len(names):
            raise ValueError(f"node pool names must be unique, got {names}")
        pods = _networks(self.pod_cidrs, "pod")
        services = _networks(self.service_cidrs, "service")
        for pod in pods:
            for service in services:
                if pod.version == service.version and pod.overlaps(service):
                    raise ValueError(f"pod CIDR {pod} overlaps service CIDR {service}")

    def to_spec(self) -> dict[str, Any]:
        network: dict[str, Any] = {
            "pods": {"cidrBlocks": list(self.pod_cidrs)},
            "services": {"cidrBlocks": list(self.service_cidrs)},
        }
        if self.service_domain:
            network["serviceDomain"] = self.service_domain
        return {
            "clusterNetwork": network,
            "topology": {
                "class": self.cluster_class,
                "classNamespace": self.class_namespace,
                "version": self.version,
                "controlPlane": {"replicas": self.control_plane_replicas},
                "workers": {"machineDeployments": [p.to_spec() for p in self.node_pools]},
                "variables": [
                    {"name": "vmClass", "value": self.vm_class},
                    {"name": "storageClass", "value": self.storage_class},
                ],
            },
        }


class Cluster(SpecResource):
    """A Cluster API Cluster in a Supervisor namespace (VKS provisions it)."""

    api_version = API_VERSION
    kind = KIND
    name_is_dns_label = "Cluster name"


def kubeconfig_secret_name(cluster_name: str) -> str:
    """The Secret (key `value`) in which Cluster API publishes the workload cluster's admin kubeconfig."""
    return f"{cluster_name}-kubeconfig"
