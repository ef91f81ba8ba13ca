"""infra/settle.py: the program's async entry point waits for every tracked output, in batches,
and stops at the first failed one (whose exception the SDK's own wait then raises)."""

from __future__ import annotations

import asyncio

import pulumi
import pytest
from pulumi.runtime.settings import SETTINGS

from infra.settle import settle_outputs
from tests.unit.harness import run


def _later(value: str, delay: float) -> pulumi.Output[str]:
    async def resolve() -> str:
        await asyncio.sleep(delay)
        return value

    task: asyncio.Future[str] = asyncio.ensure_future(resolve())
    return pulumi.Output.from_input(task)


def test_settle_returns_once_no_output_is_pending_including_outputs_made_meanwhile() -> None:
    seen: list[str] = []

    async def program() -> None:
        first = [_later(f"v{i}", 0.01 * (i % 5)) for i in range(200)]

        # An output whose apply creates more outputs after the first batch started.
        def more(_: str) -> pulumi.Output[None]:
            return _later("late", 0.05).apply(seen.append)

        chained: pulumi.Output[None] = first[0].apply(more)
        assert chained is not None
        await settle_outputs()
        with SETTINGS.lock:
            assert not [o for o in SETTINGS.outputs if not o.done()]
        assert seen == ["late"]

    run(program)


def test_settle_stops_at_a_failed_output_and_the_program_still_fails() -> None:
    async def fail() -> str:
        await asyncio.sleep(0.01)
        raise ValueError("boom")

    async def program() -> None:
        failing: asyncio.Future[str] = asyncio.ensure_future(fail())
        failed: pulumi.Output[str] = pulumi.Output.from_input(failing)
        assert failed is not None
        slow = _later("slow", 5)
        await asyncio.wait_for(settle_outputs(), timeout=2)
        assert not slow._data.done()

    with pytest.raises(ValueError, match="boom"):
        run(program)
