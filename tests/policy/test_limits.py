"""Resource-limit rules: containers, GPUs, Supervisor namespace quotas, vGPU reservations."""

from __future__ import annotations

from typing import Any

import pytest

from policy.rules.common import UNKNOWN
from policy.rules.limits import CONTAINER_RESOURCES, GPU_REQUESTS, NAMESPACE_QUOTAS, VGPU_RESERVATION
from tests.policy.builders import changed, container, deployment, res

GPU = "nvidia.com/gpu"


class TestContainerResources:
    def test_requests_and_memory_limit_pass(self) -> None:
        assert CONTAINER_RESOURCES.evaluate(deployment()) == []

    def test_cpu_limit_is_optional_by_default(self) -> None:
        assert (
            CONTAINER_RESOURCES.evaluate(
                deployment(containers=[changed(container(), "resources.limits.cpu", None)])
            )
            == []
        )

    def test_cpu_limit_required_when_configured(self) -> None:
        workload = deployment(containers=[changed(container(), "resources.limits.cpu", None)])
        assert CONTAINER_RESOURCES.evaluate(workload, {"requireCpuLimit": True}) == [
            "container 'backend' of Deployment 'paif-chat/chat-backend' lacks resources limits.cpu: set them"
        ]

    @pytest.mark.parametrize(
        "path", ["resources.requests.cpu", "resources.requests.memory", "resources.limits.memory"]
    )
    def test_missing_request_or_memory_limit_fails(self, path: str) -> None:
        workload = deployment(containers=[changed(container(), path, None)])
        [message] = CONTAINER_RESOURCES.evaluate(workload)
        assert path.removeprefix("resources.") in message

    def test_init_containers_are_checked(self) -> None:
        props = changed(
            deployment().props, "spec.template.spec.initContainers", [{"name": "migrate", "image": "x"}]
        )
        [message] = CONTAINER_RESOURCES.evaluate(res("kubernetes:apps/v1:Deployment", props))
        assert message.startswith("initContainer 'migrate'")

    def test_unknown_resources_are_not_a_violation(self) -> None:
        assert (
            CONTAINER_RESOURCES.evaluate(deployment(containers=[changed(container(), "resources", UNKNOWN)]))
            == []
        )

    def test_other_kinds_are_ignored(self) -> None:
        assert CONTAINER_RESOURCES.evaluate(res("kubernetes:core/v1:Service", {"spec": {}})) == []


def gpu_container(requests: Any, limits: Any) -> dict[str, Any]:
    result = container()
    if requests is not None:
        result["resources"]["requests"][GPU] = requests
    if limits is not None:
        result["resources"]["limits"][GPU] = limits
    return result


class TestGpu:
    def test_matching_request_and_limit_pass(self) -> None:
        assert GPU_REQUESTS.evaluate(deployment(containers=[gpu_container(1, 1)])) == []

    def test_limit_alone_passes(self) -> None:
        assert GPU_REQUESTS.evaluate(deployment(containers=[gpu_container(None, "2")])) == []

    def test_request_without_limit_fails(self) -> None:
        assert GPU_REQUESTS.evaluate(deployment(containers=[gpu_container(1, None)])) == [
            "container 'backend' of Deployment 'paif-chat/chat-backend' requests nvidia.com/gpu 1 without a limit: "
            "set limits.nvidia.com/gpu to the same count"
        ]

    def test_unequal_request_and_limit_fail(self) -> None:
        assert len(GPU_REQUESTS.evaluate(deployment(containers=[gpu_container(1, 2)]))) == 1

    def test_gpu_in_an_environment_without_gpus_fails(self) -> None:
        [message] = GPU_REQUESTS.evaluate(deployment(containers=[gpu_container(1, 1)]), {"gpuAllowed": False})
        assert "has no GPUs" in message

    def test_no_gpu_passes_anywhere(self) -> None:
        assert GPU_REQUESTS.evaluate(deployment(), {"gpuAllowed": False}) == []


NAMESPACE = "pulumi-python:dynamic/vsphere:SupervisorNamespace"


def supervisor_namespace(**overrides: Any) -> dict[str, Any]:
    """The inputs SupervisorNamespace gives the dynamic resource."""
    props: dict[str, Any] = {
        "namespace": "paif-chat-prod",
        "cluster": "wld01-cl01",
        "storage_specs": [{"policy": "vSAN Default Storage Policy", "limit_mib": 2048000}],
        "resource_spec": {"cpu_limit": 200000, "memory_limit": 1048576, "storage_request_limit": 2048000},
    }
    props.update(overrides)
    return props


class TestSupervisorNamespaceQuotas:
    def test_declared_quotas_pass(self) -> None:
        assert NAMESPACE_QUOTAS.evaluate(res(NAMESPACE, supervisor_namespace(), name="ns")) == []

    def test_no_storage_fails(self) -> None:
        assert NAMESPACE_QUOTAS.evaluate(
            res(NAMESPACE, supervisor_namespace(storage_specs=[]), name="ns")
        ) == ["SupervisorNamespace 'ns' declares no storage: add storage_specs with a policy and limit_mib"]

    def test_storage_without_limit_fails(self) -> None:
        props = supervisor_namespace(storage_specs=[{"policy": "gold", "limit_mib": 0}])
        [message] = NAMESPACE_QUOTAS.evaluate(res(NAMESPACE, props, name="ns"))
        assert "storage policy 'gold' has no limit" in message

    def test_missing_quota_fails(self) -> None:
        props = supervisor_namespace(resource_spec={"cpu_limit": 1000})
        messages = NAMESPACE_QUOTAS.evaluate(res(NAMESPACE, props, name="ns"))
        assert messages == [
            "SupervisorNamespace 'ns' has no memory_limit quota: set resource_spec.memory_limit > 0",
            "SupervisorNamespace 'ns' has no storage_request_limit quota: set resource_spec.storage_request_limit > 0",
        ]

    def test_required_quotas_are_configurable(self) -> None:
        props = supervisor_namespace(resource_spec={"cpu_limit": 1000})
        assert NAMESPACE_QUOTAS.evaluate(res(NAMESPACE, props), {"requiredQuotas": ["cpu_limit"]}) == []

    def test_unknown_limits_are_not_a_violation(self) -> None:
        props = supervisor_namespace(
            storage_specs=UNKNOWN,
            resource_spec={"cpu_limit": UNKNOWN, "memory_limit": 1, "storage_request_limit": 1},
        )
        assert NAMESPACE_QUOTAS.evaluate(res(NAMESPACE, props)) == []


VM_CLASS = "pulumi-python:dynamic/vsphere:VmClass"


class TestVgpuReservation:
    def test_full_reservation_passes(self) -> None:
        props = {"class_id": "gpu", "vgpu_profiles": ["grid_a100-40c"], "memory_reservation": 100}
        assert VGPU_RESERVATION.evaluate(res(VM_CLASS, props)) == []

    def test_cpu_class_needs_no_reservation(self) -> None:
        assert VGPU_RESERVATION.evaluate(res(VM_CLASS, {"vgpu_profiles": [], "memory_reservation": 0})) == []

    @pytest.mark.parametrize("reservation", [0, 50, None])
    def test_partial_reservation_fails(self, reservation: Any) -> None:
        props = {"vgpu_profiles": ["grid_a100-40c"], "memory_reservation": reservation}
        assert VGPU_RESERVATION.evaluate(res(VM_CLASS, props, name="gpu")) == [
            f"VmClass 'gpu' has a vGPU but memory_reservation {reservation!r}: set memory_reservation to 100 "
            "(a vGPU VM does not power on otherwise)"
        ]

    def test_unknown_reservation_is_not_a_violation(self) -> None:
        assert (
            VGPU_RESERVATION.evaluate(res(VM_CLASS, {"vgpu_profiles": ["x"], "memory_reservation": UNKNOWN}))
            == []
        )
