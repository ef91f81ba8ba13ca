"""`VmClass`: a CPU-only VM class (vCPUs, memory, reservations) for Supervisor workloads.

Declares one `dynamic/vsphere:VmClass` (components/vsphere/vm_class_provider.py). GPU
classes are `GpuVmClass` (components/gpu_vm_class.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.names import dns_label_problem
from components.vsphere import VcenterConnection
from components.vsphere import VmClass as VmClassResource
from components.vsphere.vm_class_provider import MAX_CPUS


def check_class_shape(owner: str, name: str, cpu_count: int, memory_mib: int, **percentages: int) -> None:
    """Raise ValueError naming `owner.<field>` when a class's id, size or reservations are invalid."""
    problem = dns_label_problem(name)
    if problem:
        raise ValueError(f"{owner}.name: {problem}")
    if not 1 <= cpu_count <= MAX_CPUS:
        raise ValueError(f"{owner}.cpu_count: given {cpu_count!r}; must be 1 to {MAX_CPUS} vCPUs")
    if memory_mib < 1:
        raise ValueError(f"{owner}.memory_mib: given {memory_mib!r}; must be at least 1 MiB")
    for field, value in percentages.items():
        if not 0 <= value <= 100:
            raise ValueError(f"{owner}.{field}: given {value!r}; must be a percentage from 0 to 100")


@dataclass(frozen=True)
class VmClassArgs:
    """A CPU-only VM class."""

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
    """Share of the memory reserved, 0-100."""
    description: str = ""
    """Shown in vCenter."""

    def __post_init__(self) -> None:
        check_class_shape(
            "VmClassArgs",
            self.name,
            self.cpu_count,
            self.memory_mib,
            cpu_reservation_percent=self.cpu_reservation_percent,
            memory_reservation_percent=self.memory_reservation_percent,
        )


class VmClass(pulumi.ComponentResource):
    """A CPU-only VM class."""

    class_id: pulumi.Output[str]

    def __init__(self, name: str, args: VmClassArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("paif:vsphere:VmClass", name, None, opts)
        vm_class = VmClassResource(
            name,
            connection=args.connection,
            class_id=args.name,
            cpu_count=args.cpu_count,
            memory_mib=args.memory_mib,
            cpu_reservation=args.cpu_reservation_percent,
            memory_reservation=args.memory_reservation_percent,
            description=args.description,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.class_id = vm_class.class_id
        self.register_outputs({"class_id": self.class_id})
