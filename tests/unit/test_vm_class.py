"""VmClass under Pulumi mocks (CPU-only and with a vGPU: always fully reserved, checked against
the cluster), and its argument checks."""

from __future__ import annotations

from typing import Any

import pytest

from components.vm_class import VmClass, VmClassArgs
from components.vsphere import VcenterConnection
from tests.unit.harness import run

VM_CLASS = "pulumi-python:dynamic/vsphere:VmClass"
CONNECTION = VcenterConnection(host="vc.example.internal", username="svc", password=None)


def test_declares_a_class_without_vgpu() -> None:
    recorded = run(
        lambda: VmClass(
            "cpu",
            VmClassArgs(CONNECTION, "paif-cpu", cpu_count=4, memory_mib=16384, cpu_reservation_percent=25),
        )
    )
    assert "paif:vsphere:VmClass" in recorded.types()
    (resource,) = recorded.of_type(VM_CLASS)
    props = resource.props
    assert (props["class_id"], props["cpu_count"], props["memory_mib"]) == ("paif-cpu", 4, 16384)
    assert (props["cpu_reservation"], props["memory_reservation"], props["vgpu_profiles"]) == (25, 0, [])
    assert props.get("cluster") is None, "no vGPU, nothing to check on a cluster"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cpu_count": 0}, "VmClassArgs.cpu_count: given 0; must be 1 to 768 vCPUs"),
        ({"cpu_count": 1000}, "VmClassArgs.cpu_count: given 1000; must be 1 to 768 vCPUs"),
        ({"memory_mib": 0}, "VmClassArgs.memory_mib: given 0; must be at least 1 MiB"),
        ({"name": "Large CPU"}, "VmClassArgs.name: given 'Large CPU'; must be a DNS label"),
        (
            {"memory_reservation_percent": 101},
            "VmClassArgs.memory_reservation_percent: given 101; must be a percentage",
        ),
    ],
)
def test_bad_arguments_name_the_field(overrides: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {"name": "paif-cpu", "cpu_count": 4, "memory_mib": 4096, **overrides}
    with pytest.raises(ValueError) as raised:
        VmClassArgs(CONNECTION, **settings)
    assert str(raised.value).startswith(message)


# --- with a vGPU -------------------------------------------------------------------------------


def gpu_args(**overrides: Any) -> VmClassArgs:
    settings: dict[str, Any] = {
        "name": "paif-gpu",
        "cpu_count": 16,
        "memory_mib": 131072,
        "vgpu_profile": "grid_a100-40c",
        "cluster": "wld01-cl01",
        **overrides,
    }
    return VmClassArgs(CONNECTION, **settings)


@pytest.mark.parametrize("api", ["devices", "config-spec"])
def test_declares_a_fully_reserved_vgpu_class_checked_on_the_cluster(api: str) -> None:
    recorded = run(lambda: VmClass("gpu", gpu_args(api=api)))
    assert "paif:vsphere:GpuVmClass" in recorded.types()
    (resource,) = recorded.of_type(VM_CLASS)
    props = resource.props
    assert (props["class_id"], props["vgpu_profiles"], props["memory_reservation"]) == (
        "paif-gpu",
        ["grid_a100-40c"],
        100,
    )
    assert (props["cluster"], props["api"]) == ("wld01-cl01", api)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"vgpu_profile": "A100-40GB"},
            "VmClassArgs.vgpu_profile: given 'A100-40GB'; must be an NVIDIA vGPU profile name",
        ),
        (
            {"vgpu_profile": "grid_a100-40"},
            "VmClassArgs.vgpu_profile: given 'grid_a100-40'; must be an NVIDIA vGPU",
        ),
        ({"cpu_count": 0}, "VmClassArgs.cpu_count: given 0; must be 1 to 768 vCPUs"),
        ({"name": "paif_gpu"}, "VmClassArgs.name: given 'paif_gpu'; must be a DNS label"),
        (
            {"cluster": ""},
            "VmClassArgs.cluster: given ''; must name the cluster whose hosts offer the vGPU",
        ),
    ],
)
def test_bad_vgpu_arguments_name_the_field(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        gpu_args(**overrides)
    assert str(raised.value).startswith(message)
