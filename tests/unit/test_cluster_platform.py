"""ClusterPlatform in the prod program under Pulumi mocks: every add-on, its source (the Harbor
mirror, pinned), the dependency order, the monitoring content, and the GPU pool."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from typing import Any

import pulumi
import pytest
import yaml

from tests.unit.harness import Recorded, contains_plain, run_program, stack_config, unwrap
from tests.unit.test_program import SECRETS, WORKLOAD_KUBECONFIG

RELEASE = "kubernetes:helm.sh/v3:Release"
PACKAGE_INSTALL = "kubernetes:packaging.carvel.dev/v1alpha1:PackageInstall"
PACKAGE_REPOSITORY = "kubernetes:packaging.carvel.dev/v1alpha1:PackageRepository"
CLUSTER_ISSUER = "kubernetes:cert-manager.io/v1:ClusterIssuer"
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
INGRESS_CLASS = "kubernetes:networking.k8s.io/v1:IngressClass"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CLUSTER = "kubernetes:cluster.x-k8s.io/v1beta1:Cluster"
MIRROR = "harbor.paif.example.internal/paif-platform"
CA_KEY = "-----BEGIN EC PRIVATE KEY-----\nca-key-0457\n-----END EC PRIVATE KEY-----\n"


class DependencyLog:
    """Records, for every resource the program registers, the names it explicitly depends on."""

    def __init__(self) -> None:
        self.edges: dict[str, set[str]] = {}

    def record(self, name: str, opts: pulumi.ResourceOptions | None) -> None:
        raw: Any = (opts.depends_on if opts else None) or []
        deps: list[Any] = [raw] if isinstance(raw, pulumi.Resource) else list(raw)
        # A child registers only once its parent's URN is known, and a parent registers only
        # once its depends_on are created: children wait for what their component waits for.
        if opts is not None and opts.parent is not None:
            deps.append(opts.parent)
        self.edges.setdefault(name, set()).update(
            getattr(d, "_name", "") for d in deps if isinstance(d, pulumi.Resource)
        )

    def before(self, first: str, then: str) -> bool:
        """`first` is reachable from `then` through depends_on edges."""
        seen, todo = set(), [then]
        while todo:
            node = todo.pop()
            for dep in self.edges.get(node, ()):
                if dep == first:
                    return True
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        return False


@pytest.fixture(scope="module")
def prod() -> Iterator[tuple[Recorded, DependencyLog]]:
    log = DependencyLog()
    original = pulumi.Resource.__init__

    def spy(self: pulumi.Resource, *args: Any, **kwargs: Any) -> None:
        # Resource.__init__(t, name, custom, props, opts, ...)
        log.record(args[1], args[4] if len(args) > 4 else kwargs.get("opts"))
        original(self, *args, **kwargs)

    pulumi.Resource.__init__ = spy  # type: ignore[method-assign]
    try:
        secrets = {**SECRETS, "workloadKubeconfig": WORKLOAD_KUBECONFIG, "corporateCaKey": CA_KEY}
        config = stack_config("prod")
        config["vks"]["platform"]["certManager"]["caCertificate"] = config["database"]["caBundle"]
        yield run_program(config, secrets, stack="prod"), log
    finally:
        pulumi.Resource.__init__ = original  # type: ignore[method-assign]


def rec_of(prod: tuple[Recorded, DependencyLog]) -> Recorded:
    return prod[0]


def test_every_add_on_is_declared_from_the_harbor_mirror_at_a_pinned_version(
    prod: tuple[Recorded, DependencyLog],
) -> None:
    rec = rec_of(prod)
    [repo] = rec.of_type(PACKAGE_REPOSITORY)
    assert (
        repo.props["spec"]["fetch"]["imgpkgBundle"]["image"]
        == f"{MIRROR}/vks-standard-packages:3.6.0-20260211"
    )
    installs = {
        r.props["spec"]["packageRef"]["refName"]: r.props["spec"] for r in rec.of_type(PACKAGE_INSTALL)
    }
    assert installs.keys() == {
        "cert-manager.kubernetes.vmware.com",
        "contour.kubernetes.vmware.com",
        "fluent-bit.kubernetes.vmware.com",
    }
    assert installs["contour.kubernetes.vmware.com"]["packageRef"]["versionSelection"] == {
        "constraints": "1.33.4+vmware.1-vks.1"
    }
    for install in rec.of_type(PACKAGE_INSTALL):
        assert (
            install.props["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=ReconcileSucceeded"
        )
    releases = {r.props["name"]: r.props for r in rec.of_type(RELEASE)}
    assert releases.keys() == {"kube-prometheus-stack", "gpu-operator"}
    assert releases["kube-prometheus-stack"]["chart"] == f"oci://{MIRROR}/kube-prometheus-stack"
    assert releases["kube-prometheus-stack"]["version"] == "77.14.0"
    assert releases["gpu-operator"]["chart"] == f"oci://{MIRROR}/gpu-operator"
    assert releases["gpu-operator"]["version"] == "v25.10.0"


def test_contour_serves_a_load_balancer_and_its_class(prod: tuple[Recorded, DependencyLog]) -> None:
    rec = rec_of(prod)
    values = yaml.safe_load(rec.one(SECRET, "platform-contour-values").props["stringData"]["values.yaml"])
    assert values["envoy"]["service"]["type"] == "LoadBalancer"
    [ingress_class] = rec.of_type(INGRESS_CLASS)
    assert ingress_class.props["metadata"]["name"] == "contour"
    assert ingress_class.props["spec"] == {"controller": "projectcontour.io/ingress-controller"}
    [app_ingress] = rec.of_type(INGRESS)
    assert app_ingress.props["spec"]["ingressClassName"] == "contour"


def test_cluster_issuer_signs_with_the_corporate_ca_from_a_pulumi_secret(
    prod: tuple[Recorded, DependencyLog],
) -> None:
    rec = rec_of(prod)
    [issuer] = rec.of_type(CLUSTER_ISSUER)
    assert issuer.props["metadata"]["name"] == "corp-ca"
    assert issuer.props["spec"] == {"ca": {"secretName": "corp-ca"}}
    ca = rec.one(SECRET, "platform-corp-ca")
    assert ca.props["metadata"]["namespace"] == "cert-manager" and ca.props["type"] == "kubernetes.io/tls"
    assert ca.is_secret("stringData") or all(isinstance(v, dict) for v in ca.inputs["stringData"].values())
    for resource in rec.resources:
        assert not contains_plain(resource.inputs, "ca-key-0457"), resource.name
    app_ingress = rec.of_type(INGRESS)[0]
    assert app_ingress.props["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "corp-ca"


def test_fluent_bit_ships_app_logs_and_the_audit_log_with_their_retention(
    prod: tuple[Recorded, DependencyLog],
) -> None:
    values = yaml.safe_load(
        rec_of(prod).one(SECRET, "platform-fluent-bit-values").props["stringData"]["values.yaml"]
    )
    outputs = values["fluent_bit"]["config"]["outputs"]
    assert "Match kube.*" in outputs and "Match apiserver_audit.*" in outputs
    assert "Record retention_days 30" in outputs and "Record retention_days 365" in outputs
    assert "Host logs.paif.example.internal" in outputs and "tls.verify On" in outputs


def test_gpu_operator_uses_the_mirror_driver_licensing_secret_and_dcgm_service_monitor(
    prod: tuple[Recorded, DependencyLog],
) -> None:
    rec = rec_of(prod)
    values = next(r for r in rec.of_type(RELEASE) if r.props["name"] == "gpu-operator").props["values"]
    assert values["driver"]["repository"] == f"{MIRROR}/nvidia"
    assert values["driver"]["version"] == "580.95.05-ubuntu24.04"
    assert values["driver"]["licensingConfig"] == {"secretName": "licensing-config", "nlsEnabled": True}
    assert values["dcgmExporter"]["serviceMonitor"]["enabled"] is True
    taint = {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}
    assert values["daemonsets"]["tolerations"] == [taint]
    for component in ("operator", "validator", "toolkit", "devicePlugin", "gfd", "dcgmExporter"):
        assert values[component]["repository"].startswith(MIRROR + "/"), component
    licensing = rec.one(SECRET, "platform-gpu-licensing")
    assert licensing.props["metadata"]["name"] == "licensing-config"
    assert set(licensing.props["stringData"]) == {"gridd.conf", "client_configuration_token.tok"}
    assert licensing.is_secret("stringData") or all(
        isinstance(v, dict) for v in licensing.inputs["stringData"].values()
    )
    for resource in rec.resources:
        assert not contains_plain(resource.inputs, SECRETS["nvidiaLicenseToken"]), resource.name


def test_monitoring_content_rules_and_dashboards(prod: tuple[Recorded, DependencyLog]) -> None:
    rec = rec_of(prod)
    rules = rec.one(PROMETHEUS_RULE, "platform-rules").props["spec"]["groups"]
    alerts = {r["alert"] for g in rules for r in g["rules"] if "alert" in r}
    records = {r["record"] for g in rules for r in g["rules"] if "record" in r}
    assert alerts == {
        "ChatBackendHighP99Latency",
        "ChatBackendHigh4xxRatio",
        "ChatBackendTooManyInFlight",
        "ChatPodRestarting",
        "GpuSaturated",
        "GpuFramebufferNearlyFull",
    }
    assert {f"paif:http_request_duration_seconds:p{q}_5m" for q in (50, 95, 99)} <= records
    dashboards = {
        c.props["metadata"]["name"]: c.props
        for c in rec.of_type(CONFIG_MAP)
        if "dashboard" in c.props["metadata"]["name"]
    }
    assert dashboards.keys() == {"paif-app-dashboard", "paif-gpu-dashboard"}
    for board in dashboards.values():
        assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert board["metadata"]["namespace"] == "tanzu-system-monitoring"
        [content] = board["data"].values()
        panels = json.loads(content)["panels"]
        assert panels and all(p["targets"] for p in panels)
    kps = next(r for r in rec.of_type(RELEASE) if r.props["name"] == "kube-prometheus-stack").props["values"]
    assert kps["prometheus"]["prometheusSpec"]["serviceMonitorSelectorNilUsesHelmValues"] is False
    assert kps["prometheus"]["prometheusSpec"]["ruleSelectorNilUsesHelmValues"] is False
    assert kps["grafana"]["sidecar"]["dashboards"]["label"] == "grafana_dashboard"
    assert kps["grafana"]["admin"]["existingSecret"] == "grafana-admin", (
        "never the chart's published default password"
    )
    admin = rec.one(SECRET, "platform-grafana-admin")
    assert admin.props["metadata"]["namespace"] == "tanzu-system-monitoring"
    assert admin.is_secret("stringData") or all(
        isinstance(v, dict) for v in admin.inputs["stringData"].values()
    )
    assert kps["grafana"]["ingress"]["tls"] == [
        {"secretName": "grafana-tls", "hosts": ["grafana.paif.example.com"]}
    ]
    [certificate] = rec.of_type("kubernetes:cert-manager.io/v1:Certificate")
    assert certificate.props["spec"]["issuerRef"] == {
        "group": "cert-manager.io",
        "kind": "ClusterIssuer",
        "name": "corp-ca",
    }
    assert certificate.props["spec"]["secretName"] == "grafana-tls"


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ("platform-package-repository", "platform-cert-manager-install"),
        ("platform-cert-manager-install", "platform-cluster-issuer"),
        ("platform-corp-ca", "platform-cluster-issuer"),
        ("platform-cert-manager-install", "platform-contour-install"),
        ("platform-contour-install", "platform-ingress-class"),
        ("platform-package-repository", "platform-fluent-bit-install"),
        ("platform-monitoring", "platform-rules"),
        ("platform-monitoring", "platform-dashboard-paif-app"),
        ("platform-monitoring", "platform-gpu-operator"),
        ("platform-gpu-licensing", "platform-gpu-operator"),
        ("platform-cluster-issuer", "platform-grafana-certificate"),
        ("platform-grafana-certificate", "platform-monitoring"),
        ("platform-grafana-admin", "platform-monitoring"),
        ("platform-contour-install", "platform-monitoring"),
    ],
)
def test_objects_depend_on_the_add_on_that_brings_their_crd_or_controller(
    prod: tuple[Recorded, DependencyLog], first: str, then: str
) -> None:
    assert prod[1].before(first, then), f"{then} does not wait for {first}"
    assert not prod[1].before(then, first), f"{first} waits for {then}: a cycle"


@pytest.mark.parametrize(
    "dep", ["platform-cluster-issuer", "platform-contour-install", "platform-monitoring", "platform-rules"]
)
def test_the_app_waits_for_the_platform(prod: tuple[Recorded, DependencyLog], dep: str) -> None:
    assert prod[1].before(dep, "chat"), f"the app does not wait for {dep}"


def test_app_pods_tolerate_nothing_gpu(prod: tuple[Recorded, DependencyLog]) -> None:
    for deployment in rec_of(prod).of_type(DEPLOYMENT):
        pod = deployment.props["spec"]["template"]["spec"]
        assert "tolerations" not in pod, deployment.name
        for container in pod["containers"]:
            assert "nvidia.com/gpu" not in json.dumps(container.get("resources", {})), deployment.name


def test_gpu_pool_autoscaler_bounds_replace_the_replica_count() -> None:
    config = stack_config("prod")
    config["vks"]["gpuPool"] |= {"minReplicas": 1, "maxReplicas": 4}
    config["vks"]["platform"]["autoscaler"] = {"packageVersion": "1.33.0+vmware.1-vks.1"}
    secrets = {**SECRETS, "workloadKubeconfig": WORKLOAD_KUBECONFIG}
    rec = run_program(config, secrets, stack="prod")
    # The annotations need the autoscaler: the VKS package, for this cluster, from the mirror's repository.
    [install] = [p for p in rec.of_type(PACKAGE_INSTALL) if p.name == "platform-cluster-autoscaler-install"]
    spec = install.props["spec"]
    assert spec["packageRef"]["refName"] == "cluster-autoscaler.kubernetes.vmware.com"
    assert spec["packageRef"]["versionSelection"]["constraints"] == "1.33.0+vmware.1-vks.1"
    [values] = [s for s in rec.of_type(SECRET) if s.name == "platform-cluster-autoscaler-values"]
    rendered = yaml.safe_load(unwrap(values.props["stringData"])["values.yaml"])
    assert rendered == {"clusterConfig": {"clusterName": "chat-vks", "clusterNamespace": "paif-chat-prod"}}
    pools = {
        p["name"]: p
        for p in rec.of_type(CLUSTER)[0].props["spec"]["topology"]["workers"]["machineDeployments"]
    }
    assert "replicas" not in pools["gpu"], "nil replicas: the autoscaler owns the count"
    annotations = pools["gpu"]["metadata"]["annotations"]
    assert annotations["cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size"] == "1"
    assert annotations["cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size"] == "4"
    assert pools["cpu"]["replicas"] == 3


@cache
def _local() -> Recorded:
    secrets = {k: v for k, v in SECRETS.items() if k != "harborPassword"}
    return run_program(stack_config("local"), secrets, stack="local")


def test_no_autoscaler_without_bounds() -> None:
    rec = run_program(stack_config("prod"), {**SECRETS, "workloadKubeconfig": WORKLOAD_KUBECONFIG}, stack="prod")
    assert "cluster-autoscaler" not in json.dumps([p.props for p in rec.of_type(PACKAGE_INSTALL)])


@pytest.mark.parametrize("env", ["local", "dev"])
def test_no_platform_where_nothing_could_run_it(env: str) -> None:
    rec = _local() if env == "local" else run_program(stack_config("dev"), SECRETS, stack="dev")
    assert not rec.of_type(RELEASE) and not rec.of_type(PACKAGE_INSTALL)


def test_up_without_the_licence_token_names_the_key() -> None:
    secrets = {k: v for k, v in SECRETS.items() if k != "nvidiaLicenseToken"}
    secrets["workloadKubeconfig"] = WORKLOAD_KUBECONFIG
    rec = run_program(stack_config("prod"), secrets, stack="prod", expect_error=True)
    assert "paif:nvidiaLicenseToken: required key is missing" in str(rec.error)
    assert rec.resources == [], "refused before anything is registered"


def test_preview_needs_no_licence_token() -> None:
    secrets = {k: v for k, v in SECRETS.items() if k != "nvidiaLicenseToken"}
    rec = run_program(stack_config("prod"), secrets, stack="prod", preview=True)
    assert rec.of_type(RELEASE)
