"""GpuVmClass under Pulumi mocks: a vGPU class is always fully reserved and checked against
the cluster at apply time; a malformed profile name fails when the program runs."""

from __future__ import annotations

from typing import Any

import pytest

from components.gpu_vm_class import GpuVmClass, GpuVmClassArgs
from components.vsphere import VcenterConnection
from tests.unit.harness import run

VM_CLASS = "pulumi-python:dynamic/vsphere:VmClass"
CONNECTION = VcenterConnection(host="vc.example.internal", username="svc", password=None)


def gpu_args(**overrides: Any) -> GpuVmClassArgs:
    settings: dict[str, Any] = {
        "name": "paif-gpu",
        "cpu_count": 16,
        "memory_mib": 131072,
        "vgpu_profile": "grid_a100-40c",
        "cluster": "wld01-cl01",
        **overrides,
    }
    return GpuVmClassArgs(CONNECTION, **settings)


@pytest.mark.parametrize("api", ["devices", "config-spec"])
def test_declares_a_fully_reserved_vgpu_class_checked_on_the_cluster(api: str) -> None:
    recorded = run(lambda: GpuVmClass("gpu", gpu_args(api=api)))
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
            "GpuVmClassArgs.vgpu_profile: given 'A100-40GB'; must be an NVIDIA vGPU profile name",
        ),
        (
            {"vgpu_profile": "grid_a100-40"},
            "GpuVmClassArgs.vgpu_profile: given 'grid_a100-40'; must be an NVIDIA vGPU",
        ),
        ({"cpu_count": 0}, "GpuVmClassArgs.cpu_count: given 0; must be 1 to 768 vCPUs"),
        ({"name": "paif_gpu"}, "GpuVmClassArgs.name: given 'paif_gpu'; must be a DNS label"),
        (
            {"cluster": ""},
            "GpuVmClassArgs.cluster: given ''; must name the cluster whose hosts offer the vGPU",
        ),
    ],
)
def test_bad_arguments_name_the_field(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        gpu_args(**overrides)
    assert str(raised.value).startswith(message)
