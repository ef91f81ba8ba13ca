"""Credentials kept in state (components/password `given`), on the real engine: a run without
them (a pull-request preview in CI) shows no change in anything that embeds them; a new value
is an update, never a replacement; a required one never given fails naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.engine import PulumiProgram

pytestmark = pytest.mark.integration

PROGRAM = Path(__file__).parent / "programs" / "credentials"


def test_a_run_without_credentials_changes_nothing_and_a_new_value_is_an_update(tmp_path: Path) -> None:
    program = PulumiProgram(PROGRAM, tmp_path)
    program.set_config("token", "token-value-5521", secret=True)
    program.set_config("adminPassword", "admin-value-5522", secret=True)
    assert program.up() == {"create": 5}
    assert program.outputs() == {"token": "token-value-5521", "admin": "admin-value-5522"}

    # The CI case: the stack file has none of the credentials.
    program.run("config", "rm", "token")
    program.run("config", "rm", "adminPassword")
    assert program.preview() == {"same": 5}
    assert program.up() == {"same": 5}
    assert program.outputs() == {"token": "token-value-5521", "admin": "admin-value-5522"}

    # A rotated credential: the holder and what embeds it are updated, nothing replaced.
    program.set_config("token", "token-value-5523", secret=True)
    assert program.preview() == {"same": 3, "update": 2}
    assert program.up() == {"same": 3, "update": 2}
    assert program.outputs()["token"] == "token-value-5523"
    state = program.export()
    assert not any(value in state for value in ("token-value-5521", "token-value-5523", "admin-value-5522"))


def test_a_required_credential_never_given_fails_naming_its_key(tmp_path: Path) -> None:
    program = PulumiProgram(PROGRAM, tmp_path)
    failed = program.run("up", "--yes", "--skip-preview", check=False)
    assert failed.returncode != 0
    message = failed.stdout + failed.stderr
    assert "credentials:token is not set: set it with `pulumi config set --secret`" in message
    assert "Traceback" not in message
