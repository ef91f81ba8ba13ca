"""DsmPostgres (through infra/stack_data.py) under Pulumi mocks, per environment profile.

dev is a single server, prod is HA with backups and a maintenance window and every
stateful resource protected; the admin password goes into a Secret DSM accepts, and no
password is ever a plaintext input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
from pulumi.runtime.sync_await import _sync_await

from components.crds.postgres_cluster import PostgresClusterSpec
from components.dsm_postgres import DsmPostgres, DsmPostgresArgs
from infra.config import Secrets, Settings, parse_config
from infra.profiles import PROFILES
from infra.stack_data import DataOutputs, data_args, declare_data
from tests.unit import harness
from tests.unit.harness import Recorded, contains_plain, flatten_config, is_secret_value, run, stack_config

CLUSTER = "kubernetes:databases.dataservices.vmware.com/v1alpha1:PostgresCluster"
SECRET = "kubernetes:core/v1:Secret"
PASSWORD = "pulumi-python:dynamic/random:Password"
ROLE = "pulumi-python:dynamic/postgres:Role"
DATABASE = "pulumi-python:dynamic/postgres:Database"
SCHEMA = "pulumi-python:dynamic/postgres:Schema"
ADMIN_PASSWORD = "dsm-admin-pw-81c2"
APP_PASSWORD = "dsm-app-pw-93d4"


def settings(env: str, *, admin_password: str | None = ADMIN_PASSWORD, **database: Any) -> Settings:
    """Settings from the committed stack file with `database` keys changed; call inside a program."""
    config = stack_config(env)
    config["database"] = {**config["database"], **database}
    flat, keys = flatten_config(config)
    secrets = Secrets(
        vcenter_password=None,
        pais_client_secret=None,
        db_admin_password=None if admin_password is None else pulumi.Output.secret(admin_password),
        db_app_password=None,
        harbor_password=None,
        supervisor_kubeconfig=None,
        workload_kubeconfig=None,
    )
    parsed = parse_config(flat, set(keys), "paif-app")
    return Settings(config=parsed, profile=PROFILES[parsed.environment], secrets=secrets)


@dataclass
class Declared:
    recorded: Recorded
    protected: set[str]
    secret_outputs: dict[str, list[str]]
    outputs: DsmPostgres | None = None


def declare(env: str, *, admin_password: str | None = ADMIN_PASSWORD, **database: Any) -> Declared:
    protected: set[str] = set()
    secret_outputs: dict[str, list[str]] = {}
    component: list[DsmPostgres] = []

    def remember(args: pulumi.ResourceTransformationArgs) -> None:
        if args.opts.protect:
            protected.add(args.name)
        secret_outputs[args.name] = list(args.opts.additional_secret_outputs or [])

    def program() -> None:
        supervisor = k8s.Provider("supervisor")
        args = data_args(settings(env, admin_password=admin_password, **database), "paif-chat-ns")
        component.append(
            DsmPostgres(
                "postgres",
                args,
                opts=pulumi.ResourceOptions(providers={"kubernetes": supervisor}, transformations=[remember]),
            )
        )

    recorded = run(program, stack=env)
    return Declared(recorded, protected, secret_outputs, component[0])


def resolve(output: pulumi.Output[Any]) -> tuple[Any, bool]:
    """The value of an output and whether it is secret (after the mocked program ran)."""
    return _sync_await(output.future()), bool(_sync_await(output.is_secret()))


@pytest.fixture(scope="module")
def dev() -> Declared:
    return declare("dev")


@pytest.fixture(scope="module")
def prod() -> Declared:
    return declare("prod")


def cluster_spec(declared: Declared) -> dict[str, Any]:
    clusters = declared.recorded.of_type(CLUSTER)
    assert len(clusters) == 1
    spec: dict[str, Any] = clusters[0].props["spec"]
    return spec


def test_dev_is_a_single_server_without_backups(dev: Declared) -> None:
    spec = cluster_spec(dev)
    assert spec["replicas"] == 0
    assert "backupConfig" not in spec and "backupLocation" not in spec and "maintenanceWindow" not in spec
    assert spec["vmClass"] == {"name": "best-effort-medium"}
    assert spec["storageSpace"] == "20Gi" and spec["storagePolicyName"] == "vSAN Default Storage Policy"
    assert spec["version"] == "17.7+vmware.v9.0.2.0" and spec["adminUsername"] == "pgadmin"
    # Data is protected in every environment (paif:protection.release lifts it per object).
    # The admin password is kept in state given or generated (a run without it sees the same).
    assert dev.protected == {
        "postgres-cluster",
        "postgres-admin-password",
        "postgres-admin-secret",
        "postgres-db",
        "postgres-owner",
        "postgres-schema",
    }


def test_prod_is_ha_with_backups_and_a_maintenance_window(prod: Declared) -> None:
    spec = cluster_spec(prod)
    assert spec["replicas"] == 1
    assert spec["backupLocation"] == {"name": "paif-backups"}
    assert spec["backupConfig"] == {
        "backupRetentionDays": 30,
        "schedules": [
            {"name": "weekly-full", "type": "full", "schedule": "0 2 * * 0"},
            {"name": "daily-incremental", "type": "incremental", "schedule": "0 2 * * 1-6"},
        ],
    }
    assert spec["maintenanceWindow"] == {"startDay": "SUNDAY", "startTime": "04:00", "duration": "2h"}
    assert spec["vmClass"] == {"name": "guaranteed-large"} and spec["storageSpace"] == "200Gi"


def test_prod_protects_every_stateful_resource(prod: Declared) -> None:
    assert prod.protected == {
        "postgres-cluster",
        "postgres-admin-password",
        "postgres-admin-secret",
        "postgres-db",
        "postgres-owner",
        "postgres-schema",
    }


def test_generated_admin_password_is_protected_in_prod() -> None:
    declared = declare("prod", admin_password=None)
    assert "postgres-admin-password" in declared.protected
    assert declared.secret_outputs["postgres-admin-password"] == ["result", "given"]
    assert len(declared.recorded.of_type(PASSWORD)) == 2


def test_admin_secret_is_what_the_cluster_references(dev: Declared) -> None:
    secret = dev.recorded.one(SECRET, "postgres-admin-secret")
    name = secret.props["metadata"]["name"]
    assert name == "chat-pg-admin-password" and not name.startswith("pg-")
    assert secret.props["metadata"]["namespace"] == "paif-chat-ns"
    assert cluster_spec(dev)["adminPasswordRef"] == {"name": name}
    assert dev.recorded.of_type(CLUSTER)[0].props["metadata"]["namespace"] == "paif-chat-ns"
    string_data = secret.inputs["stringData"]
    assert is_secret_value(string_data) or is_secret_value(string_data["password"])
    assert secret.props["stringData"] == {"password": ADMIN_PASSWORD}
    assert {"data", "stringData"} <= set(dev.secret_outputs["postgres-admin-secret"])


def test_no_password_is_ever_a_plaintext_input(dev: Declared, prod: Declared) -> None:
    for declared in (dev, prod, declare("dev", admin_password=None)):
        for resource in declared.recorded.resources:
            for value in (ADMIN_PASSWORD, APP_PASSWORD):
                assert not contains_plain(resource.inputs, value), f"{value} plaintext in {resource.name}"
        app_role = declared.recorded.one(ROLE, "postgres-app")
        assert app_role.is_secret("password") and "password" in declared.secret_outputs["postgres-app"]


def test_dev_waits_for_the_cluster_and_connects_to_its_published_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class PublishingRecorder(harness.Recorder):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
            resource_id, outputs = super().new_resource(args)
            if args.typ == CLUSTER:
                outputs["status"] = {"connection": {"host": "10.20.40.7", "port": 5432}}
            return resource_id, outputs

    monkeypatch.setattr(harness, "Recorder", PublishingRecorder)
    declared = declare("dev")
    annotations = declared.recorded.of_type(CLUSTER)[0].props["metadata"]["annotations"]
    assert json.loads(annotations["pulumi.com/waitFor"]) == [
        "condition=Ready",
        "jsonpath={.status.connection.host}",
    ]
    assert int(annotations["pulumi.com/timeoutSeconds"]) >= 1800
    for resource in declared.recorded.resources:
        if resource.type.startswith("pulumi-python:dynamic/postgres:"):
            assert resource.props["host"] == "10.20.40.7", resource.name
            assert resource.props["sslmode"] == "require"
    assert declared.outputs is not None
    assert resolve(declared.outputs.host) == ("10.20.40.7", False)


def test_local_connects_to_the_configured_host_without_waiting() -> None:
    declared = declare("local")
    annotations = declared.recorded.of_type(CLUSTER)[0].props["metadata"]["annotations"]
    assert annotations == {"pulumi.com/skipAwait": "true"}
    hosts = {
        r.props["host"]
        for r in declared.recorded.resources
        if r.type.startswith("pulumi-python:dynamic/postgres:")
    }
    assert hosts == {"127.0.0.1"}


def test_prod_connects_with_verify_full(prod: Declared) -> None:
    modes = {
        r.props["sslmode"]
        for r in prod.recorded.resources
        if r.type.startswith("pulumi-python:dynamic/postgres")
    }
    assert modes == {"verify-full"}


def test_outputs_keep_the_password_secret() -> None:
    captured: list[DataOutputs] = []

    def program() -> None:
        captured.append(declare_data(settings("local"), k8s.Provider("supervisor"), "paif-local"))

    run(program, stack="local")
    data = captured[0]
    assert data.sslmode == "disable"
    assert resolve(data.host) == ("127.0.0.1", False)
    assert resolve(data.port) == (5432, False)
    assert resolve(data.database) == ("chat", False)
    assert resolve(data.user) == ("chat_app", False)
    assert resolve(data.cluster_name) == ("chat-pg", False)
    assert resolve(data.password)[1] is True


def test_connection_url_is_secret(dev: Declared) -> None:
    assert dev.outputs is not None
    url, secret = resolve(dev.outputs.connection_url)
    assert secret is True and url.startswith("postgresql://chat_app:")


def test_cluster_spec_rejects_a_reserved_secret_name() -> None:
    with pytest.raises(ValueError, match="names starting with 'pg-' are reserved by DSM"):
        PostgresClusterSpec(
            version="17",
            replicas=0,
            vm_class="small",
            storage_policy_name="policy",
            storage_space="20Gi",
            admin_username="pgadmin",
            admin_password_secret="pg-admin",
        )


def test_without_a_host_the_cluster_must_be_awaited() -> None:
    def program() -> None:
        args = data_args(settings("local"), "paif-local")
        DsmPostgres("postgres", replace(args, host=None, await_cluster=False))

    recorded = run(program, expect_error=True)
    assert "without await_cluster the cluster's host is never known" in str(recorded.error)


def test_given_app_password_is_kept_in_state_not_generated() -> None:
    def program() -> None:
        args: DsmPostgresArgs = data_args(settings("dev"), "ns")
        DsmPostgres("postgres", replace(args, app_password=pulumi.Output.secret(APP_PASSWORD)))

    recorded = run(program)
    # A Password resource holds the given value (a run without it keeps it), none is generated.
    held = recorded.one(PASSWORD, "postgres-app-password")
    assert held.is_secret("given") and held.props["given"] == APP_PASSWORD
    assert recorded.one(ROLE, "postgres-app").props["password"] == APP_PASSWORD
    assert recorded.of_type(DATABASE) and recorded.of_type(SCHEMA)
