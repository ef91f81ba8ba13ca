"""The whole program per committed stack under Pulumi mocks: what each environment declares."""

from __future__ import annotations

from functools import cache

import pytest

from tests.unit.harness import Recorded, contains_plain, run_program, stack_config

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
VM = "kubernetes:vmoperator.vmware.com/v1alpha3:VirtualMachine"
CLUSTER = "kubernetes:cluster.x-k8s.io/v1beta1:Cluster"
PG_CLUSTER = "kubernetes:databases.dataservices.vmware.com/v1alpha1:PostgresCluster"
NAMESPACE = "pulumi-python:dynamic/vsphere:SupervisorNamespace"
VM_CLASS = "pulumi-python:dynamic/vsphere:VmClass"
HARBOR_PROJECT = "pulumi-python:dynamic/harbor:Project"
HARBOR_ROBOT = "pulumi-python:dynamic/harbor:RobotAccount"
HARBOR_RETENTION = "pulumi-python:dynamic/harbor:RetentionPolicy"
HARBOR_IMMUTABLE = "pulumi-python:dynamic/harbor:ImmutableTagRule"
PG_ROLE = "pulumi-python:dynamic/postgres:Role"
PG_DATABASE = "pulumi-python:dynamic/postgres:Database"

SECRETS = {
    "vcenterPassword": "vcenter-pw-0451",
    "paisClientSecret": "pais-secret-0452",
    "harborPassword": "harbor-pw-0453",
    "dbAdminPassword": "db-admin-pw-0454",
}


WORKLOAD_KUBECONFIG = (
    "apiVersion: v1\nkind: Config\n"
    "clusters: [{name: workload, cluster: {server: 'https://workload.example:6443'}}]\n"
    "users: [{name: admin, user: {token: workload-token}}]\n"
    "contexts: [{name: workload, context: {cluster: workload, user: admin}}]\n"
    "current-context: workload\n# workload-0455\n"
)


@cache
def declared(env: str) -> Recorded:
    secrets = {k: v for k, v in SECRETS.items() if env != "local" or k != "harborPassword"}
    if env == "prod":
        secrets["workloadKubeconfig"] = WORKLOAD_KUBECONFIG
    return run_program(stack_config(env), secrets, stack=env)


def gpu_class(env: str) -> str:
    return str(stack_config(env)["vsphere"]["gpuClass"])


@pytest.mark.parametrize("env", ["local", "dev", "prod"])
def test_vsphere_objects_in_every_environment(env: str) -> None:
    rec = declared(env)
    assert len(rec.of_type(NAMESPACE)) == 1
    assert len(rec.of_type(VM_CLASS)) == len(stack_config(env)["vsphere"]["vmClasses"])
    assert len(rec.of_type(PG_CLUSTER)) == 1
    assert rec.of_type(PG_ROLE) and rec.of_type(PG_DATABASE)


@pytest.mark.parametrize("env", ["local", "dev", "prod"])
def test_secret_config_never_in_plaintext(env: str) -> None:
    rec = declared(env)
    for resource in rec.resources:
        for value in [*SECRETS.values(), "workload-0455"]:
            assert not contains_plain(resource.inputs, value), f"{value} in plaintext in {resource.type} {resource.name}"


def test_prod_runs_ha_app_on_the_vks_cluster() -> None:
    rec = declared("prod")
    deployments = rec.of_type(DEPLOYMENT)
    assert len(deployments) == 2
    assert all(d.props["spec"]["replicas"] >= 2 for d in deployments)
    assert len(rec.of_type(HPA)) == 2 and all(h.props["spec"]["minReplicas"] >= 2 for h in rec.of_type(HPA))
    assert len(rec.of_type(PDB)) == 2
    ingress = rec.of_type(INGRESS)[0].props["spec"]
    assert ingress["tls"][0]["hosts"] == [stack_config("prod")["app"]["hostname"]]
    tiers = {
        p.props["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/component", "*")
        for p in rec.of_type(NETPOL)
    }
    assert tiers == {"*", "frontend", "backend"}

    clusters = rec.of_type(CLUSTER)
    assert len(clusters) == 1
    topology = clusters[0].props["spec"]["topology"]
    assert topology["controlPlane"]["replicas"] == 3
    pools = {md["name"]: md for md in topology["workers"]["machineDeployments"]}
    gpu_overrides = {o["name"]: o["value"] for o in pools["gpu"]["variables"]["overrides"]}
    assert gpu_overrides["vmClass"] == gpu_class("prod")

    supervisor = {r.provider for r in rec.of_type(CLUSTER)}
    app = {r.provider for r in deployments}
    assert len(app) == 1 and app.isdisjoint(supervisor), "AiApp must deploy through the workload-cluster provider"
    assert not rec.of_type(VM)


def test_prod_database_is_ha_with_backups() -> None:
    spec = declared("prod").of_type(PG_CLUSTER)[0].props["spec"]
    assert spec["replicas"] == 1
    assert spec["backupConfig"]["schedules"]
    assert spec["maintenanceWindow"]["startDay"] == "SUNDAY"


def test_prod_harbor_is_complete() -> None:
    rec = declared("prod")
    assert len(rec.of_type(HARBOR_PROJECT)) == 1
    assert len(rec.of_type(HARBOR_ROBOT)) == 2
    assert len(rec.of_type(HARBOR_RETENTION)) == 1
    assert len(rec.of_type(HARBOR_IMMUTABLE)) == 1


def test_dev_runs_on_a_dlvm_without_deployments() -> None:
    rec = declared("dev")
    vms = rec.of_type(VM)
    assert len(vms) == 1
    assert vms[0].props["spec"]["className"] == gpu_class("dev")
    assert vms[0].props["spec"]["powerState"] == "PoweredOn"
    assert not rec.of_type(DEPLOYMENT)
    assert not rec.of_type(HPA) and not rec.of_type(PDB)
    assert not rec.of_type(CLUSTER)
    assert rec.of_type(PG_CLUSTER)[0].props["spec"]["replicas"] == 0
    assert len(rec.of_type(HARBOR_PROJECT)) == 1
    assert not rec.of_type(HARBOR_RETENTION)


def test_local_declares_everything_but_harbor() -> None:
    rec = declared("local")
    assert [d.props["spec"]["replicas"] for d in rec.of_type(DEPLOYMENT)] == [1, 1]
    assert not rec.of_type(HPA) and not rec.of_type(PDB)
    assert rec.of_type(VM) and rec.of_type(CLUSTER)
    assert not [t for t in rec.types() if "harbor" in t]


@pytest.mark.parametrize("env", ["local", "dev", "prod"])
def test_outputs(env: str) -> None:
    exports = declared(env).exports
    assert {"environment", "supervisorNamespace", "gpuVmClass", "dbHost", "dbName"} <= set(exports)
    assert ("appUrl" in exports) == (env != "dev")
    assert ("dlvmName" in exports) == (env != "prod")
    assert ("registryProject" in exports) == (env != "local")


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_up_without_secrets_names_every_missing_key_and_registers_nothing(env: str) -> None:
    rec = run_program(stack_config(env), {}, stack=env, expect_error=True)
    assert rec.resources == []
    message = str(rec.error)
    assert "nothing was changed" in message
    for key in ("vcenterPassword", "paisClientSecret", "harborPassword"):
        assert f"pulumi config set --secret paif:{key}" in message, message


def test_preview_without_secrets_registers_the_graph() -> None:
    rec = run_program(stack_config("dev"), {}, stack="dev", preview=True)
    assert rec.error is None and len(rec.of_type(NAMESPACE)) == 1


def test_local_objects_a_kubelet_would_make_ready_are_not_awaited() -> None:
    """No kubelet, controllers or storage run beside the local API server."""
    rec = declared("local")
    awaited = [
        r
        for r in rec.resources
        if r.type
        in (
            DEPLOYMENT,
            "kubernetes:core/v1:PersistentVolumeClaim",
            "kubernetes:core/v1:Service",
            INGRESS,
            VM,
            PG_CLUSTER,
        )
    ]
    assert any(r.type == "kubernetes:core/v1:PersistentVolumeClaim" for r in awaited)
    for r in awaited:
        annotations = r.props["metadata"].get("annotations") or {}
        assert annotations.get("pulumi.com/skipAwait") == "true", f"{r.type} {r.name} would be awaited"
