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
    Named,
    PostgresArgs,
    PostgresObjectProvider,
    PostgresResource,
    drop_in_database,
    in_database,
)


class SchemaProvider(PostgresObjectProvider):
    # Its database by identity (a renamed database is the same one: an update here).
    replace_keys = ("database_ref", "name")
    update_keys = ("owner", "database")
    identifier_keys = ("database", "name", "owner")
    references = {"database": "DATABASE"}
    marked = "SCHEMA"

    def marker_query(self, props: Props) -> tuple[str | None, sql.SQL]:
        return str(props["database"]), sql.SQL(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s"
        )

    def object_id(self, props: Props) -> str:
        return f"{props['database']}/{props['name']}"

    def observe(self, session: Props, _id: str, props: Props) -> dict[str, Any] | None:
        return in_database(session, props["database"], lambda conn: self._observe(conn, str(props["name"])))

    def _observe(self, conn: psycopg.Connection[Any], name: str) -> dict[str, Any] | None:
        row = conn.execute(
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %s", (name,)
        ).fetchone()
        return None if row is None else {"owner": row[0]}

    def apply(self, session: Props, props: Props, olds: Props | None) -> dict[str, Any]:
        name = str(props["name"])
        schema = sql.Identifier(name)
        owner = sql.Identifier(str(props["owner"]))
        with connect(session, str(props["database"])) as conn:
            current = self._observe(conn, name)
            if olds is None:
                if current is not None:
                    raise PostgresError(f"schema {name!r} already exists in database {props['database']!r}")
                conn.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(schema, owner))
            elif current is None:
                raise PostgresError(f"schema {name!r} no longer exists; run `pulumi refresh` to recreate it")
            elif current["owner"] != props["owner"]:
                conn.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(schema, owner))
            observed = self._observe(conn, name)
        assert observed is not None
        return observed

    def delete_object(self, session: Props, _id: str, props: Props) -> None:
        drop_in_database(session, props, "SCHEMA")


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
