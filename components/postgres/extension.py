"""`Extension` (type `dynamic/postgres:Extension`): CREATE EXTENSION in one database.

The server must ship the extension (DSM ships pgvector; Debian's server here does not): a
missing one fails with the list of extensions the server offers. Dropping is RESTRICT, so
columns that use the extension's types are never dropped with it; when the whole database
goes, declare the extension with `deleted_with=<database>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
import pulumi
from psycopg import sql

from components.dynamic.provider import Props
from components.postgres.connection import PostgresError, connect
from components.postgres.provider import (
    InDatabaseProvider,
    Named,
    PostgresArgs,
    PostgresResource,
)


class ExtensionProvider(InDatabaseProvider):
    update_keys = ("schema", "database")
    identifier_keys = ("database", "name", "schema")
    keyword = "EXTENSION"

    def observe_in(self, conn: psycopg.Connection[Any], props: Props) -> dict[str, Any] | None:
        row = conn.execute(
            "SELECT n.nspname, e.extversion FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = %s",
            (props["name"],),
        ).fetchone()
        if row is None:
            return None
        observed = {"version": row[1]}
        # Without a declared schema the server picks one; only a declared one is compared.
        if props.get("schema"):
            observed["schema"] = row[0]
        return observed

    def apply(self, session: Props, props: Props, olds: Props | None) -> dict[str, Any]:
        name = str(props["name"])
        extension = sql.Identifier(name)
        with connect(session, str(props["database"])) as conn:
            current = self.observe_in(conn, props)
            if current is None:
                available = [
                    r[0] for r in conn.execute("SELECT name FROM pg_available_extensions ORDER BY 1")
                ]
                if name not in available:
                    raise PostgresError(
                        f"extension {name!r} is not available on {props['host']} (database {props['database']!r}); "
                        f"the server offers: {', '.join(available) or 'none'}"
                    )
                statement = sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(extension)
                if props.get("schema"):
                    statement = sql.SQL("{} SCHEMA {}").format(
                        statement, sql.Identifier(str(props["schema"]))
                    )
                conn.execute(statement)
            elif props.get("schema") and current.get("schema") != props["schema"]:
                conn.execute(
                    sql.SQL("ALTER EXTENSION {} SET SCHEMA {}").format(
                        extension, sql.Identifier(str(props["schema"]))
                    )
                )
            return self.observed_in(conn, props)


@dataclass(frozen=True, kw_only=True)
class ExtensionArgs(PostgresArgs):
    outputs = ("version",)
    database: pulumi.Input[str] | Named
    name: str
    schema: pulumi.Input[str] | None = None


class Extension(PostgresResource[ExtensionArgs], module="postgres", name="Extension"):
    """Extension `name` in `database` (objects in `schema`, or the server's default)."""

    provider_class = ExtensionProvider
    name: pulumi.Output[str]
    version: pulumi.Output[str]
