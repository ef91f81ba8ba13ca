"""The in-cluster platform: monitoring in prod, a tainted GPU pool, GPU pods that tolerate it
(and only they), add-ons from the allowed registry at pinned versions."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from policy.rules.common import (
    UNKNOWN,
    Context,
    NotApplicable,
    Res,
    ResourceRule,
    Rule,
    StackRule,
    Violation,
    containers,
    describe,
    dynamic,
    first,
    get,
    is_unknown,
    k8s_kind,
    listed,
    namespace_of,
    pod_template,
)
from policy.rules.supply_chain import HARBOR_PROJECTS

RELEASE = "kubernetes:helm.sh/v3:Release"
PACKAGE_INSTALL = "PackageInstall"
PACKAGE_REPOSITORY = "PackageRepository"
VM_CLASS = dynamic("vsphere", "VmClass")
# One exact version: no range (>=, ~, ^, *, x, ||), no 'latest'. A leading v is allowed.
EXACT_VERSION = re.compile(r"^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$")
DIGEST = re.compile(r"@sha256:[a-f0-9]{64}$")
# Keys in chart values that name where images come from.
IMAGE_SOURCE_KEYS = frozenset({"repository", "imageRegistry", "registry"})


def _kind(resource: Res) -> str | None:
    return k8s_kind(resource.type)


# -- monitoring-required --------------------------------------------------------------------
def _monitoring_provider(resources: Sequence[Res], charts: list[str]) -> bool:
    for resource in resources:
        if resource.type == RELEASE:
            chart = resource.props.get("chart")
            if is_unknown(chart) or (
                isinstance(chart, str) and chart.rstrip("/").rsplit("/", 1)[-1] in charts
            ):
                return True
        if _kind(resource) == PACKAGE_INSTALL:
            ref = get(resource.props, "spec", "packageRef", "refName")
            if is_unknown(ref) or (isinstance(ref, str) and ref.split(".", 1)[0] == "prometheus"):
                return True
    return False


def check_monitoring(resources: Sequence[Res], ctx: Context) -> list[Violation]:
    deployments = [r for r in resources if _kind(r) == "Deployment"]
    if not deployments:
        raise NotApplicable("the stack runs no Deployment")
    monitors = [r for r in resources if _kind(r) in ("ServiceMonitor", "PodMonitor")]
    violations = []
    covered = {namespace_of(m) for m in monitors}
    for deployment in deployments:
        namespace = namespace_of(deployment)
        if is_unknown(namespace) or any(is_unknown(c) for c in covered) or namespace in covered:
            continue
        violations.append(
            Violation(
                f"{describe(deployment)} is not scraped: no ServiceMonitor or PodMonitor in namespace "
                f"{namespace!r}; declare one for its metrics port (AiApp does with monitoring on)",
                deployment.urn,
            )
        )
    if not any(_kind(r) == "PrometheusRule" for r in resources):
        violations.append(
            Violation("the stack declares no PrometheusRule: nothing alerts on the app; add its rules", None)
        )
    if not ctx.flag("externalMonitoring") and not _monitoring_provider(
        resources, ctx.strings("monitoringCharts")
    ):
        violations.append(
            Violation(
                "no monitoring stack is declared (a Helm release of "
                f"{' or '.join(ctx.strings('monitoringCharts'))}, or the VKS prometheus package): the "
                "ServiceMonitor/PrometheusRule CRDs and Prometheus would be missing; declare it (ClusterPlatform) "
                "or set monitoring-required.externalMonitoring when another team runs it",
                None,
            )
        )
    return violations


MONITORING_REQUIRED = StackRule(
    name="monitoring-required",
    description="Every Deployment's namespace is scraped (ServiceMonitor/PodMonitor), the stack has alert rules "
    "and declares the monitoring stack that serves them.",
    check=check_monitoring,
    prod_only=True,
    config={
        "monitoringCharts": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["kube-prometheus-stack"],
            "description": "chart names that bring the Prometheus Operator, its CRDs and Prometheus",
        },
        "externalMonitoring": {
            "type": "boolean",
            "default": False,
            "description": "the cluster's monitoring stack is managed outside this stack",
        },
    },
)


# -- gpu-pool-tainted -------------------------------------------------------------------------
def _gpu_classes(resources: Sequence[Res]) -> set[str]:
    names = set()
    for resource in resources:
        if resource.type != VM_CLASS:
            continue
        profiles = first(resource.props, "vgpu_profiles", "vgpuProfiles")
        name = first(resource.props, "class_id", "name")
        if isinstance(name, str) and isinstance(profiles, list) and profiles:
            names.add(name)
    return names


def _override(pool: Mapping[str, Any], variable: str) -> Any:
    for item in listed(get(pool, "variables", "overrides")):
        if isinstance(item, Mapping) and item.get("name") == variable:
            return item.get("value")
    return None


def check_gpu_pool(resources: Sequence[Res], ctx: Context) -> list[Violation]:
    clusters = [r for r in resources if _kind(r) == "Cluster"]
    if not clusters:
        raise NotApplicable("the stack declares no Cluster")
    gpu_classes = _gpu_classes(resources)
    name_pattern = re.compile(ctx.text("gpuPoolNamePattern"))
    key = ctx.text("taintKey")
    violations = []
    for cluster in clusters:
        pools = get(cluster.props, "spec", "topology", "workers", "machineDeployments")
        if not isinstance(pools, list):
            continue
        for pool in pools:
            if not isinstance(pool, Mapping):
                continue
            vm_class, name = _override(pool, "vmClass"), pool.get("name")
            is_gpu = (isinstance(vm_class, str) and vm_class in gpu_classes) or (
                isinstance(name, str) and bool(name_pattern.search(name))
            )
            if not is_gpu:
                continue
            node = _override(pool, "node")
            if is_unknown(node):
                continue
            taints = get(node, "taints") if isinstance(node, Mapping) else None
            if is_unknown(taints):
                continue
            ok = any(
                isinstance(t, Mapping)
                and t.get("key") == key
                and t.get("effect") in ("NoSchedule", "NoExecute")
                for t in listed(taints)
            )
            if not ok:
                violations.append(
                    Violation(
                        f"GPU node pool {name!r} of {describe(cluster)} has no {key} NoSchedule taint: any pod may "
                        f"land on (and hold) its GPU nodes; add the taint (paif:vks.gpuPool.taints)",
                        cluster.urn,
                    )
                )
    return violations


TAINT_CONFIG = {
    "taintKey": {"type": "string", "default": "nvidia.com/gpu", "description": "taint key of GPU nodes"},
}
GPU_POOL_TAINTED = StackRule(
    name="gpu-pool-tainted",
    description="A GPU node pool (on a vGPU VM class, or named like one) carries the GPU NoSchedule taint.",
    check=check_gpu_pool,
    config={
        **TAINT_CONFIG,
        "gpuPoolNamePattern": {
            "type": "string",
            "default": "gpu",
            "description": "regex: pools whose name matches are GPU pools even when their VM class is not known",
        },
    },
)


# -- gpu-requests-only-tolerating -------------------------------------------------------------
def _tolerates(pod_spec: Mapping[str, Any], key: str) -> bool | None:
    tolerations = pod_spec.get("tolerations")
    if is_unknown(tolerations):
        return None
    for toleration in listed(tolerations):
        if not isinstance(toleration, Mapping):
            continue
        if toleration.get("key") == key or (
            not toleration.get("key") and toleration.get("operator") == "Exists"
        ):
            return True
    return False


def _requests_gpu(pod_spec: Mapping[str, Any], resource_name: str) -> bool | None:
    for container in containers(pod_spec):
        resources = container.spec.get("resources")
        if is_unknown(resources):
            return None
        for section in ("requests", "limits"):
            if get(resources, section, resource_name) is not None:
                return True
    return False


def check_gpu_tolerations(resource: Res, ctx: Context) -> list[str]:
    template = pod_template(resource)
    if template is None:
        return []
    key, gpu = ctx.text("taintKey"), ctx.text("gpuResource")
    tolerates, requests = _tolerates(template.spec, key), _requests_gpu(template.spec, gpu)
    if tolerates is None or requests is None:
        return []
    if requests and not tolerates:
        return [
            f"{describe(resource)} requests {gpu} but does not tolerate the {key} taint: it can never schedule "
            f"on the GPU pool; add a toleration for {key}"
        ]
    if tolerates and not requests:
        return [
            f"{describe(resource)} tolerates the {key} taint without requesting {gpu}: it would take GPU "
            f"nodes from GPU work; remove the toleration"
        ]
    return []


GPU_TOLERATIONS = ResourceRule(
    name="gpu-requests-only-tolerating",
    description="Pods that request GPUs tolerate the GPU taint, and pods that tolerate it request GPUs.",
    check=check_gpu_tolerations,
    config={
        **TAINT_CONFIG,
        "gpuResource": {
            "type": "string",
            "default": "nvidia.com/gpu",
            "description": "extended resource of a GPU",
        },
    },
)


# -- addon-sources-allowed ----------------------------------------------------------------------
def _image_sources(values: Any, path: str = "values") -> Iterator[tuple[str, str]]:
    """(path, value) of every image-source key (repository, imageRegistry, registry) in chart values."""
    if isinstance(values, Mapping):
        for key, value in values.items():
            here = f"{path}.{key}"
            if key in IMAGE_SOURCE_KEYS and isinstance(value, str) and value:
                yield here, value
            else:
                yield from _image_sources(value, here)
    elif isinstance(values, list):
        for index, item in enumerate(values):
            yield from _image_sources(item, f"{path}[{index}]")


def _allowed(resources: Sequence[Res], ctx: Context) -> list[str]:
    allowed = [p.rstrip("/") for p in ctx.strings("allowedRegistries")]
    if ctx.flag("useDeclaredHarborHosts"):
        for project in resources:
            if project.type in HARBOR_PROJECTS and isinstance(project.props.get("url"), str):
                host = urlsplit(project.props["url"]).netloc
                if host:
                    allowed.append(host)
    return allowed


def _sources(resource: Res) -> Iterator[tuple[str, Any]]:
    """(what, reference) of every artifact an add-on resource pulls."""
    if resource.type == RELEASE:
        props = resource.props
        chart, repo = props.get("chart"), get(props, "repositoryOpts", "repo")
        if repo is not None:
            yield "repositoryOpts.repo", repo
        if repo is None or not isinstance(chart, str) or "/" in chart:
            yield "chart", chart  # a bare chart name comes from repositoryOpts.repo
        values = props.get("values")
        if not is_unknown(values):
            yield from _image_sources(values)
    elif _kind(resource) == PACKAGE_REPOSITORY:
        yield "spec.fetch.imgpkgBundle.image", get(resource.props, "spec", "fetch", "imgpkgBundle", "image")


def _under(reference: str, prefix: str) -> bool:
    bare = reference.removeprefix("oci://")
    return bare == prefix or bare.startswith(prefix + "/") or bare.startswith(prefix + ":")


def check_sources(resources: Sequence[Res], ctx: Context) -> list[Violation]:
    addons = [r for r in resources if r.type == RELEASE or _kind(r) == PACKAGE_REPOSITORY]
    if not addons:
        raise NotApplicable("the stack installs no chart or package repository")
    allowed = _allowed(resources, ctx)
    if not allowed:
        return [
            Violation(
                "no registry allow-list for add-ons: addon-sources-allowed.allowedRegistries is empty and the stack "
                "declares no Harbor project; set allowedRegistries in policy/config/<stack>.json",
                None,
            )
        ]
    violations = []
    for resource in addons:
        for what, reference in _sources(resource):
            if is_unknown(reference) or reference is None:
                continue
            if not isinstance(reference, str) or not any(_under(reference, p) for p in allowed):
                violations.append(
                    Violation(
                        f"{describe(resource)} {what} {reference!r} is not from the allowed registry "
                        f"({', '.join(sorted(set(allowed)))}): mirror it there (air-gapped sites reach nothing else)",
                        resource.urn,
                    )
                )
    return violations


ADDON_SOURCES = StackRule(
    name="addon-sources-allowed",
    description="Helm charts, chart image sources and package repositories come only from the allowed registry.",
    check=check_sources,
    config={
        "allowedRegistries": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "host[:port][/project] prefixes add-ons may come from",
        },
        "useDeclaredHarborHosts": {
            "type": "boolean",
            "default": True,
            "description": "also allow the hosts of the Harbor projects the stack declares",
        },
    },
)


# -- addon-versions-pinned ---------------------------------------------------------------------
def _version_of(resource: Res) -> tuple[str, Any, str] | None:
    """(what, version, an example) of an add-on resource; None for anything else."""
    kind = _kind(resource)
    if resource.type == RELEASE:
        return "chart version", resource.props.get("version"), "77.14.0"
    if kind == PACKAGE_INSTALL:
        constraint = get(resource.props, "spec", "packageRef", "versionSelection", "constraints")
        return "versionSelection.constraints", constraint, "1.33.4+vmware.1-vks.1"
    if kind == PACKAGE_REPOSITORY:
        image = get(resource.props, "spec", "fetch", "imgpkgBundle", "image")
        if is_unknown(image):
            return "bundle", UNKNOWN, ""
        if not isinstance(image, str) or DIGEST.search(image):
            return None  # pinned by digest (or not given: the API server refuses that)
        tag = image.rsplit("/", 1)[-1].partition(":")[2].removeprefix("v")
        return "bundle tag", tag or None, "name:3.6.0-20260211 or @sha256"
    return None


def check_pinned(resource: Res, _ctx: Context) -> list[str]:
    found = _version_of(resource)
    if found is None:
        return []
    what, version, example = found
    if is_unknown(version) or (isinstance(version, str) and EXACT_VERSION.match(version)):
        return []
    return [f"{describe(resource)} {what} {version!r} is not one exact version: pin it ({example})"]


ADDON_VERSIONS = ResourceRule(
    name="addon-versions-pinned",
    description="Helm releases, package installs and package repositories name one exact version.",
    check=check_pinned,
)

RULES: list[Rule] = [MONITORING_REQUIRED, GPU_POOL_TAINTED, GPU_TOLERATIONS, ADDON_SOURCES, ADDON_VERSIONS]
