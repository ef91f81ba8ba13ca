"""How the PostgreSQL dynamic providers reach the server: one admin connection description,
carried in every resource's inputs, and `connect()` with retries at apply time.

The connection fields travel as flat resource properties (`host`, `port`, `admin_user`,
`admin_password`, ...). `admin_password` is always a Pulumi secret and is listed in each
resource's `additional_secret_outputs`, so it is encrypted in state. Nothing here runs
during `check`/`diff`: previews never contact the server.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import psycopg
import pulumi
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from components.dynamic.connection import Connection
from components.dynamic.provider import ProviderError

SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
# The server answered and said no: waiting will not change the answer.
_DEFINITIVE_FAILURES = (
    "password authentication failed",
    "does not exist",
    "no pg_hba.conf entry",
    "permission denied",
    "certificate verify failed",
    "server does not support SSL",
)


class PostgresError(ProviderError):
    """A PostgreSQL operation failed; the message names the object and the server."""


class DatabaseMissing(PostgresError):
    """The database to connect to does not exist (objects inside it are gone)."""


@dataclass(frozen=True)
class PgConnection(Connection):
    """An admin connection to a PostgreSQL server, as resource inputs.

    The admin needs CREATEROLE and CREATEDB; it does not need to be a superuser (DSM's
    admin is not one).
    """

    host: pulumi.Input[str]
    admin_user: pulumi.Input[str]
    admin_password: pulumi.Input[str]
    """Must be a Pulumi secret; it is wrapped as one again here to be sure."""
    port: pulumi.Input[int] = 5432
    maintenance_database: str = "postgres"
    """Database for cluster-wide statements (roles, databases)."""
    sslmode: SslMode = "verify-full"
    sslrootcert: str | None = None
    """CA bundle (a path on the machine running Pulumi, or "system") for verify-ca/verify-full."""
    connect_timeout: int = 10
    """Seconds per connection attempt."""
    connect_attempts: int = 5
    """Attempts (with exponential backoff) while the server is unreachable or starting."""

    secret_keys: ClassVar[tuple[str, ...]] = ("admin_password",)


CONNECTION_KEYS = PgConnection.keys()


def _retryable(exc: BaseException) -> bool:
    if not isinstance(exc, psycopg.OperationalError):
        return False
    message = str(exc)
    return not any(marker in message for marker in _DEFINITIVE_FAILURES)


def _describe_target(props: Mapping[str, Any], dbname: str) -> str:
    return f"{props['admin_user']}@{props['host']}:{int(props['port'])}/{dbname}"


@contextmanager
def connect(props: Mapping[str, Any], dbname: str | None = None) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection as the admin to `dbname` (default: the maintenance database).

    Retries only while the server is unreachable or starting; a refused password or a
    missing database fails at once (DatabaseMissing for the latter).
    """
    target_db = dbname or str(props["maintenance_database"])
    if not props.get("host"):
        raise PostgresError(
            "no database host: the cluster has not published one yet; give the host explicitly"
        )
    conninfo: dict[str, Any] = {
        "host": props["host"],
        "port": int(props["port"]),
        "user": props["admin_user"],
        "password": props["admin_password"],
        "dbname": target_db,
        "sslmode": props["sslmode"],
        "connect_timeout": int(props["connect_timeout"]),
        "application_name": "pulumi-paif",
        # Timestamps (VALID UNTIL) are read and written in UTC.
        "options": "-c TimeZone=UTC",
    }
    if props.get("sslrootcert"):
        conninfo["sslrootcert"] = props["sslrootcert"]
    retrying = Retrying(
        retry=retry_if_exception(_retryable),
        stop=stop_after_attempt(max(1, int(props["connect_attempts"]))),
        wait=wait_exponential(multiplier=1, min=1, max=15),
        reraise=True,
    )
    try:
        conn = retrying(psycopg.connect, autocommit=True, **conninfo)
    except psycopg.OperationalError as exc:
        reason = str(exc).split("failed:", 1)[-1].strip()
        if f'database "{target_db}" does not exist' in reason:
            raise DatabaseMissing(f"database {target_db!r} does not exist on {props['host']}") from None
        raise PostgresError(f"cannot connect to {_describe_target(props, target_db)}: {reason}") from None
    try:
        yield conn
    finally:
        conn.close()


def is_superuser(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    return bool(row and row[0])
