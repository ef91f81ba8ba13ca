"""Run the real `pulumi` CLI on a test program (shared by the integration tests), through
the project's one runner: the Automation API (`ops.automation`).

The program folder is copied to a temporary directory (so stack files never land in the
repository) with its virtualenv made absolute; state goes to a file backend there, secrets
use a passphrase. Every run is timed and gets a private temp directory (TMPDIR) under the
work directory, removed after it: the kubernetes provider writes the kubeconfig it is given
to a file there. `env` holds this program's variables (a test may change them between runs).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi.automation.errors import CommandError

from ops.automation import Command, Project, Settings, missing_plugin

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools" / "bin"
VENV = ROOT / ".venv"


SYSTEM_TEMP_DIRS = sorted({Path(tempfile.gettempdir()), Path("/tmp")})


def temp_files() -> dict[Path, int]:
    """The regular files directly in the system's temp directories, with their inode (a file
    deleted and created again under the same name counts as new)."""
    found = {}
    for directory in SYSTEM_TEMP_DIRS:
        for entry in os.scandir(directory):
            if entry.is_file(follow_symlinks=False):
                found[Path(entry.path)] = entry.inode()
    return found


def new_files_containing(before: dict[Path, int], marker: bytes) -> list[Path]:
    """Files in the system's temp directories that are not in `before` and contain `marker`
    (a credential only the test knows)."""
    found = []
    for path, inode in temp_files().items():
        if before.get(path) == inode:
            continue
        try:
            if marker in path.read_bytes():
                found.append(path)
        except OSError:
            continue
    return found


class PulumiFailed(AssertionError):
    """A pulumi command exited non-zero; the message carries its output."""


@dataclass
class PulumiProgram:
    source: Path
    """The program folder (Pulumi.yaml + __main__.py)."""
    workdir: Path
    """A fresh temporary directory for the program copy and the state."""
    stack: str = "it"
    timings: list[tuple[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not (TOOLS / "pulumi").exists():
            raise PulumiFailed(f"pulumi CLI not found in {TOOLS}: run make setup")
        self.program = self.workdir / "program"
        shutil.copytree(self.source, self.program)
        project = self.program / "Pulumi.yaml"
        project.write_text(
            "\n".join(
                f"    virtualenv: {VENV}" if line.strip().startswith("virtualenv:") else line
                for line in project.read_text().splitlines()
            )
            + "\n"
        )
        state = self.workdir / "state"
        state.mkdir()
        self.env: dict[str, str] = {
            "PULUMI_BACKEND_URL": f"file://{state}",
            "PULUMI_CONFIG_PASSPHRASE": "integration-test-passphrase",
        }
        self.project = Project(self.program, Settings(backend_url=f"file://{state}", temp_parent=self.workdir))
        # The workspace's variables are this dict: what a test sets reaches every later run.
        self.project.workspace.env_vars = self.env
        self.run("stack", "init", self.stack)

    def run(self, *args: str, check: bool = True, timeout: int = 300) -> subprocess.CompletedProcess[str]:
        """Any `pulumi` command, through the Automation API's command runner."""
        command = self.project.command
        command.settings = dataclasses.replace(command.settings, timeout_seconds=timeout)
        started = time.monotonic()
        try:
            result = command.run(list(args), str(self.program), self.env)
            code, stdout, stderr = result.code, result.stdout, result.stderr
        except CommandError as exc:
            last = command.last
            code = last.code if last is not None else 1
            stdout, stderr = (last.stdout, last.stderr) if last is not None else ("", str(exc))
        self.timings.append((" ".join(args), time.monotonic() - started))
        if check and code != 0:
            hint = missing_plugin(stdout + stderr)
            raise PulumiFailed(
                (f"{hint}\n" if hint else "") + f"pulumi {' '.join(args)} exited {code}\n"
                f"--- stdout ---\n{stdout[-6000:]}\n--- stderr ---\n{stderr[-4000:]}"
            )
        return subprocess.CompletedProcess(["pulumi", *args], code, stdout, stderr)

    def set_config(self, key: str, value: str, *, secret: bool = False) -> None:
        if secret:
            # On stdin, never on the command line.
            self.project.command.run(
                ["config", "set", "--secret", key, "--stack", self.stack], str(self.program), self.env, stdin=value
            )
        else:
            self.run("config", "set", "--plaintext", key, value)

    def _changes(self, command: Command) -> dict[str, int]:
        started = time.monotonic()
        outcome = self.project.run(self.project.stack(self.stack), command, on_output=None)
        self.timings.append((command, time.monotonic() - started))
        if not outcome.ok:
            raise PulumiFailed(f"pulumi {command} failed: {outcome.errors}\n--- output ---\n{outcome.output[-6000:]}")
        return {op: n for op, n in outcome.changes.items() if n}

    def up(self) -> dict[str, int]:
        """`pulumi up` (no separate preview) and the summary of what it changed, e.g. {"same": 13}."""
        return self._changes("up")

    def preview(self) -> dict[str, int]:
        """`pulumi preview` and its change summary, e.g. {"create": 13}."""
        return self._changes("preview")

    def refresh(self) -> dict[str, int]:
        return self._changes("refresh")

    def destroy(self) -> dict[str, int]:
        return self._changes("destroy")

    def outputs(self) -> dict[str, Any]:
        outputs: dict[str, Any] = json.loads(self.run("stack", "output", "--json", "--show-secrets").stdout)
        return outputs

    def export(self) -> str:
        """The stack's state as `pulumi stack export` writes it (secrets stay encrypted)."""
        return self.run("stack", "export").stdout
