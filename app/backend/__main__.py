"""`python -m app.backend`: the chat backend on BACKEND_HOST:BACKEND_PORT (default 0.0.0.0:8000)."""

from __future__ import annotations

import logging
import sys

import uvicorn

from app.backend.main import Drain, create_app
from app.backend.server import DrainingServer
from app.backend.settings import SettingsError, load_settings

# Requests in flight get this long after draining ends; the pod's termination grace
# period (30 s by default) must exceed it plus SHUTDOWN_DRAIN_SECONDS.
GRACEFUL_SHUTDOWN_SECONDS = 20


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"chat-backend: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request line at INFO; the backend logs what matters itself.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    drain = Drain()
    config = uvicorn.Config(
        create_app(settings, drain=drain),
        host=settings.backend_host,
        port=settings.backend_port,
        log_config=None,
        server_header=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    DrainingServer(config, drain, settings.shutdown_drain_seconds).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
