"""No false alarm: the gate (`python -m policy.gate dev`) on the committed dev stack reports no
DLVM violation, in the real engine. What the DLVM rules do catch in a real preview is
tests/policy/test_policy_engine.py's dlvm_violations fixture (a dev stack file cannot carry
those mistakes: config validation refuses a foreign or unpinned image before the pack runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policy import gate
from policy.gate import run_gate

pytestmark = pytest.mark.integration


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path / 'state'}")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return tmp_path


def dlvm_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if "dlvm-" in line]


def test_the_committed_dev_stack_has_no_dlvm_violation(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_gate(["dev"], baseline=False) == 0
    out = capsys.readouterr().out
    assert out.startswith("[PASS] dev: 0 mandatory, 0 advisory violation(s)")
    assert dlvm_lines(out) == []


def test_the_pack_really_sees_the_dev_dlvm(
    isolated: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same preview with the redirect on port 80 refused: the dev VM's workload is known in
    a credential-less preview, so the rule fires on it (the pass above is not vacuous)."""
    config = json.loads((gate.CONFIG_DIR / "dev.json").read_text())
    config["dlvm-tls-only"]["allowHttpRedirect"] = False
    strict = isolated / "policy-config"
    strict.mkdir()
    (strict / "dev.json").write_text(json.dumps(config))
    monkeypatch.setattr(gate, "CONFIG_DIR", strict)
    assert run_gate(["dev"], baseline=False) == 0  # advisory in dev
    [line] = dlvm_lines(capsys.readouterr().out)
    assert "[advisory] dlvm-tls-only (kubernetes:vmoperator.vmware.com/v1alpha3:VirtualMachine: dlvm-vm)" in line
    assert "publishes port 80 as 'http-redirect'" in line
