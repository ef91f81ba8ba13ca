"""Wait for the program's outstanding outputs in one pass, before the SDK's own wait does.

Why (measured with bench/, `python -m bench`): once the program's module code returns, the
Python SDK (pulumi 3.272, `pulumi/runtime/stack.py` `wait_for_rpcs`) waits for every
outstanding output with `asyncio.wait(pending, return_when=FIRST_COMPLETED)` in a loop. Each
call registers and removes a callback on every pending output, and the outputs of a large
program complete a few at a time, as the engine answers each registration: the loop costs
O(outputs) per completion, O(outputs²) in all. With 50 production-shaped apps (1,150
resources) it held the GIL for about half of the program's CPU time.

`settle_outputs`, run as the program's async entry point (`pulumi.run`, awaited after the
module code and before `wait_for_rpcs`), waits for the same outputs with one `asyncio.wait`
per batch: one callback per output. It changes nothing about what is waited for: outputs
created meanwhile are picked up by the next batch; it stops at the first output that
failed, whose exception `wait_for_rpcs` then raises as before.
"""

from __future__ import annotations

import asyncio

from pulumi.runtime.settings import SETTINGS


def _pending() -> list[asyncio.Future[object]]:
    with SETTINGS.lock:
        return [output for output in SETTINGS.outputs if not output.done()]


async def settle_outputs() -> None:
    """Return once no tracked output is pending (or one has failed)."""
    while pending := _pending():
        done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
        if any(not output.cancelled() and output.exception() is not None for output in done):
            return
