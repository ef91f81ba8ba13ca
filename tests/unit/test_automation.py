"""ops.automation: which runs skip the engine's per-step checkpoint (a fake CLI process that
records its environment; the real runs are in tests/integration)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from ops import automation
from ops.automation import CHECKPOINT_FREE, Project, Settings


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Project, list[dict[str, str]]]:
    seen: list[dict[str, str]] = []

    class Process:
        """A CLI process that prints nothing and exits 0, recording the environment it got."""

        pid = 0
        stdin = None

        def __init__(self, _argv: list[str], *, env: dict[str, str], **_: Any) -> None:
            seen.append(env)
            self.stdout, self.stderr = io.StringIO(), io.StringIO()

        def __enter__(self) -> Process:
            return self

        def __exit__(self, *_: object) -> None:
            return None

        def wait(self, timeout: float | None = None) -> int:
            return 0

    (tmp_path / "Pulumi.yaml").write_text("name: fake\nruntime: python\n")
    project = Project(tmp_path, Settings(backend_url=f"file://{tmp_path / 'state'}"))
    # Only the CLI starts after this point go to the fake (the project asked the real CLI its version).
    monkeypatch.setattr("ops.automation.subprocess.Popen", Process)
    return project, seen


@pytest.mark.parametrize("command", ["preview", "refresh", "preview-refresh", "up", "destroy"])
def test_only_previews_and_refreshes_skip_checkpoints(
    recorded: tuple[Project, list[dict[str, str]]], command: automation.Command
) -> None:
    project, seen = recorded
    fake = _FakeStack(project)
    project.run(fake, command, on_output=None)  # type: ignore[arg-type]
    assert seen, "the CLI was never started"
    skip = [env.get("PULUMI_SKIP_CHECKPOINTS") for env in seen]
    assert skip[-1] == ("true" if command in CHECKPOINT_FREE else None), (command, skip)
    # The workspace is left as it was: the next command does not inherit the variable.
    assert "PULUMI_SKIP_CHECKPOINTS" not in project.workspace.env_vars


class _FakeStack:
    """What Project.run calls on a stack, through the workspace's command like auto.Stack."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.name = "it"

    def _run(self, *args: str, **_: Any) -> None:
        self.project.command.run(list(args), str(self.project.work_dir), dict(self.project.workspace.env_vars))

    def preview(self, **kwargs: Any) -> None:
        self._run("preview", **kwargs)

    def up(self, **kwargs: Any) -> None:
        self._run("up", **kwargs)

    def refresh(self, **kwargs: Any) -> None:
        self._run("refresh", **kwargs)

    def preview_refresh(self, **kwargs: Any) -> None:
        self._run("refresh", "--preview-only", **kwargs)

    def destroy(self, **kwargs: Any) -> None:
        self._run("destroy", **kwargs)


def test_every_command_on_a_file_backend_first_removes_a_torn_sidecar(
    recorded: tuple[Project, list[dict[str, str]]], tmp_path: Path
) -> None:
    """What a kill inside fileblob's in-place `.attrs` write leaves would fail every later
    command with EOF (ops/state_guard.py): the runner removes it before the CLI starts."""
    project, seen = recorded
    stacks = tmp_path / "state" / ".pulumi" / "stacks" / "fake"
    stacks.mkdir(parents=True)
    (stacks / "it.json").write_text("{}")
    torn = stacks / "it.json.attrs"
    torn.write_text("")
    told: list[str] = []
    project.command.run(["stack", "ls"], str(tmp_path), {}, on_error=told.append)
    assert seen, "the CLI was never started"
    assert not torn.exists() and (stacks / "it.json").read_text() == "{}"
    assert told and str(torn) in told[0]


def test_the_cli_runs_with_a_lighter_garbage_collector_unless_the_caller_sets_one(tmp_path: Path) -> None:
    settings = Settings(backend_url=f"file://{tmp_path / 'state'}")
    assert settings.environment({"PATH": "/bin"}, tmp_path)["GOGC"] == automation.GO_GC_PERCENT
    assert settings.environment({"PATH": "/bin", "GOGC": "off"}, tmp_path)["GOGC"] == "off"
