"""Run the real `pulumi` CLI on a test program (shared by the integration tests).

The program folder is copied to a temporary directory (so stack files never land in the
repository) with its virtualenv made absolute; state goes to a file backend there, secrets
use a passphrase. Every run is timed and gets a private temp directory (TMPDIR), removed
after it: the kubernetes provider writes the kubeconfig it is given to a file there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policy.gate import missing_plugin

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
        self.env = {
            **os.environ,
            "PATH": f"{TOOLS}:{VENV / 'bin'}:{os.environ.get('PATH', '')}",
            "PULUMI_BACKEND_URL": f"file://{state}",
            "PULUMI_CONFIG_PASSPHRASE": "integration-test-passphrase",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
        }
        self.run("stack", "init", self.stack)

    def run(self, *args: str, check: bool = True, timeout: int = 300) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="tmp-", dir=self.workdir) as temp_dir:
            result = subprocess.run(
                ["pulumi", *args, "--non-interactive"],
                cwd=self.program,
                env={**self.env, **{name: temp_dir for name in ("TMPDIR", "TEMP", "TMP")}},
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        self.timings.append((" ".join(args), time.monotonic() - started))
        if check and result.returncode != 0:
            hint = missing_plugin(result.stdout + result.stderr)
            raise PulumiFailed(
                (f"{hint}\n" if hint else "") + f"pulumi {' '.join(args)} exited {result.returncode}\n"
                f"--- stdout ---\n{result.stdout[-6000:]}\n--- stderr ---\n{result.stderr[-4000:]}"
            )
        return result

    def set_config(self, key: str, value: str, *, secret: bool = False) -> None:
        self.run("config", "set", *(["--secret"] if secret else ["--plaintext"]), key, value)

    def up(self, *extra: str) -> dict[str, int]:
        """`pulumi up` and the summary of what it changed, e.g. {"same": 13}."""
        events = self._events(self.run("up", "--yes", "--skip-preview", "--json", *extra))
        summaries = [e["summaryEvent"] for e in events if "summaryEvent" in e]
        assert summaries, "pulumi up --json produced no summary event"
        changes: dict[str, int] = summaries[-1]["resourceChanges"]
        return changes

    def preview(self) -> dict[str, int]:
        """`pulumi preview` and its change summary, e.g. {"create": 13}."""
        changes: dict[str, int] = json.loads(self.run("preview", "--json").stdout)["changeSummary"]
        return changes

    def refresh(self) -> dict[str, int]:
        events = self._events(self.run("refresh", "--yes", "--skip-preview", "--json"))
        changes: dict[str, int] = next(e["summaryEvent"] for e in events if "summaryEvent" in e)[
            "resourceChanges"
        ]
        return changes

    def destroy(self) -> dict[str, int]:
        events = self._events(self.run("destroy", "--yes", "--skip-preview", "--json"))
        changes: dict[str, int] = next(e["summaryEvent"] for e in events if "summaryEvent" in e)[
            "resourceChanges"
        ]
        return changes

    def outputs(self) -> dict[str, Any]:
        outputs: dict[str, Any] = json.loads(self.run("stack", "output", "--json", "--show-secrets").stdout)
        return outputs

    def export(self) -> str:
        """The stack's state as `pulumi stack export` writes it (secrets stay encrypted)."""
        return self.run("stack", "export").stdout

    @staticmethod
    def _events(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
        return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
