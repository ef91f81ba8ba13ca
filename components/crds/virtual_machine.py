"""VM Service `VirtualMachine` (`vmoperator.vmware.com/v1alpha3`): typed spec and resource.

The mapping from Python fields to the CR's camelCase keys lives only here
(`VirtualMachineSpec.to_spec`). VM Service publishes the guest's address in
`status.network.primaryIP4` once VMware Tools reports it (`primary_ip4`), and, for a VM with
a readiness probe (`ReadinessProbe`), the condition `Ready` from the probe's result
(`READY_CONDITION`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pulumi

from components.crds.custom_resource import SpecResource, require_dns_label
from components.crds.spec import CamelSpec
from components.names import K8S_QUANTITY, quantity

API_VERSION = "vmoperator.vmware.com/v1alpha3"
KIND = "VirtualMachine"
TYPE = f"kubernetes:{API_VERSION}:{KIND}"
# VM Operator reads user data from this key first (then `value`, the CAPI key).
USER_DATA_KEY = "user-data"
# VM Operator's admission refuses a boot disk capacity that is not a whole number of MiB
# (vmware-tanzu/vm-operator webhooks/virtualmachine/validation: validateAdvanced,
# vSphereVolumeSizeNotMBMultiple): 100G (95367.43Mi) is refused, 100Gi is not.
MIB = 2**20
# The capacity grows the image's boot disk; a vSphere disk never shrinks. No Deep Learning VM
# image (Ubuntu, the NVIDIA guest driver, CUDA, a container runtime) fits in less than this, so
# a smaller value is a unit slip (100Mi for 100Gi), never meant. The images' own disk sizes are
# not published: UNCONFIRMED beyond this floor.
MIN_BOOT_DISK_BYTES = 10 * 2**30
# The condition VM Operator's readiness worker sets from the probe's result: True on success,
# False (reason NotReady) on failure, Unknown otherwise. Source: vmware-tanzu/vm-operator
# pkg/prober/worker/readiness_worker.go (getCondition) with api/v1alpha3/condition_consts.go
# (ReadyConditionType = "Ready").
READY_CONDITION = "Ready"
GUESTINFO_PREFIX = "guestinfo."
GUESTINFO_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

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
class GuestInfoCheck(CamelSpec):
    """One guestinfo key VM Operator compares (`GuestInfoAction`, api/v1alpha3
    virtualmachine_readiness_types.go)."""

    key: str
    """Key without the `guestinfo.` prefix: VM Operator reads `guestinfo.<key>` (a key given
    with the prefix would be read as `guestinfo.guestinfo.<key>`)."""
    value: str = ""
    """RE2 regular expression the value must match (unanchored, as Go's MatchString); empty
    matches anything. VM Operator treats an invalid expression as a wildcard, so keep it simple."""

    def __post_init__(self) -> None:
        if self.key.startswith(GUESTINFO_PREFIX):
            raise ValueError(
                f"guestinfo key {self.key!r}: give it without the {GUESTINFO_PREFIX!r} prefix (VM Operator adds it)"
            )
        if not GUESTINFO_KEY.match(self.key):
            raise ValueError(f"guestinfo key {self.key!r}: letters, digits, '.', '_' and '-' only")


@dataclass(frozen=True)
class ReadinessProbe(CamelSpec):
    """`spec.readinessProbe` with the guestInfo action: VM Service marks the VM `Ready` while
    every listed guestinfo key matches, which the guest sets itself (`vmware-rpctool "info-set
    guestinfo.<key> <value>"`, open-vm-tools).

    Why guestInfo and not the other actions (only one may be given; VM Operator's webhook
    refuses more, "only one action can be specified"): `tcpSocket` is deprecated and refused
    under VPC networking ("VPC networking doesn't allow TCP readiness probe to be specified",
    webhooks/virtualmachine/validation/virtualmachine_validator.go), and it would only prove a
    port is open, not that the app answers; `guestHeartbeat` only says VMware Tools runs. With
    guestInfo the guest reports what it checked itself (components/dlvm.py: an https request
    to the app's /readyz through the TLS proxy)."""

    guest_info: tuple[GuestInfoCheck, ...]
    """Keys that must all match (VM Operator ANDs them)."""
    period_seconds: int | None = None
    """How often VM Operator probes; None: its default (10 s)."""
    timeout_seconds: int | None = None
    """Probe timeout, 1-60 s; None: its default (10 s)."""

    def __post_init__(self) -> None:
        if not self.guest_info:
            raise ValueError("readiness probe: give at least one guestinfo key")
        keys = [check.key for check in self.guest_info]
        if len(set(keys)) != len(keys):
            raise ValueError(f"readiness probe guestinfo keys must be unique, got {keys}")
        if self.period_seconds is not None and self.period_seconds < 1:
            raise ValueError(f"readiness probe period {self.period_seconds}: must be at least 1 second")
        if self.timeout_seconds is not None and not 1 <= self.timeout_seconds <= 60:
            raise ValueError(f"readiness probe timeout {self.timeout_seconds}: must be 1-60 seconds")


def boot_disk_problem(capacity: str) -> str | None:
    """Why `capacity` cannot be a VM's boot disk capacity (`spec.advanced.bootDiskCapacity`);
    None when it can."""
    try:
        size = quantity(capacity, "boot disk capacity")
    except ValueError:
        return "must be a Kubernetes quantity such as 200Gi"
    if size < MIN_BOOT_DISK_BYTES:
        return (
            "must be at least 10Gi: it is the size the image's boot disk grows to, and no Deep Learning VM "
            "image fits in less (did you mean Gi?)"
        )
    if size % MIB:
        match = K8S_QUANTITY.match(capacity)
        binary = f" or {match['number']}{match['unit'].upper()}i" if match and match["unit"] in tuple("kMGTPE") else ""
        return (
            f"must be a whole number of MiB, which VM Service requires of a disk ({capacity} is "
            f"{float(size / MIB):.2f}Mi): write it in Mi or Gi, such as {-(-size // MIB)}Mi{binary}"
        )
    return None


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
    readiness_probe: ReadinessProbe | None = None
    """How VM Service decides the VM is `Ready`; None: no probe (no `Ready` condition from one)."""

    def __post_init__(self) -> None:
        if not self.image_name:
            raise ValueError("image_name: must name a VirtualMachineImage")
        require_dns_label(self.storage_class, "storage class")
        require_dns_label(self.cloud_config.name, "cloud-config Secret")
        if self.boot_disk_capacity is not None:
            problem = boot_disk_problem(self.boot_disk_capacity)
            if problem:
                raise ValueError(f"boot disk capacity {self.boot_disk_capacity!r}: {problem}")
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
        if self.readiness_probe is not None:
            spec["readinessProbe"] = self.readiness_probe.to_spec()
        return spec


class VirtualMachine(SpecResource):
    """A VM Service VirtualMachine; `status.network.primaryIP4` carries its address once up,
    the condition `Ready` its readiness probe's result."""

    api_version = API_VERSION
    kind = KIND
    name_is_dns_label = "VirtualMachine name"


def primary_ip4(status: Mapping[str, Any] | None) -> str | None:
    """`status.network.primaryIP4`, or None while VM Service has not reported one."""
    network = (status or {}).get("network") or {}
    address = network.get("primaryIP4")
    return str(address) if address else None

