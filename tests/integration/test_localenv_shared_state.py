"""`make up` with the shared PostgreSQL state backend: the deployed `local` stack's state is
migrated from the file backend (`ops.state_backend.migrate`), then `make up` runs with
PULUMI_BACKEND_URL set to the PostgreSQL URL (password only in the passfile) and finds
nothing to change; the file backend stays the default."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from localenv import stack as local_stack
from ops import state_backend
from tests.integration.local_stack import deployed, make_up
from tests.integration.state_postgres import StateServer, decoded, state_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[StateServer]:
    with state_server() as prepared:
        yield prepared


def test_make_up_runs_on_the_postgres_backend(server: StateServer, monkeypatch: pytest.MonkeyPatch) -> None:
    local = deployed()
    for key, value in local.env.items():
        monkeypatch.setenv(key, value)
    count = state_backend.migrate(
        local.env["PULUMI_BACKEND_URL"], server.urls[state_backend.WRITER], "local", "paif-app", server.passfile
    )
    assert count > 40
    output = make_up(
        {"PULUMI_BACKEND_URL": server.urls[state_backend.WRITER], "PGPASSFILE": str(server.passfile)}
    )
    # `make up` refreshes, then updates: nothing to change on the state it took over.
    blocks = re.findall(r"Resources:\n((?:[ \t]+\S.*\n)+)", output)
    assert blocks and all(re.fullmatch(r"[ \t]+\d+ unchanged\n", b) for b in blocks), output[-3000:]
    assert "chat reply:" in output
    checkpoints = [decoded(data) for key, data in server.rows() if key.endswith("/paif-app/local.json")]
    assert checkpoints and b"postgres-db" in checkpoints[0]
    # The file backend is still the default.
    monkeypatch.delenv("PULUMI_BACKEND_URL")
    assert local_stack.backend_url().startswith("file://")
