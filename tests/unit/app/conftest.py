"""The app's tests run event loops of their own (asyncio.run, TestClient), which leave the
main thread without a current loop; Pulumi's mocks (the next test modules) need one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _leave_a_current_event_loop() -> Iterator[None]:
    yield
    asyncio.set_event_loop(asyncio.new_event_loop())
