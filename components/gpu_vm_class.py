"""`GpuVmClass`: a VM class with an NVIDIA vGPU, for the DLVM and the VKS GPU node pool.

Declares one `dynamic/vsphere:VmClass` (components/vsphere/vm_class_provider.py) with:
- the vGPU profile, whose name format is checked here (`grid_a100-40c`, `nvidia_h100xm-80c`);
- a full memory reservation (100 %), which a vGPU VM needs to power on, whatever is asked;
- the cluster whose hosts must advertise the profile: at apply time the provider refuses a
  profile no host there offers, listing the ones that are available.
`api` picks how the vGPU is described to vCenter: `devices` (vgpu_devices) or
`config-spec` (a VirtualMachineConfigSpec, preferred since vSphere 8.0.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi

from components.names import vgpu_profile_problem
from components.vm_class import check_class_shape
from components.vsphere import VcenterConnection
from components.vsphere import VmClass as VmClassResource
from components.vsphere.vm_class_provider import FULL_RESERVATION


@dataclass(frozen=True)
class GpuVmClassArgs:
    """A VM class with one NVIDIA vGPU."""

    connection: VcenterConnection
    """The vCenter that holds the class."""
    name: str
    """Class id (a DNS label)."""
    cpu_count: int
    """vCPUs, 1 to 768."""
    memory_mib: int
    """Memory in MiB (all of it reserved)."""
    vgpu_profile: str
    """NVIDIA vGPU profile, e.g. grid_a100-40c (`c` = compute)."""
    cluster: str
    """vSphere cluster whose hosts must advertise the profile (checked at apply time)."""
    cpu_reservation_percent: int = 0
    """Share of the vCPUs' clock reserved, 0-100."""
    api: Literal["devices", "config-spec"] = "devices"
    """How the vGPU is described to vCenter: vgpu_devices, or a config spec (vSphere 8.0.2+)."""
    description: str = ""
    """Shown in vCenter."""

    def __post_init__(self) -> None:
        check_class_shape(
            "GpuVmClassArgs",
            self.name,
            self.cpu_count,
            self.memory_mib,
            cpu_reservation_percent=self.cpu_reservation_percent,
        )
        problem = vgpu_profile_problem(self.vgpu_profile)
        if problem:
            raise ValueError(f"GpuVmClassArgs.vgpu_profile: {problem}")
        if not self.cluster:
            raise ValueError(
                "GpuVmClassArgs.cluster: given ''; must name the cluster whose hosts offer the vGPU"
            )


class GpuVmClass(pulumi.ComponentResource):
    """A vGPU VM class with full memory reservation."""

    class_id: pulumi.Output[str]
    vgpu_profile: str

    def __init__(self, name: str, args: GpuVmClassArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("paif:vsphere:GpuVmClass", name, None, opts)
        vm_class = VmClassResource(
            name,
            connection=args.connection,
            class_id=args.name,
            cpu_count=args.cpu_count,
            memory_mib=args.memory_mib,
            cpu_reservation=args.cpu_reservation_percent,
            memory_reservation=FULL_RESERVATION,
            vgpu_profiles=[args.vgpu_profile],
            api=args.api,
            cluster=args.cluster,
            description=args.description,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.class_id = vm_class.class_id
        self.vgpu_profile = args.vgpu_profile
        self.register_outputs({"class_id": self.class_id, "vgpu_profile": self.vgpu_profile})
