"""`VmClass`: a VM class (vCPUs, memory, reservations) for Supervisor workloads, with or
without an NVIDIA vGPU (the DLVM and the VKS GPU node pool have one).

Declares one `dynamic/vsphere:VmClass` (components/vsphere/vm_class_provider.py). With a
`vgpu_profile`:
- the profile's name format is checked here (`grid_a100-40c`, `nvidia_h100xm-80c`);
- all the memory is reserved (100 %), which a vGPU VM needs to power on, whatever is asked;
- `cluster` names the cluster whose hosts must advertise the profile: at apply time the
  provider refuses a profile no host there offers, listing the ones that are available;
- `api` picks how the vGPU is described to vCenter: `devices` (vgpu_devices) or
  `config-spec` (a VirtualMachineConfigSpec, preferred since vSphere 8.0.2).

The component's type is `paif:vsphere:GpuVmClass` for a vGPU class and `paif:vsphere:VmClass`
otherwise: the tokens the two kinds were declared with before they were one class, kept so
the URNs of deployed classes (and the classes in vCenter) stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi

from components.names import dns_label_problem, vgpu_profile_problem
from components.vsphere import VcenterConnection
from components.vsphere import VmClass as VmClassResource
from components.vsphere import VmClassArgs as VmClassResourceArgs
from components.vsphere.vm_class_provider import FULL_RESERVATION, MAX_CPUS

OWNER = "VmClassArgs"


@dataclass(frozen=True)
class VmClassArgs:
    """A VM class, with one NVIDIA vGPU when `vgpu_profile` is set."""

    connection: VcenterConnection
    """The vCenter that holds the class."""
    name: str
    """Class id (a DNS label); namespaces and VM specs refer to the class by it."""
    cpu_count: int
    """vCPUs, 1 to 768."""
    memory_mib: int
    """Memory in MiB."""
    cpu_reservation_percent: int = 0
    """Share of the vCPUs' clock reserved, 0-100."""
    memory_reservation_percent: int = 0
    """Share of the memory reserved, 0-100 (a vGPU class reserves all of it)."""
    vgpu_profile: str | None = None
    """NVIDIA vGPU profile, e.g. grid_a100-40c (`c` = compute); None: no GPU."""
    cluster: str = ""
    """With a vGPU: the vSphere cluster whose hosts must advertise the profile (checked at apply time)."""
    api: Literal["devices", "config-spec"] = "devices"
    """With a vGPU: how it is described to vCenter, vgpu_devices or a config spec (vSphere 8.0.2+)."""
    description: str = ""
    """Shown in vCenter."""

    def __post_init__(self) -> None:
        problem = dns_label_problem(self.name)
        if problem:
            raise ValueError(f"{OWNER}.name: {problem}")
        if not 1 <= self.cpu_count <= MAX_CPUS:
            raise ValueError(f"{OWNER}.cpu_count: given {self.cpu_count!r}; must be 1 to {MAX_CPUS} vCPUs")
        if self.memory_mib < 1:
            raise ValueError(f"{OWNER}.memory_mib: given {self.memory_mib!r}; must be at least 1 MiB")
        for field in ("cpu_reservation_percent", "memory_reservation_percent"):
            value = getattr(self, field)
            if not 0 <= value <= 100:
                raise ValueError(f"{OWNER}.{field}: given {value!r}; must be a percentage from 0 to 100")
        if self.vgpu_profile is None:
            return
        problem = vgpu_profile_problem(self.vgpu_profile)
        if problem:
            raise ValueError(f"{OWNER}.vgpu_profile: {problem}")
        if not self.cluster:
            raise ValueError(f"{OWNER}.cluster: given ''; must name the cluster whose hosts offer the vGPU")


class VmClass(pulumi.ComponentResource):
    """A VM class; a vGPU class has its memory fully reserved."""

    class_id: pulumi.Output[str]
    vgpu_profile: str | None

    def __init__(self, name: str, args: VmClassArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        gpu = args.vgpu_profile is not None
        super().__init__("paif:vsphere:GpuVmClass" if gpu else "paif:vsphere:VmClass", name, None, opts)
        vm_class = VmClassResource(
            name,
            VmClassResourceArgs(
                connection=args.connection,
                class_id=args.name,
                cpu_count=args.cpu_count,
                memory_mib=args.memory_mib,
                cpu_reservation=args.cpu_reservation_percent,
                memory_reservation=FULL_RESERVATION if gpu else args.memory_reservation_percent,
                vgpu_profiles=[args.vgpu_profile] if args.vgpu_profile is not None else (),
                api=args.api if gpu else "devices",
                cluster=args.cluster if gpu else None,
                description=args.description,
            ),
            pulumi.ResourceOptions(parent=self),
        )
        self.class_id = vm_class.class_id
        self.vgpu_profile = args.vgpu_profile
        outputs: dict[str, object] = {"class_id": self.class_id}
        if gpu:
            outputs["vgpu_profile"] = self.vgpu_profile
        self.register_outputs(outputs)
