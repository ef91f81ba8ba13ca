"""The pure pieces of toolchain/images/build.py: which mirror, which inputs go into which
image's cache key, and the lock agreeing with pyproject.toml."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest

from tests.unit.harness import ROOT


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("images_build", ROOT / "toolchain" / "images" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["images_build"] = module
    spec.loader.exec_module(module)
    return module


build = _load()

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://src.example.invalid/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://disabled.example.invalid/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb
# a comment between fields
URIs: http://mirror.example.invalid/debian/
Suites: bookworm bookworm-updates
Components: main contrib
"""


def test_mirror_from_deb822_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    assert build.debian_mirror(tmp_path, "bookworm") == "http://mirror.example.invalid/debian"


def test_mirror_from_one_line_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "# deb http://commented.invalid/debian bookworm main\n"
        "deb http://security.invalid/debian-security bookworm-security main\n"
        "deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://line.invalid/debian bookworm main non-free\n"
    )
    assert build.debian_mirror(tmp_path, "bookworm") == "http://line.invalid/debian"


def test_no_mirror_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text("deb http://x.invalid/debian trixie main\n")
    with pytest.raises(build.BuildError, match="bookworm"):
        build.debian_mirror(tmp_path, "bookworm")


def _tree(root: Path) -> str:
    return str(build.tree_hash(build.source_files(root, ("__init__.py", "backend"))))


def test_tree_hash_follows_names_contents_and_exec_bits_only(tmp_path: Path) -> None:
    (tmp_path / "backend").mkdir()
    (tmp_path / "__init__.py").write_text("")
    main = tmp_path / "backend" / "main.py"
    main.write_text("print('hi')\n")
    first = _tree(tmp_path)
    assert _tree(tmp_path) == first

    (tmp_path / "backend" / "__pycache__").mkdir()
    (tmp_path / "backend" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "backend" / "stale.pyc").write_bytes(b"\0")
    main.touch()
    assert _tree(tmp_path) == first  # caches, bytecode and times are not inputs

    main.write_text("print('hello')\n")
    changed = _tree(tmp_path)
    assert changed != first
    main.chmod(0o755)
    assert _tree(tmp_path) != changed
    main.chmod(0o644)
    assert _tree(tmp_path) == changed
    (tmp_path / "backend" / "extra.py").write_text("")
    assert _tree(tmp_path) != changed


def test_missing_sources_are_an_error(tmp_path: Path) -> None:
    with pytest.raises(build.BuildError, match="does not exist"):
        build.source_files(tmp_path, ("frontend",))


def test_each_input_reaches_exactly_the_images_built_from_it() -> None:
    inputs = build.Inputs(suite="bookworm", scripts="s", lock="l", backend="b", frontend="f")
    keys = inputs.keys()
    assert len(set(keys.values())) == len(keys)

    def changed(**change: str) -> set[str]:
        other = replace(inputs, **change).keys()
        return {name for name in keys if keys[name] != other[name]}

    every = {"base", "python", "nginx", "chat-backend", "chat-frontend"}
    assert changed(suite="trixie") == every
    assert changed(scripts="s2") == every
    assert changed(lock="l2") == {"python", "chat-backend"}
    assert changed(backend="b2") == {"chat-backend"}
    assert changed(frontend="f2") == {"chat-frontend"}


def test_the_lock_is_made_from_the_current_app_pins() -> None:
    lock = (ROOT / "toolchain" / "images" / "app-requirements.lock").read_text()
    assert build.lock_pins_hash(lock) == build.app_pins_hash(ROOT / "pyproject.toml"), (
        "run .venv/bin/python toolchain/images/lock.py after changing pyproject.toml's app group"
    )
    locked = {
        line.split("==")[0]: line.split("==")[1].split()[0]
        for line in lock.splitlines()
        if not line.startswith("#")
    }
    assert all("--hash=sha256:" in line for line in lock.splitlines() if not line.startswith("#"))
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["app"]
    for pin in pins:
        name, _, version = pin.partition("==")
        name = name.split("[")[0].lower().replace("_", "-")
        assert locked.get(name) == version, pin


def test_env_file_reading(tmp_path: Path) -> None:
    env = tmp_path / "versions.env"
    env.write_text('# comment\nA=1\n\n  B = "two"\nC=x=y\n')
    assert build.read_env_file(env) == {"A": "1", "B": "two", "C": "x=y"}
