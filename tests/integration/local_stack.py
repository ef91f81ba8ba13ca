"""The `local` stack deployed by `make up` (`python -m localenv up`), for the tests that
preview or refresh it (the gate against real state, drift detection). Only one local
environment can exist on a machine: these tests own it while they run."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from localenv import stack as local_stack
from localenv.layout import ROOT, Layout

UP_TIMEOUT_SECONDS = 1200


@dataclass(frozen=True)
class LocalStack:
    config_file: Path
    """The generated `.localenv/Pulumi.local.yaml` (endpoints, encrypted credentials)."""
    env: dict[str, str]
    """PULUMI_BACKEND_URL and the stack's passphrase file, as the gate and drift job get them."""
    kubeconfig: Path


def make_up(extra_env: dict[str, str] | None = None) -> str:
    """`python -m localenv up` (what `make up` runs); its output, or AssertionError with it."""
    result = subprocess.run(
        [sys.executable, "-m", "localenv", "up"],
        cwd=ROOT,
        env={**os.environ, **(extra_env or {})},
        capture_output=True,
        text=True,
        timeout=UP_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"make up failed ({result.returncode}):\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def deployed() -> LocalStack:
    make_up()
    layout = Layout()
    return LocalStack(
        config_file=layout.stack_config,
        env={
            "PULUMI_BACKEND_URL": local_stack.backend_url(),
            "PULUMI_CONFIG_PASSPHRASE_FILE": str(layout.passphrase()),
        },
        kubeconfig=layout.kubeconfig,
    )
