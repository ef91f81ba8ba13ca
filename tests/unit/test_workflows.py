"""The GitHub workflows: every `run` step calls a script a test runs here, deploys run on
self-hosted runners labelled per environment with prod after dev, and no workflow stores a
Supervisor kubeconfig."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
# What a step may run, and the test that runs the same command here.
SCRIPTS = {
    "make setup": "tests/integration/test_toolchain.py",
    "make lint": "Makefile (make lint)",
    "make unit": "Makefile (make unit)",
    ".venv/bin/python -m policy.gate": "tests/integration/test_gate_real_state.py",
    ".venv/bin/python -m ops.deploy": "tests/integration/test_deploy.py",
    ".venv/bin/python -m ops.drift": "tests/integration/test_drift.py",
}
# Shell glue a step may do besides calling the script.
GLUE = re.compile(r"^(ln -sfn \.\./\.venv infra/\.venv|ca=\"\$RUNNER_TEMP/supervisor-ca\.crt\"|printf '%s\\n' \"\$SUPERVISOR_CA\" > \"\$ca\"|--.*)$")


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return document


def run_lines() -> list[tuple[str, str]]:
    found = []
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job in load(path.name)["jobs"].values():
            for step in job.get("steps", []):
                if "run" in step:
                    text = step["run"].replace("\\\n", " ")
                    found += [(path.name, line.strip()) for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return found


@pytest.mark.parametrize(("workflow", "line"), run_lines())
def test_every_step_calls_a_tested_script(workflow: str, line: str) -> None:
    script = next((s for s in SCRIPTS if line.startswith(s)), None)
    assert script is not None or GLUE.match(line), f"{workflow}: `{line}` is not one of {sorted(SCRIPTS)}"
    if script and SCRIPTS[script].startswith("tests/"):
        assert (ROOT / SCRIPTS[script]).exists()


def test_deploys_run_inside_the_network_dev_then_prod_with_approval() -> None:
    stack_job = load("deploy-stack.yml")["jobs"]["up"]
    assert stack_job["runs-on"] == ["self-hosted", "linux", "${{ inputs.runner-label }}"]
    deploy = load("deploy.yml")["jobs"]
    assert deploy["prod"]["needs"] == "dev" and deploy["dev"]["needs"] == "checks"
    assert deploy["dev"]["with"] == {"stack": "dev", "environment": "development", "runner-label": "paif-dev"}
    assert deploy["prod"]["with"] == {"stack": "prod", "environment": "production", "runner-label": "paif-prod"}
    drift = load("drift.yml")
    triggers = {str(key): value for key, value in drift.items()}["True"]  # PyYAML reads `on:` as True
    assert triggers["schedule"] == [{"cron": "17 5 * * *"}]
    assert {m["stack"] for m in drift["jobs"]["drift"]["strategy"]["matrix"]["include"]} == {"dev", "prod"}


def test_no_stored_kubeconfig_and_forks_get_no_state() -> None:
    text = "\n".join(p.read_text() for p in WORKFLOWS.glob("*.yml"))
    assert "SUPERVISOR_KUBECONFIG" not in text and "supervisorKubeconfig" not in text
    gate = load("pr.yml")["jobs"]
    assert "--shared-state" in gate["gate-shared-state"]["steps"][-1]["run"]
    assert "head.repo.full_name == github.repository" in gate["gate-shared-state"]["if"]
    assert "secrets" not in yaml.safe_dump(gate["gate-fork"])
