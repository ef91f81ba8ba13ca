"""uvicorn with a drain period: the first SIGTERM starts draining instead of stopping.

Kubernetes removes a terminating pod from the Service's endpoints at about the moment it
sends SIGTERM, but kube-proxy and clients learn that a little later. So on SIGTERM the
backend keeps serving for SHUTDOWN_DRAIN_SECONDS with /readyz at 503 and `Connection:
close` on every answer; then uvicorn's own graceful shutdown stops accepting connections
and lets the requests in flight finish. A second SIGTERM, or SIGINT, stops at once
(still finishing requests in flight).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from types import FrameType

import uvicorn

from app.backend.main import Drain


class DrainingServer(uvicorn.Server):
    def __init__(
        self,
        config: uvicorn.Config,
        drain: Drain,
        drain_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(config)
        self.drain = drain
        self.drain_seconds = drain_seconds
        self._clock = clock
        self._exit_at: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if (
            sig == signal.SIGTERM
            and self._exit_at is None
            and self.drain_seconds > 0
            and not self.should_exit
        ):
            self.drain.begin()
            self._exit_at = self._clock() + self.drain_seconds
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._exit_at is not None and not self.should_exit and self._clock() >= self._exit_at:
            super().handle_exit(signal.SIGTERM, None)
        return await super().on_tick(counter)
