"""`Schema` (type `dynamic/postgres:Schema`): a schema inside a database, owned by a role.

Dropping is RESTRICT: removing a schema that still holds tables fails instead of deleting
data. When the whole database goes, declare the schema with `deleted_with=<database>` so
the engine skips the drop.
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


class SchemaProvider(InDatabaseProvider):
    update_keys = ("owner", "database")
    identifier_keys = ("database", "name", "owner")
    marked = "SCHEMA"
    keyword = "SCHEMA"

    def observe_in(self, conn: psycopg.Connection[Any], props: Props) -> dict[str, Any] | None:
        row = conn.execute(
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %s", (props["name"],)
        ).fetchone()
        return None if row is None else {"owner": row[0]}

    def apply(self, session: Props, props: Props, olds: Props | None) -> dict[str, Any]:
        name = str(props["name"])
        schema = sql.Identifier(name)
        owner = sql.Identifier(str(props["owner"]))
        with connect(session, str(props["database"])) as conn:
            current = self.observe_in(conn, props)
            if olds is None:
                if current is not None:
                    raise PostgresError(f"schema {name!r} already exists in database {props['database']!r}")
                conn.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(schema, owner))
            elif current is None:
                raise PostgresError(f"schema {name!r} no longer exists; run `pulumi refresh` to recreate it")
            elif current["owner"] != props["owner"]:
                conn.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(schema, owner))
            return self.observed_in(conn, props)


@dataclass(frozen=True, kw_only=True)
class SchemaArgs(PostgresArgs):
    database: pulumi.Input[str] | Named
    name: pulumi.Input[str]
    owner: pulumi.Input[str]


class Schema(PostgresResource[SchemaArgs], module="postgres", name="Schema"):
    """A schema in `database`, owned by `owner`."""

    provider_class = SchemaProvider
    name: pulumi.Output[str]
    database: pulumi.Output[str]
