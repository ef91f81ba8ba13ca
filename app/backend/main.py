"""The chat backend's FastAPI application.

    POST /api/chat  {"message": str, "session_id"?: str} -> {"reply": str, "id": int, "source": "agent"|"model"}
    GET  /healthz   the process is alive
    GET  /readyz    the database answers and chat_exchanges exists; 503 while draining
    GET  /metrics   Prometheus exposition

`create_app(settings)` builds everything from the settings; tests pass their own PAIS
client, store or drain state.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.backend.metrics import HttpMetrics, MetricsMiddleware
from app.backend.pais import PaisClient, PaisError
from app.backend.settings import Settings
from app.backend.store import ChatStore, DatabaseUnavailable, ExchangeStore

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 8000
STARTUP_DB_WAIT_SECONDS = 3.0
"""How long start-up waits for the database to create the table; later, /readyz retries."""


class Drain:
    """Set once SIGTERM arrived: /readyz answers 503 so the pod leaves the Service's
    endpoints, while requests are still served (with `Connection: close`, so clients
    open their next request on a pod that stays)."""

    def __init__(self) -> None:
        self.draining = False

    def begin(self) -> None:
        if not self.draining:
            log.info("draining: /readyz answers 503 from now on")
        self.draining = True


class DrainMiddleware:
    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and self.drain.draining:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, send_closing)


class ChatRequest(BaseModel):
    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    session_id: str | None = Field(None, max_length=128)


class ChatResponse(BaseModel):
    reply: str
    id: int
    source: Literal["agent", "model"]


def create_app(
    settings: Settings,
    *,
    pais: PaisClient | None = None,
    store: ExchangeStore | None = None,
    drain: Drain | None = None,
    metrics: HttpMetrics | None = None,
) -> FastAPI:
    pais_client = pais if pais is not None else PaisClient(settings)
    chat_store: ExchangeStore = store if store is not None else ChatStore(settings)
    drain_state = drain if drain is not None else Drain()
    http_metrics = metrics if metrics is not None else HttpMetrics()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await chat_store.open()
        try:
            await chat_store.ensure_schema(timeout=STARTUP_DB_WAIT_SECONDS)
        except DatabaseUnavailable as exc:
            log.warning("%s; /readyz answers 503 until the database is reachable", exc)
        try:
            yield
        finally:
            await pais_client.aclose()
            await chat_store.close()

    app = FastAPI(
        title="paif chat backend", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.settings = settings
    app.state.drain = drain_state
    app.state.metrics = http_metrics

    @app.post("/api/chat", response_model=ChatResponse)
    async def chat(request: ChatRequest) -> ChatResponse | JSONResponse:
        try:
            reply = await pais_client.chat(request.message)
        except PaisError as exc:
            log.warning("chat failed: %s", exc)
            return JSONResponse({"detail": str(exc)}, status_code=502)
        try:
            row_id = await chat_store.insert(request.session_id, request.message, reply.text, reply.source)
        except DatabaseUnavailable as exc:
            log.warning("%s", exc)
            return JSONResponse({"detail": "database unavailable"}, status_code=503)
        log.info("exchange %d answered by the %s endpoint", row_id, reply.source)
        return ChatResponse(reply=reply.text, id=row_id, source=reply.source)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        if drain_state.draining:
            return JSONResponse({"status": "draining"}, status_code=503)
        if not await chat_store.ready():
            return JSONResponse({"status": "database unavailable"}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics")
    async def metrics_endpoint(_: Request) -> Response:
        return Response(generate_latest(http_metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(DrainMiddleware, drain=drain_state)
    # Added last, so outermost: it also times what the inner middlewares do.
    app.add_middleware(MetricsMiddleware, metrics=http_metrics)
    return app
