"""Ordering and clean-up for the tests that use the repository's own local environment.

Only one local node can exist on a machine. The tests in `LOCAL_STACK_MODULES` deploy the
`local` stack with `make up` in this checkout (tests/integration/local_stack.py); the node
tests (test_node*, test_ingress, test_localenv) start and stop nodes of their own. So the
local-stack modules run last, one after the other on the one environment, and that
environment is stopped after them unless it was already running before the session (a
developer's own `make up` is left as it was).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from localenv.layout import ROOT, Layout
from localenv.services import health

LOCAL_STACK_MODULES = frozenset(
    {
        "test_deploy.py",
        "test_drift.py",
        "test_faults.py",
        "test_gate_real_state.py",
        "test_localenv_shared_state.py",
    }
)


def _uses_local_stack(item: pytest.Item) -> bool:
    return item.path.name in LOCAL_STACK_MODULES


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A stable sort: every other test keeps its place, the local-stack ones move to the end.
    items.sort(key=_uses_local_stack)


def _running() -> bool:
    layout = Layout()
    return layout.home.exists() and bool(layout.load_state().get("services")) and all(health(layout).values())


@pytest.fixture(scope="session", autouse=True)
def _local_environment_left_as_found(request: pytest.FixtureRequest) -> Iterator[None]:
    was_running = _running()
    yield
    if was_running or not any(_uses_local_stack(item) for item in request.session.items):
        return
    subprocess.run([sys.executable, "-m", "localenv", "down"], cwd=ROOT, timeout=1200, check=False)
