"""What the local environment leaves readable: service logs are owner-only, and every Pulumi
run's temp files (the kubernetes provider's kubeconfig copies) live and die with the run."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from localenv import processes, stack
from localenv.layout import Layout


def test_service_logs_are_owner_only_even_when_an_older_log_was_not(tmp_path: Path) -> None:
    log = tmp_path / "service.log"
    log.write_text("an older run's log\n")
    log.chmod(0o644)
    process = processes.spawn(["sh", "-c", "echo started"], home=tmp_path, log=log)
    assert process.wait(timeout=10) == 0
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert log.read_text() == "started\n"


def test_each_pulumi_run_gets_a_private_temp_dir_removed_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = Layout(tmp_path / "home")
    seen: list[tuple[str, int]] = []

    def fake_run(_layout: Layout, _bin: Path, _args: tuple[str, ...], temp_dir: Path, **_: object) -> None:
        env = stack.pulumi_env(layout, temp_dir)
        assert env["TMPDIR"] == env["TEMP"] == env["TMP"] == str(temp_dir)
        assert temp_dir.parent == layout.home / "tmp" and temp_dir.name.startswith(f"pulumi-{os.getpid()}-")
        seen.append((str(temp_dir), stat.S_IMODE(temp_dir.stat().st_mode)))
        (temp_dir / "kubeconfig1234").write_text("client-key-data: secret\n")

    monkeypatch.setattr(stack, "_run_pulumi", fake_run)
    stack.pulumi(layout, "preview")
    assert [mode for _, mode in seen] == [0o700]
    assert not Path(seen[0][0]).exists()


def test_temp_dirs_of_killed_runners_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "home")
    ours = stack.run_temp_dir(layout)
    dead = subprocess.Popen(["true"])
    dead.wait()
    theirs = layout.home / "tmp" / f"pulumi-{dead.pid}-abc123"
    theirs.mkdir()
    (theirs / "kubeconfig5678").write_text("client-key-data: secret\n")
    assert stack.remove_stale_temp_dirs(layout) == [theirs]
    assert ours.exists() and not theirs.exists()
