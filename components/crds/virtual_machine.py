"""VM Service `VirtualMachine` (`vmoperator.vmware.com/v1alpha3`): typed spec and resource.

The mapping from Python fields to the CR's camelCase keys lives only here
(`VirtualMachineSpec.to_spec`). VM Service publishes the guest's address in
`status.network.primaryIP4` once VMware Tools reports it (`primary_ip4`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pulumi

from components.crds.custom_resource import SpecResource, require_dns_label
from components.crds.spec import CamelSpec

API_VERSION = "vmoperator.vmware.com/v1alpha3"
KIND = "VirtualMachine"
TYPE = f"kubernetes:{API_VERSION}:{KIND}"
# VM Operator reads user data from this key first (then `value`, the CAPI key).
USER_DATA_KEY = "user-data"
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")

PowerState = Literal["PoweredOn", "PoweredOff", "Suspended"]


@dataclass(frozen=True)
class SecretKeyRef(CamelSpec):
    """A key of a Secret in the VM's namespace."""

    name: str
    """Secret name."""
    key: str = USER_DATA_KEY
    """Key holding the data."""


@dataclass(frozen=True)
class NetworkInterface:
    """A guest network interface; without any, VM Service attaches the namespace's default network."""

    name: str
    """Interface name in the spec (DNS label), e.g. eth0."""
    network: str | None = None
    """Network (NSX VPC subnet / vSphere Distributed network) name; None for the namespace default."""

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"name": self.name}
        if self.network is not None:
            spec["network"] = {"name": self.network}
        return spec


@dataclass(frozen=True)
class PvcVolume:
    """A PersistentVolumeClaim in the VM's namespace attached as a disk."""

    name: str
    """Volume name in the spec (DNS label)."""
    claim_name: str
    """The PersistentVolumeClaim's name."""

    def to_spec(self) -> dict[str, Any]:
        return {"name": self.name, "persistentVolumeClaim": {"claimName": self.claim_name}}


@dataclass(frozen=True)
class VirtualMachineSpec:
    """`spec` of a VirtualMachine bootstrapped by cloud-init from a Secret."""

    class_name: pulumi.Input[str]
    """VM class bound to the namespace (the vGPU class for a DLVM)."""
    image_name: str
    """VirtualMachineImage / ClusterVirtualMachineImage name (e.g. vmi-0123456789abcdef0)."""
    storage_class: str
    """Storage class of the VM's disks."""
    cloud_config: SecretKeyRef
    """Secret key holding the cloud-init user data (`bootstrap.cloudInit.rawCloudConfig`)."""
    power_state: PowerState = "PoweredOn"
    boot_disk_capacity: str | None = None
    """Boot disk size as a Kubernetes quantity (e.g. 200Gi); None keeps the image's size."""
    interfaces: tuple[NetworkInterface, ...] = ()
    """Guest network interfaces; empty for the namespace's default network."""
    volumes: tuple[PvcVolume, ...] = ()
    """Extra disks from PersistentVolumeClaims."""

    def __post_init__(self) -> None:
        if not self.image_name:
            raise ValueError("image_name: must name a VirtualMachineImage")
        require_dns_label(self.storage_class, "storage class")
        require_dns_label(self.cloud_config.name, "cloud-config Secret")
        if self.boot_disk_capacity is not None and not QUANTITY.match(self.boot_disk_capacity):
            raise ValueError(
                f"boot disk capacity {self.boot_disk_capacity!r}: must be a Kubernetes quantity such as 200Gi"
            )
        for what, names in (
            ("network interface", [i.name for i in self.interfaces]),
            ("volume", [v.name for v in self.volumes]),
        ):
            for name in names:
                require_dns_label(name, what)
            if len(set(names)) != len(names):
                raise ValueError(f"{what} names must be unique, got {names}")

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "className": self.class_name,
            "imageName": self.image_name,
            "storageClass": self.storage_class,
            "powerState": self.power_state,
            "bootstrap": {"cloudInit": {"rawCloudConfig": self.cloud_config.to_spec()}},
        }
        if self.boot_disk_capacity is not None:
            spec["advanced"] = {"bootDiskCapacity": self.boot_disk_capacity}
        if self.interfaces:
            spec["network"] = {"interfaces": [i.to_spec() for i in self.interfaces]}
        if self.volumes:
            spec["volumes"] = [v.to_spec() for v in self.volumes]
        return spec


class VirtualMachine(SpecResource):
    """A VM Service VirtualMachine; `status.network.primaryIP4` carries its address once up."""

    api_version = API_VERSION
    kind = KIND
    name_is_dns_label = "VirtualMachine name"


def primary_ip4(status: Mapping[str, Any] | None) -> str | None:
    """`status.network.primaryIP4`, or None while VM Service has not reported one."""
    network = (status or {}).get("network") or {}
    address = network.get("primaryIP4")
    return str(address) if address else None
