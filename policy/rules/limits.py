"""Resource limits: containers, GPUs, the Supervisor namespace and vGPU VM classes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policy.rules.common import (
    Context,
    Res,
    ResourceRule,
    Rule,
    as_number,
    describe,
    dynamic,
    first,
    get,
    is_unknown,
    show,
    workload_containers,
)

SUPERVISOR_NAMESPACE = dynamic("vsphere", "SupervisorNamespace")
VM_CLASS = dynamic("vsphere", "VmClass")
FULL_RESERVATION = 100


def _missing(resources: Any, section: str, key: str) -> bool:
    value = get(resources, section, key)
    return value is None or value == ""


def check_container_resources(resource: Res, ctx: Context) -> list[str]:
    required = [("requests", "cpu"), ("requests", "memory"), ("limits", "memory")]
    if ctx.flag("requireCpuLimit"):
        required.append(("limits", "cpu"))
    problems = []
    for _, container in workload_containers(resource):
        resources = container.spec.get("resources")
        if is_unknown(resources):
            continue
        missing = [f"{section}.{key}" for section, key in required if _missing(resources, section, key)]
        if missing:
            problems.append(
                f"{container.kind} '{container.name}' of {describe(resource)} lacks resources "
                f"{', '.join(missing)}: set them"
            )
    return problems


CONTAINER_RESOURCES = ResourceRule(
    name="container-resources",
    description="Every container sets CPU and memory requests and a memory limit (CPU limit if configured).",
    check=check_container_resources,
    config={
        "requireCpuLimit": {
            "type": "boolean",
            "default": False,
            "description": "also require resources.limits.cpu",
        }
    },
)


def check_gpu(resource: Res, ctx: Context) -> list[str]:
    gpu = ctx.text("gpuResource")
    problems = []
    for _, container in workload_containers(resource):
        resources = container.spec.get("resources")
        request, limit = get(resources, "requests", gpu), get(resources, "limits", gpu)
        if is_unknown(request) or is_unknown(limit) or (request is None and limit is None):
            continue
        where = f"{container.kind} '{container.name}' of {describe(resource)}"
        if not ctx.flag("gpuAllowed"):
            problems.append(f"{where} asks for {gpu}, but this stack's environment has no GPUs: remove it")
        elif limit is None:
            problems.append(
                f"{where} requests {gpu} {show(request)} without a limit: set limits.{gpu} to the same count"
            )
        elif request is not None and as_number(request) != as_number(limit):
            problems.append(
                f"{where} requests {gpu} {show(request)} but limits it to {show(limit)}: make them equal"
            )
    return problems


GPU_REQUESTS = ResourceRule(
    name="gpu-requests-match-limits",
    description="GPU requests come with an equal limit, and only where the environment has GPUs.",
    check=check_gpu,
    config={
        "gpuAllowed": {
            "type": "boolean",
            "default": True,
            "description": "the environment schedules GPU workloads",
        },
        "gpuResource": {
            "type": "string",
            "default": "nvidia.com/gpu",
            "description": "extended resource name of a GPU",
        },
    },
)


def _positive(value: Any) -> bool | None:
    if is_unknown(value):
        return None
    number = as_number(value)
    return number is not None and number > 0


def check_namespace_quotas(resource: Res, ctx: Context) -> list[str]:
    if resource.type != SUPERVISOR_NAMESPACE:
        return []
    props = resource.props
    problems = []
    storage = first(props, "storage_specs", "storageSpecs")
    if not is_unknown(storage):
        specs = storage if isinstance(storage, list) else []
        if not specs:
            problems.append(
                f"{describe(resource)} declares no storage: add storage_specs with a policy and limit_mib"
            )
        for spec in specs:
            if not isinstance(spec, Mapping):
                continue
            if _positive(first(spec, "limit_mib", "limitMib", "limit")) is False:
                problems.append(
                    f"{describe(resource)} storage policy {spec.get('policy')!r} has no limit: set limit_mib > 0"
                )
    quotas = first(props, "resource_spec", "resourceSpec")
    if not is_unknown(quotas):
        quotas = quotas if isinstance(quotas, Mapping) else {}
        for key in ctx.strings("requiredQuotas"):
            if _positive(quotas.get(key)) is False:
                problems.append(f"{describe(resource)} has no {key} quota: set resource_spec.{key} > 0")
    return problems


NAMESPACE_QUOTAS = ResourceRule(
    name="supervisor-namespace-quotas",
    description="Supervisor namespaces declare CPU, memory and storage quotas and storage limits.",
    check=check_namespace_quotas,
    config={
        "requiredQuotas": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["cpu_limit", "memory_limit", "storage_request_limit"],
            "description": "resource_spec keys (vCenter quota names) that must be set and positive",
        }
    },
)


def check_vgpu_reservation(resource: Res, _ctx: Context) -> list[str]:
    if resource.type != VM_CLASS:
        return []
    props = resource.props
    profiles = first(props, "vgpu_profiles", "vgpuProfiles", "vgpu_profile", "vgpuProfile")
    if is_unknown(profiles) or not profiles:
        return []
    reservation = first(props, "memory_reservation", "memoryReservation")
    if is_unknown(reservation) or as_number(reservation) == FULL_RESERVATION:
        return []
    return [
        f"{describe(resource)} has a vGPU but memory_reservation {show(reservation)}: "
        f"set memory_reservation to {FULL_RESERVATION} (a vGPU VM does not power on otherwise)"
    ]


VGPU_RESERVATION = ResourceRule(
    name="vgpu-class-full-memory-reservation",
    description="A VM class with a vGPU reserves all of its memory (memory_reservation 100).",
    check=check_vgpu_reservation,
)

RULES: list[Rule] = [CONTAINER_RESOURCES, GPU_REQUESTS, NAMESPACE_QUOTAS, VGPU_RESERVATION]
