"""Chat history in PostgreSQL: one row per exchange in `chat_exchanges`.

The app role owns its table and creates it at start when missing (`CREATE TABLE IF NOT
EXISTS`, unqualified: the role's search_path starts with the app's schema). Connections
come from a small psycopg pool; TLS follows DB_SSLMODE, verified against DB_SSLROOTCERT
when set. A database that is down at start does not stop the process: /readyz answers 503
and tries to create the table again until it succeeds.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool

from app.backend.settings import Settings

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS chat_exchanges (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now(),
    session_id  text,
    prompt      text NOT NULL,
    reply       text NOT NULL,
    source      text NOT NULL CHECK (source IN ('agent', 'model'))
)
"""
INSERT = "INSERT INTO chat_exchanges (session_id, prompt, reply, source) VALUES (%s, %s, %s, %s) RETURNING id"
READY_QUERY = "SELECT 1 FROM chat_exchanges LIMIT 0"


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached or refused the statement."""


def conninfo(settings: Settings, connect_timeout: int = 5) -> str:
    """A libpq connection string; it lives in memory only (never argv, never a log line)."""
    params: dict[str, str | int] = {
        "host": settings.db_host,
        "port": settings.db_port,
        "dbname": settings.db_name,
        "user": settings.db_user,
        "password": settings.db_password.get_secret_value(),
        "sslmode": settings.db_sslmode,
        "connect_timeout": connect_timeout,
        "application_name": "chat-backend",
    }
    if settings.db_sslrootcert:
        params["sslrootcert"] = settings.db_sslrootcert
    return make_conninfo("", **params)


class ExchangeStore(Protocol):
    """What the API needs from the history store (ChatStore; tests give a fake)."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def ensure_schema(self, timeout: float = 5.0) -> None: ...
    async def ready(self) -> bool: ...
    async def insert(self, session_id: str | None, prompt: str, reply: str, source: str) -> int: ...


class ChatStore:
    """The `chat_exchanges` table behind a connection pool."""

    def __init__(self, settings: Settings, *, ready_timeout: float = 0.8) -> None:
        self._pool = AsyncConnectionPool(
            conninfo(settings),
            min_size=1,
            max_size=settings.db_pool_max_size,
            open=False,
            timeout=5.0,
            name="chat-db",
            kwargs={"autocommit": True},
        )
        self._ready_timeout = ready_timeout
        self._schema_ready = False

    @property
    def schema_ready(self) -> bool:
        return self._schema_ready

    async def open(self) -> None:
        """Start the pool without waiting for the database (connections are made in the background)."""
        await self._pool.open(wait=False)

    async def close(self) -> None:
        await self._pool.close()

    async def ensure_schema(self, timeout: float = 5.0) -> None:
        try:
            async with self._pool.connection(timeout=timeout) as conn:
                await conn.execute(SCHEMA)
        except (psycopg.Error, TimeoutError) as exc:
            raise DatabaseUnavailable(f"cannot create table chat_exchanges: {type(exc).__name__}") from None
        if not self._schema_ready:
            log.info("table chat_exchanges is ready")
        self._schema_ready = True

    async def ready(self) -> bool:
        """The database answers and the table exists, within the probe's time budget."""
        try:
            async with asyncio.timeout(self._ready_timeout):
                if not self._schema_ready:
                    await self.ensure_schema(timeout=self._ready_timeout)
                async with self._pool.connection(timeout=self._ready_timeout) as conn:
                    await conn.execute(READY_QUERY)
        except (DatabaseUnavailable, psycopg.Error, TimeoutError) as exc:
            log.warning("database not ready: %s", type(exc).__name__)
            return False
        return True

    async def insert(self, session_id: str | None, prompt: str, reply: str, source: str) -> int:
        try:
            async with self._pool.connection() as conn:
                cursor = await conn.execute(INSERT, (session_id, prompt, reply, source))
                row = await cursor.fetchone()
        except (psycopg.Error, TimeoutError) as exc:
            raise DatabaseUnavailable(f"cannot store the exchange: {type(exc).__name__}") from None
        assert row is not None
        return int(row[0])
