"""The last good state of a file-backend stack survives a full disk.

Pulumi's file backend (gocloud's fileblob) writes a checkpoint to a temporary file and
renames it over the stack file when the writer is closed, even when a write before that
failed: on a full disk the stack file and its `.bak` are both left truncated ("unexpected
end of JSON input"), and no command can read the stack any more. Upstream evidence:
gocloud.dev blob/fileblob/fileblob.go, `writer.Close` renames without knowing whether a
`Write` failed.

`guarded_checkpoints` wraps every state-changing run of the local stack: before it, each
stack file that is valid JSON is copied next to itself as `<stack>.json.good` (written to a
temporary file, fsynced, renamed: atomic); if the copy cannot be made (the disk is already
full) the run is refused before anything changes. After the run, a stack file that is no
longer valid JSON is put back from its copy by a rename (which needs no free space) and the
user is told what happened. The next
`make up` then converges from the last good state (pending operations are cleared as after a
kill). Teams sharing state use the PostgreSQL backend, which writes in transactions.

A kill can tear something else: fileblob keeps each blob's attributes (content type, MD5) in
a `<blob>.attrs` sidecar, which it writes in place (`os.Create`, then the JSON encoding:
gocloud.dev blob/fileblob attrs.go `setAttrs`) before it renames the new blob over the old
one. A kill between the two leaves an empty sidecar next to the intact old blob, and every
later read of that blob fails with "error: EOF" (`pulumi stack ls` included), so the stack
could only be repaired by hand. `repair_torn_sidecars` runs before every Pulumi CLI start of
ours (ops.automation's `PrivateCommand.spawn`, which localenv uses too): a sidecar that is
not valid JSON is removed (fileblob reads a blob without one, with default attributes; the
next write of the blob writes a new one).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

GOOD_SUFFIX = ".good"
ATTRS_SUFFIX = ".attrs"


class StateGuardError(RuntimeError):
    """The last good state could not be kept: nothing was run."""


def stack_files(backend_dir: Path) -> list[Path]:
    """Every stack checkpoint of a file backend (`.pulumi/stacks/<project>/<stack>.json`)."""
    stacks = backend_dir / ".pulumi" / "stacks"
    return sorted(stacks.glob("*/*.json")) if stacks.is_dir() else []


def is_valid(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            json.load(handle)
    except (OSError, ValueError):
        return False
    return True


def _atomic_copy(source: Path, target: Path) -> None:
    temporary = target.with_name(f".{target.name}.tmp")
    try:
        with source.open("rb") as reader, temporary.open("wb") as writer:
            shutil.copyfileobj(reader, writer)
            writer.flush()
            os.fsync(writer.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _good(path: Path) -> Path:
    """Where the good copy of a state file lives."""
    return path.with_name(path.name + GOOD_SUFFIX)


def _sidecar(path: Path) -> Path:
    """The attributes sidecar fileblob keeps beside a blob."""
    return path.with_name(path.name + ATTRS_SUFFIX)


def file_backend_dir(url: str) -> Path | None:
    """The directory of a `file://` state backend URL; None for any other backend."""
    if not url.startswith("file://"):
        return None
    return Path(url.removeprefix("file://").split("?")[0]).expanduser()


def repair_torn_sidecars(url: str, log: Callable[[str], None]) -> None:
    """`remove_torn_sidecars` for a `file://` backend URL (nothing for any other), each
    removal told through `log`."""
    backend_dir = file_backend_dir(url)
    if backend_dir is None:
        return
    for torn in remove_torn_sidecars(backend_dir):
        log(
            f"removed {torn}: an attributes file an interrupted pulumi run left half-written "
            "(Pulumi reads the state without it)"
        )


def remove_torn_sidecars(backend_dir: Path) -> list[Path]:
    """Remove every attributes sidecar (and good copy of one) that is not valid JSON among
    those a killed run can have torn (`_sidecars_at_risk`): what a kill inside fileblob's
    in-place sidecar write leaves. Returns what was removed."""
    removed = []
    for path in _sidecars_at_risk(backend_dir / ".pulumi"):
        if path.is_file() and not is_valid(path):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _is_sidecar(name: str) -> bool:
    return name.endswith((ATTRS_SUFFIX, ATTRS_SUFFIX + GOOD_SUFFIX))


def _sidecars_at_risk(root: Path) -> list[Path]:
    """The sidecars a kill of the last Pulumi run can have torn, read without walking the
    whole history (it grows by four files per update; every CLI start comes through here):
    every one outside `history/` (stacks, locks, backups, meta.yaml), and in each stack's
    history directory those of the newest entry only. Every CLI start of ours repairs
    first, so a torn history entry is the newest one when the next start looks."""
    if not root.is_dir():
        return []
    found: list[Path] = []
    for directory, subdirectories, files in os.walk(root):
        here = Path(directory)
        if here == root / "history":
            subdirectories.clear()
            continue
        found.extend(here / name for name in files if _is_sidecar(name))
    for entries in sorted((root / "history").glob("*/*")):
        # Entry names are `<stack>-<unix nanoseconds>.<kind>.json[.attrs]`: the same width
        # until 2286, so the newest sorts last.
        names = sorted(name for name in os.listdir(entries) if _is_sidecar(name)) if entries.is_dir() else []
        if names:
            newest = names[-1].split(".", 1)[0]
            found.extend(entries / name for name in names if name.split(".", 1)[0] == newest)
    return sorted(found)


def keep_good_copies(backend_dir: Path) -> list[Path]:
    """Copy each valid stack file (and its sidecar) to `.good`; the stack files kept."""
    kept = []
    for path in stack_files(backend_dir):
        if not is_valid(path):
            continue
        sidecar = _sidecar(path)
        try:
            _atomic_copy(path, _good(path))
            if is_valid(sidecar):
                _atomic_copy(sidecar, _good(sidecar))
            else:
                # None, or torn: no copy, rather than a stale one beside the new good checkpoint.
                _good(sidecar).unlink(missing_ok=True)
        except OSError as exc:
            raise StateGuardError(
                f"cannot keep a copy of the last good state of {path.name} in {path.parent} ({exc.strerror}); "
                "free some space on that disk first: nothing was changed"
            ) from None
        kept.append(path)
    return kept


def restore_broken(backend_dir: Path) -> list[Path]:
    """Put back every stack file that is no longer valid JSON from its good copy."""
    restored = []
    for path in stack_files(backend_dir):
        if is_valid(path) or not is_valid(_good(path)):
            continue
        # A rename: it needs no free space, and the disk may still be full.
        for target in (path, _sidecar(path)):
            if _good(target).exists():
                os.replace(_good(target), target)
        restored.append(path)
    return restored


@contextmanager
def guarded_checkpoints(backend_dir: Path | None, log: Callable[[str], None]) -> Iterator[None]:
    """Keep the last good state of every stack in `backend_dir` across the block (a file
    backend only; None does nothing)."""
    if backend_dir is None:
        yield
        return
    keep_good_copies(backend_dir)
    try:
        yield
    finally:
        for path in restore_broken(backend_dir):
            log(
                f"the state file {path} was left unreadable (a full disk?); restored the last good state "
                "from before this run: free some space, then run `make up` again"
            )
