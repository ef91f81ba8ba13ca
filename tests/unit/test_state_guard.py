"""Torn attributes sidecars of the file state backend (ops/state_guard.py
remove_torn_sidecars): what a kill inside gocloud fileblob's in-place sidecar write leaves,
removed before any Pulumi command; whole sidecars, blobs and good copies stay."""

from __future__ import annotations

import json
from pathlib import Path

from ops import state_guard

WHOLE = json.dumps({"user.content_type": "text/plain; charset=utf-8", "md5": "6VVPyOWBazglD+DhnqRaKw=="}) + "\n"


def _backend(tmp_path: Path) -> tuple[Path, Path]:
    stacks = tmp_path / ".pulumi" / "stacks" / "paif-app"
    stacks.mkdir(parents=True)
    checkpoint = stacks / "local.json"
    checkpoint.write_text('{"version": 3}')
    return tmp_path, checkpoint


def test_empty_and_half_written_sidecars_are_removed_and_nothing_else(tmp_path: Path) -> None:
    backend, checkpoint = _backend(tmp_path)
    torn = checkpoint.with_name("local.json.attrs")
    torn.write_text("")
    history = backend / ".pulumi" / "history" / "paif-app" / "local"
    history.mkdir(parents=True)
    whole = history / "local-1795844379241404006.history.json.attrs"
    whole.write_text(WHOLE)
    half = history / "local-1795848039329067268.history.json.attrs"
    half.write_text(WHOLE[: len(WHOLE) // 2])
    torn_good = checkpoint.with_name("local.json.attrs.good")
    torn_good.write_text("")
    meta = backend / ".pulumi" / "meta.yaml.attrs"
    meta.write_text(WHOLE)

    removed = state_guard.remove_torn_sidecars(backend)

    assert sorted(removed) == sorted([torn, half, torn_good])
    assert not torn.exists() and not half.exists() and not torn_good.exists()
    assert whole.read_text() == WHOLE and meta.read_text() == WHOLE
    assert checkpoint.read_text() == '{"version": 3}', "a blob is never touched"
    assert state_guard.remove_torn_sidecars(backend) == []


def test_a_torn_sidecar_is_never_kept_as_the_good_copy_nor_a_stale_one_left(tmp_path: Path) -> None:
    backend, checkpoint = _backend(tmp_path)
    checkpoint.with_name("local.json.attrs").write_text("")
    checkpoint.with_name("local.json.attrs.good").write_text(WHOLE)  # an earlier run's, now stale
    assert state_guard.keep_good_copies(backend) == [checkpoint]
    assert checkpoint.with_name("local.json.good").read_text() == '{"version": 3}'
    assert not checkpoint.with_name("local.json.attrs.good").exists()


def test_a_backend_without_state_yet_has_nothing_to_repair(tmp_path: Path) -> None:
    assert state_guard.remove_torn_sidecars(tmp_path / "missing") == []


def test_only_the_newest_history_entry_is_read_not_the_whole_history(tmp_path: Path) -> None:
    """Every CLI start repairs first, so a kill can only have torn the newest history entry
    by the time the next start looks: older entries are never opened (the history grows by
    four files per update)."""
    backend, _ = _backend(tmp_path)
    history = backend / ".pulumi" / "history" / "paif-app" / "local"
    history.mkdir(parents=True)
    older = history / "local-1795844379241404006.checkpoint.json.attrs"
    older.write_text("")  # not reachable by a kill of the last run: left to the CLI
    newest = [
        history / "local-1795848039329067268.checkpoint.json.attrs",
        history / "local-1795848039329067268.history.json.attrs",
    ]
    for path in newest:
        path.write_text("")
    (history / "local-1795848039329067268.history.json").write_text("{}")

    assert state_guard.remove_torn_sidecars(backend) == sorted(newest)
    assert older.exists()
