"""The pack sees dev's workloads in the real engine: the gate (`python -m policy.gate dev`) on
the committed dev stack reports no DLVM violation, and on a dev stack whose frontend image comes
from Docker Hub it names the VirtualMachine (the images live only in the user data
and the workload annotation: before the DLVM rules, the pack saw nothing in dev)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from policy.gate import ROOT, run_gate

pytestmark = pytest.mark.integration
DEV_STACK = ROOT / "stacks" / "Pulumi.dev.yaml"


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


def test_foreign_images_on_the_dlvm_are_reported(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack = yaml.safe_load(DEV_STACK.read_text())
    app = stack["config"]["paif:app"]
    app["frontendImage"] = "docker.io/library/nginx:1.27"
    bad = isolated / "Pulumi.dev.yaml"
    bad.write_text(yaml.safe_dump(stack))

    assert run_gate(["dev"], baseline=False, config_files={"dev": bad}) == 0  # advisory in dev
    lines = dlvm_lines(capsys.readouterr().out)
    vm = "kubernetes:vmoperator.vmware.com/v1alpha3:VirtualMachine: dlvm-vm"
    pulls = [line for line in lines if "pulls 'docker.io/library/nginx:1.27'" in line]
    # The frontend and the TLS proxy run that image.
    assert len(pulls) == 2 and all(f"[advisory] dlvm-images-pinned-allowed ({vm})" in line for line in pulls)
    assert len(lines) == 2, lines
