"""Platform rules: monitoring in prod, the GPU pool's taint, GPU pods and the taint, add-on
sources and versions. Each fixture is a compliant stack with one thing changed."""

from __future__ import annotations

from typing import Any

import pytest

from policy.rules.common import UNKNOWN, NotApplicable, Res
from policy.rules.platform import (
    ADDON_SOURCES,
    ADDON_VERSIONS,
    GPU_POOL_TAINTED,
    GPU_TOLERATIONS,
    MONITORING_REQUIRED,
    RELEASE,
)
from tests.policy.builders import HARBOR, NAMESPACE, changed, container, deployment, deployment_props, res

MIRROR = f"{HARBOR}/paif-platform"
GPU = "nvidia.com/gpu"
TAINT = {"key": GPU, "value": "present", "effect": "NoSchedule"}
CLUSTER = "kubernetes:cluster.x-k8s.io/v1beta1:Cluster"
PACKAGE_INSTALL = "kubernetes:packaging.carvel.dev/v1alpha1:PackageInstall"
PACKAGE_REPOSITORY = "kubernetes:packaging.carvel.dev/v1alpha1:PackageRepository"


def harbor_project() -> Res:
    return res(
        "pulumi-python:dynamic/harbor:Project",
        {"url": f"https://{HARBOR}", "name": "paif-chat"},
        name="harbor",
    )


def service_monitor(namespace: str = NAMESPACE) -> Res:
    props = {
        "metadata": {"name": "chat-backend", "namespace": namespace},
        "spec": {"endpoints": [{"port": "http"}]},
    }
    return res("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", props, name=f"sm-{namespace}")


def prometheus_rule() -> Res:
    return res(
        "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
        {"metadata": {"name": "r"}, "spec": {}},
        name="rule",
    )


def release(name: str = "kube-prometheus-stack", **props: Any) -> Res:
    base = {"name": name, "chart": f"oci://{MIRROR}/{name}", "version": "77.14.0", "values": {}}
    return res(RELEASE, {**base, **props}, name=name)


def package_install(version: Any = "1.33.4+vmware.1-vks.1") -> Res:
    spec = {
        "packageRef": {
            "refName": "contour.kubernetes.vmware.com",
            "versionSelection": {"constraints": version},
        }
    }
    return res(PACKAGE_INSTALL, {"metadata": {"name": "contour"}, "spec": spec}, name="contour")


def package_repository(image: str = f"{MIRROR}/vks-standard-packages:3.6.0-20260211") -> Res:
    return res(
        PACKAGE_REPOSITORY,
        {"metadata": {"name": "vks"}, "spec": {"fetch": {"imgpkgBundle": {"image": image}}}},
    )


def cluster(
    gpu_overrides: list[dict[str, Any]] | None = None, gpu_name: str = "gpu", vm_class: Any = "paif-gpu-a100"
) -> Res:
    node = {"name": "node", "value": {"labels": {"paif.dev/node-pool": "gpu"}, "taints": [TAINT]}}
    overrides = [{"name": "vmClass", "value": vm_class}, node] if gpu_overrides is None else gpu_overrides
    pools = [
        {
            "class": "node-pool",
            "name": "cpu",
            "replicas": 3,
            "variables": {"overrides": [{"name": "vmClass", "value": "cpu"}]},
        },
        {"class": "node-pool", "name": gpu_name, "replicas": 2, "variables": {"overrides": overrides}},
    ]
    return res(
        CLUSTER,
        {"metadata": {"name": "chat-vks"}, "spec": {"topology": {"workers": {"machineDeployments": pools}}}},
    )


def vm_class(name: str = "paif-gpu-a100") -> Res:
    return res(
        "pulumi-python:dynamic/vsphere:VmClass",
        {"class_id": name, "vgpu_profiles": ["grid_a100-40c"]},
        name=name,
    )


def gpu_deployment(*, tolerate: bool = True, request: bool = True) -> Res:
    c = container("embedder")
    if request:
        c = changed(c, "resources.limits", {"memory": "8Gi", GPU: 1})
    props = deployment_props("embedder", containers=[c])
    if tolerate:
        props["spec"]["template"]["spec"]["tolerations"] = [
            {"key": GPU, "operator": "Exists", "effect": "NoSchedule"}
        ]
    return res("kubernetes:apps/v1:Deployment", props, name="embedder")


class TestMonitoringRequired:
    def stack(self) -> list[Res]:
        return [deployment(), service_monitor(), prometheus_rule(), release()]

    def test_scraped_alerting_and_served_passes(self) -> None:
        assert MONITORING_REQUIRED.evaluate(self.stack()) == []

    def test_a_namespace_without_a_monitor_fails(self) -> None:
        stack = [*self.stack(), deployment("worker", namespace="batch")]
        [violation] = MONITORING_REQUIRED.evaluate(stack)
        assert "batch/worker" in violation.message and "ServiceMonitor" in violation.message

    def test_no_alert_rules_fails(self) -> None:
        stack = [r for r in self.stack() if r.name != "rule"]
        [violation] = MONITORING_REQUIRED.evaluate(stack)
        assert "PrometheusRule" in violation.message

    def test_no_monitoring_stack_fails_unless_external(self) -> None:
        stack = [r for r in self.stack() if r.type != RELEASE]
        [violation] = MONITORING_REQUIRED.evaluate(stack)
        assert "kube-prometheus-stack" in violation.message
        assert MONITORING_REQUIRED.evaluate(stack, {"externalMonitoring": True}) == []

    def test_the_vks_prometheus_package_counts(self) -> None:
        pkg = res(PACKAGE_INSTALL, {"spec": {"packageRef": {"refName": "prometheus.kubernetes.vmware.com"}}})
        stack = [*(r for r in self.stack() if r.type != RELEASE), pkg]
        assert MONITORING_REQUIRED.evaluate(stack) == []

    def test_no_deployment_is_not_applicable(self) -> None:
        with pytest.raises(NotApplicable):
            MONITORING_REQUIRED.evaluate([prometheus_rule()])


class TestGpuPoolTainted:
    def test_tainted_gpu_pool_passes(self) -> None:
        assert GPU_POOL_TAINTED.evaluate([cluster(), vm_class()]) == []

    def test_gpu_class_pool_without_taint_fails_whatever_its_name(self) -> None:
        untainted = [{"name": "vmClass", "value": "paif-gpu-a100"}]
        [violation] = GPU_POOL_TAINTED.evaluate([cluster(untainted, gpu_name="accel"), vm_class()])
        assert "'accel'" in violation.message and "nvidia.com/gpu NoSchedule taint" in violation.message

    def test_pool_named_gpu_with_an_unknown_class_is_checked(self) -> None:
        overrides: list[dict[str, Any]] = [
            {"name": "vmClass", "value": UNKNOWN},
            {"name": "node", "value": {"labels": {"a": "b"}}},
        ]
        assert len(GPU_POOL_TAINTED.evaluate([cluster(overrides)])) == 1

    def test_prefer_no_schedule_is_not_enough(self) -> None:
        node = {"name": "node", "value": {"taints": [{**TAINT, "effect": "PreferNoSchedule"}]}}
        assert (
            len(
                GPU_POOL_TAINTED.evaluate(
                    [cluster([{"name": "vmClass", "value": "paif-gpu-a100"}, node]), vm_class()]
                )
            )
            == 1
        )

    def test_unknown_node_variable_reports_nothing(self) -> None:
        overrides: list[dict[str, Any]] = [
            {"name": "vmClass", "value": "paif-gpu-a100"},
            {"name": "node", "value": UNKNOWN},
        ]
        assert GPU_POOL_TAINTED.evaluate([cluster(overrides), vm_class()]) == []

    def test_cpu_pools_need_no_taint(self) -> None:
        assert GPU_POOL_TAINTED.evaluate([cluster(), vm_class()]) == []
        with pytest.raises(NotApplicable):
            GPU_POOL_TAINTED.evaluate([deployment()])


class TestGpuRequestsOnlyTolerating:
    def test_gpu_pod_that_tolerates_passes_and_cpu_pod_without_toleration_passes(self) -> None:
        assert GPU_TOLERATIONS.evaluate(gpu_deployment()) == []
        assert GPU_TOLERATIONS.evaluate(deployment()) == []

    def test_gpu_request_without_toleration_fails(self) -> None:
        [message] = GPU_TOLERATIONS.evaluate(gpu_deployment(tolerate=False))
        assert "requests nvidia.com/gpu but does not tolerate" in message

    def test_toleration_without_gpu_request_fails(self) -> None:
        [message] = GPU_TOLERATIONS.evaluate(gpu_deployment(request=False))
        assert "without requesting nvidia.com/gpu" in message

    def test_a_blanket_toleration_counts(self) -> None:
        workload = gpu_deployment(tolerate=False)
        workload.props["spec"]["template"]["spec"]["tolerations"] = [{"operator": "Exists"}]
        assert GPU_TOLERATIONS.evaluate(workload) == []

    def test_unknown_tolerations_report_nothing(self) -> None:
        workload = gpu_deployment(tolerate=False)
        workload.props["spec"]["template"]["spec"]["tolerations"] = UNKNOWN
        assert GPU_TOLERATIONS.evaluate(workload) == []


class TestAddonSources:
    def stack(self, *addons: Res) -> list[Res]:
        return [harbor_project(), *(addons or (release(), package_repository()))]

    def test_mirror_charts_values_and_bundles_pass(self) -> None:
        gpu = release(
            "gpu-operator",
            values={"driver": {"repository": f"{MIRROR}/nvidia"}, "global": {"imageRegistry": MIRROR}},
        )
        assert ADDON_SOURCES.evaluate(self.stack(release(), gpu, package_repository())) == []

    def test_public_chart_repository_fails(self) -> None:
        public = release(chart="gpu-operator", repositoryOpts={"repo": "https://helm.ngc.nvidia.com/nvidia"})
        [violation] = ADDON_SOURCES.evaluate(self.stack(public))
        assert "repositoryOpts.repo" in violation.message and "helm.ngc.nvidia.com" in violation.message

    def test_an_image_source_in_the_values_from_elsewhere_fails(self) -> None:
        gpu = release("gpu-operator", values={"driver": {"repository": "nvcr.io/nvidia"}})
        [violation] = ADDON_SOURCES.evaluate(self.stack(gpu))
        assert "values.driver.repository" in violation.message

    def test_a_public_package_bundle_fails(self) -> None:
        bundle = package_repository(
            "projects.packages.broadcom.com/vsphere/supervisor/vks-standard-packages:3.6.0"
        )
        [violation] = ADDON_SOURCES.evaluate(self.stack(bundle))
        assert "imgpkgBundle" in violation.message

    def test_a_lookalike_host_fails(self) -> None:
        assert len(ADDON_SOURCES.evaluate(self.stack(release(chart=f"oci://{HARBOR}.evil.example/x")))) == 1

    def test_no_allow_list_fails_closed_and_config_allows(self) -> None:
        [violation] = ADDON_SOURCES.evaluate([release()])
        assert "allowedRegistries" in violation.message and violation.urn is None
        assert ADDON_SOURCES.evaluate([release()], {"allowedRegistries": [MIRROR]}) == []


class TestAddonVersionsPinned:
    @pytest.mark.parametrize("addon", [release(), package_install(), package_repository()])
    def test_exact_versions_pass(self, addon: Res) -> None:
        assert ADDON_VERSIONS.evaluate(addon) == []

    @pytest.mark.parametrize("version", [None, "", "latest", ">=77.0.0", "77.x", "~77.14", "^1.2.3", "77"])
    def test_a_release_without_one_exact_version_fails(self, version: Any) -> None:
        props = {k: v for k, v in release().props.items() if k != "version"}
        if version is not None:
            props["version"] = version
        [message] = ADDON_VERSIONS.evaluate(res(RELEASE, props))
        assert "not one exact version" in message

    @pytest.mark.parametrize("constraint", [">=1.33.0", "1.33.x", "*"])
    def test_a_package_version_range_fails(self, constraint: str) -> None:
        [message] = ADDON_VERSIONS.evaluate(package_install(constraint))
        assert "versionSelection.constraints" in message

    @pytest.mark.parametrize(
        "image", [f"{MIRROR}/vks-standard-packages", f"{MIRROR}/vks-standard-packages:latest"]
    )
    def test_an_untagged_bundle_fails(self, image: str) -> None:
        assert len(ADDON_VERSIONS.evaluate(package_repository(image))) == 1

    def test_digest_and_unknown_pass(self) -> None:
        assert ADDON_VERSIONS.evaluate(package_repository(f"{MIRROR}/vks@sha256:{'a' * 64}")) == []
        assert ADDON_VERSIONS.evaluate(release(version=UNKNOWN)) == []
