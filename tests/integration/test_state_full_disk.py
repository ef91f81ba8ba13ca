"""A full state disk never destroys the last good state (ops/state_guard.py).

The file backend lives on a small tmpfs we mount. Without the guard, an update that runs
out of space can leave the stack file and its `.bak` truncated (reproduced with the pinned
CLI; the restore path itself is tested on a truncated file below); with it, a run that cannot keep a copy is
refused before anything changes, and a run that fills the disk midway is followed by the
last good state being put back, from which the next run converges once there is space.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.state_guard import StateGuardError, guarded_checkpoints, is_valid, stack_files
from tests.integration.engine import PulumiProgram

pytestmark = pytest.mark.integration

PROGRAM = Path(__file__).parent / "programs" / "state_disk"
COUNT = 2
DISK = "1m"


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "state-disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK},mode=0700", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def on_disk(tmp_path: Path, disk: Path) -> PulumiProgram:
    stack = PulumiProgram(PROGRAM, tmp_path / "work")
    stack.env["PULUMI_BACKEND_URL"] = f"file://{disk}"
    stack.run("stack", "init", stack.stack)
    stack.set_config("count", str(COUNT))
    return stack


def fill(disk: Path, leave: int) -> Path:
    """Fill `disk` until only about `leave` bytes are free."""
    filler = disk / "filler"
    stats = os.statvfs(disk)
    free = stats.f_bavail * stats.f_frsize
    filler.write_bytes(b"\0" * max(0, free - leave))
    return filler


def generation(stack: PulumiProgram) -> str:
    return str(stack.outputs()["generation"])


def checkpoint_size(disk: Path) -> int:
    (path,) = stack_files(disk)
    return path.stat().st_size


def test_a_run_that_cannot_keep_the_last_good_state_is_refused(tmp_path: Path, disk: Path) -> None:
    stack = on_disk(tmp_path, disk)
    stack.up()
    before = stack.export()
    fill(disk, leave=checkpoint_size(disk) // 2)
    refused = pytest.raises(StateGuardError, match="free some space on that disk first: nothing was changed")
    with refused, guarded_checkpoints(disk, print):
        pytest.fail("the run started although the state could not be kept")
    assert stack.export() == before


def test_a_disk_that_fills_during_a_run_leaves_the_last_good_state_and_the_next_run_converges(
    tmp_path: Path, disk: Path
) -> None:
    stack = on_disk(tmp_path, disk)
    stack.up()
    # Room for the guard's copy (and its sidecar, in whole pages), not for the run's own writes.
    filler = fill(disk, leave=checkpoint_size(disk) + checkpoint_size(disk) // 2 + 8192)
    stack.set_config("generation", "2")
    messages: list[str] = []
    started = time.monotonic()
    with guarded_checkpoints(disk, messages.append):
        failed = stack.run("up", "--yes", "--skip-preview", check=False, timeout=600)
        (path,) = stack_files(disk)
        # Whether the backend left it truncated depends on which of its writes hit the full
        # disk (the checkpoint or its backup); the guard must restore exactly when it did.
        truncated = not is_valid(path)
        assert messages == []
    print(f"full disk mid-run: the backend {'truncated' if truncated else 'kept'} the stack file")
    assert failed.returncode != 0
    assert bool(messages) == truncated
    assert all("restored the last good state" in m for m in messages)
    assert is_valid(path)
    # The last good state: from before the run when it was restored, else what the run recorded whole.
    assert generation(stack) == "1" if truncated else generation(stack) in ("1", "2")
    filler.unlink()
    with guarded_checkpoints(disk, messages.append):
        changes = stack.up()
    print(f"full disk mid-run: recovered in {time.monotonic() - started:.1f} s ({changes})")
    assert generation(stack) == "2"
    assert stack.up() == {"same": COUNT + 1}
    assert json.loads(stack.export())["deployment"].get("pending_operations") in (None, [])


def test_a_truncated_stack_file_is_put_back_from_the_good_copy_by_a_rename(tmp_path: Path) -> None:
    stacks = tmp_path / ".pulumi" / "stacks" / "project"
    stacks.mkdir(parents=True)
    path = stacks / "it.json"
    path.write_text(json.dumps({"checkpoint": {"latest": {"resources": [1, 2, 3]}}}))
    (stacks / "it.json.attrs").write_text('{"md5": "good"}')
    messages: list[str] = []
    with guarded_checkpoints(tmp_path, messages.append):
        path.write_text('{"checkpoint": {"lat')  # what the backend leaves on a full disk
        (stacks / "it.json.attrs").write_text('{"md5": "trunc')
    assert json.loads(path.read_text())["checkpoint"]["latest"]["resources"] == [1, 2, 3]
    assert (stacks / "it.json.attrs").read_text() == '{"md5": "good"}'
    assert len(messages) == 1 and str(path) in messages[0]
    # A run that leaves a valid stack file is not touched.
    with guarded_checkpoints(tmp_path, messages.append):
        path.write_text(json.dumps({"checkpoint": {"latest": {"resources": [4]}}}))
    assert json.loads(path.read_text())["checkpoint"]["latest"]["resources"] == [4]
    assert len(messages) == 1
