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
    half = history / "local-1.history.json.attrs"
    half.write_text(WHOLE[: len(WHOLE) // 2])
    whole = history / "local-2.history.json.attrs"
    whole.write_text(WHOLE)
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
