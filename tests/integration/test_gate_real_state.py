"""The pull-request gate against a deployed stack's real state (`make up`): no change shows
0 changes (with or without the credentials), a label change 1 update, a database rename is
updates only (renamed in place), a PostgresCluster rename fails the gate naming the cluster
and how to approve it, a smaller database disk fails it naming the key and both sizes; the job
summary has the counts."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from policy.gate import APPROVAL_ENV, run_gate
from tests.integration.local_stack import LocalStack, deployed

pytestmark = pytest.mark.integration

CLUSTER_URN = (
    "urn:pulumi:local::paif-app::paif:data:DsmPostgres"
    "$kubernetes:databases.dataservices.vmware.com/v1alpha1:PostgresCluster::postgres-cluster"
)


@pytest.fixture(scope="module")
def local() -> Iterator[LocalStack]:
    yield deployed()


@pytest.fixture
def gate_env(local: LocalStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for key, value in local.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv(APPROVAL_ENV, raising=False)
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    return summary


def gate(local: LocalStack, directory: Path, change: Callable[[dict[str, Any]], None] | None = None) -> int:
    """The gate on the deployed stack, with a copy of its config changed by `change` (what a
    pull request changes) when given."""
    config_file = local.config_file
    if change is not None:
        document = copy.deepcopy(yaml.safe_load(local.config_file.read_text()))
        change(document["config"])
        config_file = directory / "Pulumi.local.yaml"
        config_file.write_text(yaml.safe_dump(document))
    return run_gate(["local"], baseline=False, shared_state=True, config_files={"local": config_file})


def label(config: dict[str, Any]) -> None:
    config["paif:vks"]["gpuPool"]["labels"] = {"paif.dev/node-pool": "gpu", "team": "ai"}


def rename(config: dict[str, Any]) -> None:
    config["paif:database"]["databaseName"] = "chat_renamed"


def rename_cluster(config: dict[str, Any]) -> None:
    config["paif:database"]["clusterName"] = "chat-pg-renamed"


def test_no_change_reports_zero_changes(
    local: LocalStack, gate_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gate(local, tmp_path) == 0
    out = capsys.readouterr().out
    assert re.match(r"\[PASS\] local: 0 mandatory, 0 advisory violation\(s\); .* \d+ resources \(same \d+\)\n", out), out
    assert "| local | pass | no changes (same " in gate_env.read_text()


CREDENTIALS = (
    "paif:vcenterPassword",
    "paif:harborPassword",
    "paif:paisClientSecret",
    "paif:dbAdminPassword",
    "paif:dbAppPassword",
    "paif:supervisorKubeconfig",
    "paif:workloadKubeconfig",
    "paif:nvidiaLicenseToken",
)
"""What the deploy job sets from its environment (ops/deploy.py) and a pull request's gate has not."""


def without_credentials(config: dict[str, Any]) -> None:
    for key in CREDENTIALS:
        config.pop(key, None)


def test_no_change_without_the_credentials_reports_zero_changes(
    local: LocalStack, gate_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CI case: the stack file has no credential; credentials are never a change."""
    assert any(key in yaml.safe_load(local.config_file.read_text())["config"] for key in CREDENTIALS)
    assert gate(local, tmp_path, without_credentials) == 0
    out = capsys.readouterr().out
    assert re.match(r"\[PASS\] local: 0 mandatory, 0 advisory violation\(s\); .* \d+ resources \(same \d+\)\n", out), out


def test_a_label_change_is_one_update(
    local: LocalStack, gate_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gate(local, tmp_path, label) == 0
    out = capsys.readouterr().out
    assert re.match(r"\[PASS\] local: .* \d+ resources \(same \d+, update 1\)\n", out), out
    assert "| local | pass | update 1 (same " in gate_env.read_text()


def test_a_database_rename_loses_no_data(
    local: LocalStack, gate_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Renamed in place (ALTER DATABASE ... RENAME): the database and its objects are updates;
    what only embeds the name (the app's ConfigMap, the DLVM's user data) may be replaced,
    which loses nothing, so the gate passes."""
    assert gate(local, tmp_path, rename) == 0
    out = capsys.readouterr().out
    assert out.startswith("[PASS] local: "), out
    assert "[DATA LOSS]" not in out
    replaced = [line for line in out.splitlines() if line.strip().startswith(("replace ", "delete "))]
    assert not [line for line in replaced if "dynamic/postgres" in line or "PostgresCluster" in line], out


def test_a_cluster_rename_fails_the_gate_naming_the_cluster(
    local: LocalStack, gate_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gate(local, tmp_path, rename_cluster) == 1
    out = capsys.readouterr().out
    assert out.startswith("[FAIL] local: ")
    assert "[DATA LOSS] replace of DSM PostgresCluster (database server) 'postgres-cluster'" in out
    assert CLUSTER_URN in out
    assert f"{APPROVAL_ENV}='{CLUSTER_URN}" in out
    assert "paif:protection.release[0]" in out
    summary = gate_env.read_text()
    assert "| local | FAIL |" in summary and "blocked" in summary


def shrink_database_disk(config: dict[str, Any]) -> None:
    config["paif:database"]["storageSpace"] = "10Gi"


def test_a_smaller_database_disk_fails_the_gate_naming_the_key_and_both_sizes(
    local: LocalStack, gate_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The API server would take it (our CRD, like DSM's, does not compare sizes); the program
    reads the deployed PostgresCluster through the stack's Supervisor kubeconfig and refuses."""
    deployed = yaml.safe_load(local.config_file.read_text())["config"]["paif:database"]["storageSpace"]
    assert gate(local, tmp_path, shrink_database_disk) == 1
    out = capsys.readouterr().out
    assert out.startswith("[FAIL] local: "), out
    assert (
        f"paif:database.storageSpace: given 10Gi, deployed {deployed}; the database's disk (PostgresCluster "
        f"chat-pg) never shrinks" in out
    ), out
    assert f"Allowed: {deployed} or more" in out
