"""The whole program per committed stack under Pulumi mocks: what each environment declares."""

from __future__ import annotations

import json
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
    "nvidiaLicenseToken": "nvidia-token-0456",
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
    assert all("replicas" not in d.props["spec"] for d in deployments), "the HPAs own spec.replicas"
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


def test_local_awaits_workloads_but_not_custom_resources_without_a_controller() -> None:
    """The local node runs pods, so Deployments, Services, Ingress and PVCs are awaited as in
    dev/prod; no VM Service, Cluster API or DSM runs locally, so their objects are not."""
    rec = declared("local")
    workloads = [
        r
        for r in rec.resources
        if r.type in (DEPLOYMENT, "kubernetes:core/v1:PersistentVolumeClaim", "kubernetes:core/v1:Service", INGRESS)
    ]
    assert {r.type for r in workloads} == {
        DEPLOYMENT,
        "kubernetes:core/v1:PersistentVolumeClaim",
        "kubernetes:core/v1:Service",
        INGRESS,
    }
    for r in workloads:
        annotations = r.props["metadata"].get("annotations") or {}
        assert "pulumi.com/skipAwait" not in annotations, f"{r.type} {r.name} is not awaited"
    custom = [r for r in rec.resources if r.type in (VM, CLUSTER, PG_CLUSTER)]
    assert {r.type for r in custom} == {VM, CLUSTER, PG_CLUSTER}
    for r in custom:
        assert r.props["metadata"]["annotations"].get("pulumi.com/skipAwait") == "true", f"{r.type} {r.name}"


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_dev_and_prod_await_everything(env: str) -> None:
    for r in declared(env).resources:
        annotations = (r.props.get("metadata") or {}).get("annotations") or {}
        assert "pulumi.com/skipAwait" not in annotations, f"{r.type} {r.name} is not awaited in {env}"


@pytest.mark.parametrize(("env", "ingress_class"), [("local", "traefik"), ("prod", "contour")])
def test_the_ingress_names_the_class_that_serves_it(env: str, ingress_class: str) -> None:
    [ingress] = declared(env).of_type(INGRESS)
    assert ingress.props["spec"]["ingressClassName"] == ingress_class


def test_the_ingress_class_is_config() -> None:
    cfg = stack_config("prod")
    cfg["app"] = {**cfg["app"], "ingressClassName": "nginx"}
    secrets = {**SECRETS, "workloadKubeconfig": WORKLOAD_KUBECONFIG}
    [ingress] = run_program(cfg, secrets, stack="prod").of_type(INGRESS)
    assert ingress.props["spec"]["ingressClassName"] == "nginx"


def backend_ingress(rec: Recorded) -> list[dict[str, object]]:
    [policy] = [p for p in rec.of_type(NETPOL) if p.props["metadata"]["name"] == "chat-backend"]
    rules: list[dict[str, object]] = policy.props["spec"]["ingress"]
    return rules


def scrape_namespaces(rec: Recorded) -> list[str]:
    return [
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for rule in backend_ingress(rec)
        for peer in rule["from"]  # type: ignore[attr-defined]
        if "namespaceSelector" in peer
    ]


def test_prod_lets_the_monitoring_namespace_scrape_the_backend() -> None:
    assert scrape_namespaces(declared("prod")) == ["tanzu-system-monitoring"]
    cfg = stack_config("prod")
    cfg["app"] = {**cfg["app"], "monitoringNamespace": "monitoring"}
    secrets = {**SECRETS, "workloadKubeconfig": WORKLOAD_KUBECONFIG}
    assert scrape_namespaces(run_program(cfg, secrets, stack="prod")) == ["monitoring"]


def test_local_has_no_scrape_rule() -> None:
    assert scrape_namespaces(declared("local")) == []


def app_config(rec: Recorded) -> dict[str, str]:
    [config_map] = [c for c in rec.of_type("kubernetes:core/v1:ConfigMap") if c.name == "chat-config"]
    data: dict[str, str] = config_map.props["data"]
    return data


def test_local_pods_reach_the_database_by_name_while_the_engine_uses_loopback() -> None:
    rec = declared("local")
    assert app_config(rec)["DB_HOST"] == "db.local.paif.test"
    assert {r.props["host"] for r in rec.of_type(PG_ROLE)} == {"127.0.0.1"}


def test_the_app_uses_the_database_host_when_no_app_host_is_given() -> None:
    cfg = stack_config("local")
    cfg["database"] = {k: v for k, v in cfg["database"].items() if k != "appHost"}
    rec = run_program(cfg, {k: v for k, v in SECRETS.items() if k != "harborPassword"}, stack="local")
    assert app_config(rec)["DB_HOST"] == "127.0.0.1"


def test_local_backend_egress_reaches_the_node_address() -> None:
    """PAIS stand-in and PostgreSQL listen on the node's bridge address, 198.18.0.1."""
    [policy] = [p for p in declared("local").of_type(NETPOL) if p.props["metadata"]["name"] == "chat-backend"]
    cidrs = [peer["ipBlock"]["cidr"] for rule in policy.props["spec"]["egress"] for peer in rule["to"] if "ipBlock" in peer]
    assert cidrs == ["198.18.0.1/32", "198.18.0.1/32"]


@pytest.mark.parametrize(
    ("env", "access_mode", "storage_class"),
    [("local", "ReadWriteOnce", None), ("prod", "ReadWriteMany", "vsan-default-storage-policy")],
)
def test_uploads_volume_fits_the_replica_count(env: str, access_mode: str, storage_class: str | None) -> None:
    [claim] = declared(env).of_type("kubernetes:core/v1:PersistentVolumeClaim")
    assert claim.props["spec"]["accessModes"] == [access_mode]
    assert claim.props["spec"].get("storageClassName") == storage_class


def test_prod_backend_verifies_the_database_with_the_configured_ca() -> None:
    rec = declared("prod")
    config = app_config(rec)
    assert config["DB_SSLMODE"] == "verify-full"
    assert config["DB_SSLROOTCERT"] == "/etc/paif/ca/db.crt"
    assert "PAIS_CA_BUNDLE" not in config
    [ca] = [c for c in rec.of_type("kubernetes:core/v1:ConfigMap") if c.name == "chat-ca"]
    bundle = ca.props["data"]["db.crt"]
    assert bundle == stack_config("prod")["database"]["caBundle"]
    assert bundle.startswith("-----BEGIN CERTIFICATE-----") and bundle.endswith("-----END CERTIFICATE-----\n")


def test_a_pais_ca_bundle_is_delivered_as_pais_ca_bundle() -> None:
    cfg = stack_config("local")
    cfg["pais"] = {**cfg["pais"], "caBundle": stack_config("prod")["database"]["caBundle"]}
    rec = run_program(cfg, {k: v for k, v in SECRETS.items() if k != "harborPassword"}, stack="local")
    config = app_config(rec)
    assert config["PAIS_CA_BUNDLE"] == "/etc/paif/ca/pais.crt"
    assert "DB_SSLROOTCERT" not in config
    [ca] = [c for c in rec.of_type("kubernetes:core/v1:ConfigMap") if c.name == "chat-ca"]
    assert set(ca.props["data"]) == {"pais.crt"}


@pytest.mark.parametrize("env", ["local", "dev", "prod"])
def test_kubernetes_providers_have_an_identity_and_a_client_limit(env: str) -> None:
    """A new kubeconfig for the same cluster (a fresh token, no kubeconfig in a credential-less
    preview) must update the provider, never replace it and everything it manages; and its
    client must not throttle a refresh to 50 requests a second."""
    providers = declared(env).of_type("pulumi:providers:kubernetes")
    assert providers
    for provider in providers:
        assert provider.props.get("clusterIdentifier"), provider.name
        # Provider inputs reach the engine JSON-encoded.
        assert json.loads(provider.props["kubeClientSettings"]) == {"qps": 300, "burst": 600}, provider.name
    supervisor = next(p for p in providers if p.name == "supervisor")
    namespace = stack_config(env)["vsphere"]["namespace"]["name"]
    assert supervisor.props["clusterIdentifier"].endswith(f"/{namespace}")
    assert ":" not in supervisor.props["clusterIdentifier"], "the port is not part of the identity"
