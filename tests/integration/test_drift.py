"""Drift detection (`python -m ops.drift`, what the scheduled workflow runs) against the
deployed local stack: nothing drifted after `make up`; a Deployment changed by hand with
kubectl (the API) is reported with the property and a non-zero exit; after `make up` again it passes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from ops import drift
from tests.integration.local_stack import LocalStack, deployed, make_up

pytestmark = pytest.mark.integration

LABEL = 'metadata.labels["app.kubernetes.io/part-of"]'


@pytest.fixture(scope="module")
def local() -> Iterator[LocalStack]:
    yield deployed()


def run_drift(local: LocalStack, monkeypatch: pytest.MonkeyPatch, summary: Path) -> int:
    for key, value in local.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary.with_suffix(".md")))
    return drift.main(["local", "--config-file", str(local.config_file), "--summary", str(summary)])


def test_drift_is_found_after_a_change_by_hand_and_gone_after_up(
    local: LocalStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_drift(local, monkeypatch, tmp_path / "clean.json") == 0
    assert capsys.readouterr().out.startswith("[OK] local: no drift (")

    # A change by hand, as `kubectl -n paif-chat label deployment chat-backend ...` makes it.
    api = k8s_client.AppsV1Api(k8s_config.new_client_from_config(config_file=str(local.kubeconfig)))  # type: ignore[no-untyped-call]
    api.patch_namespaced_deployment(
        "chat-backend", "paif-chat", {"metadata": {"labels": {"app.kubernetes.io/part-of": "changed-by-hand"}}}
    )
    assert run_drift(local, monkeypatch, tmp_path / "drift.json") == 1
    out = capsys.readouterr().out
    assert out.startswith("[DRIFT] local: 1 resource(s) differ from the state (update 1; ")
    assert f"    changed kubernetes:apps/v1:Deployment chat-backend: {LABEL}\n" in out
    [summary] = json.loads((tmp_path / "drift.json").read_text())
    assert [d["urn"].rsplit("::", 1)[1] for d in summary["drifted"]] == ["chat-backend"]
    assert "[DRIFT] local" in (tmp_path / "drift.md").read_text()

    make_up()
    assert run_drift(local, monkeypatch, tmp_path / "after.json") == 0
    assert capsys.readouterr().out.startswith("[OK] local: no drift (")
