"""`Database` (type `dynamic/postgres:Database`): a database with no PUBLIC access.

CREATE DATABASE gives PUBLIC the CONNECT and TEMPORARY privileges; this resource revokes
them, so only roles granted CONNECT explicitly can reach it. `public_privileges` is a fixed
input (empty): `refresh` shows PUBLIC access granted out of band and `up` revokes it again.
Dropping uses WITH (FORCE): sessions of the app are ended rather than blocking a destroy.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pulumi
from psycopg import sql
from pulumi.dynamic import Resource

from components.dynamic.provider import Props
from components.postgres.connection import PgConnection, PostgresError, connect
from components.postgres.provider import (
    PostgresObjectProvider,
    ownership_marker,
    resource_props,
    secret_options,
)


class DatabaseProvider(PostgresObjectProvider):
    replace_keys = ("name", "encoding")
    update_keys = ("owner", "public_privileges")
    identifier_keys = ("name", "owner")
    marked = "DATABASE"

    def marker_query(self, props: Props) -> tuple[str | None, sql.SQL]:
        return None, sql.SQL(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s"
        )

    def object_id(self, props: Props) -> str:
        return str(props["name"])

    def observe(self, session: Props, _id: str, props: Props) -> dict[str, Any] | None:
        with connect(session) as conn:
            return self._observe(conn, str(props["name"]))

    def _observe(self, conn: psycopg.Connection[Any], name: str) -> dict[str, Any] | None:
        row = conn.execute(
            "SELECT pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding), "
            "  ARRAY(SELECT a.privilege_type FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a "
            "        WHERE a.grantee = 0 ORDER BY 1) "
            "FROM pg_database d WHERE d.datname = %s",
            (name,),
        ).fetchone()
        if row is None:
            return None
        return {"owner": row[0], "encoding": row[1], "public_privileges": list(row[2])}

    def apply(self, session: Props, props: Props, olds: Props | None) -> dict[str, Any]:
        name = str(props["name"])
        database = sql.Identifier(name)
        owner = sql.Identifier(str(props["owner"]))
        with connect(session) as conn:
            current = self._observe(conn, name)
            if olds is None:
                if current is not None:
                    raise PostgresError(
                        f"database {name!r} already exists on {props['host']}: import it or choose another name"
                    )
                # CREATE DATABASE cannot run inside a transaction block.
                conn.execute(
                    sql.SQL("CREATE DATABASE {} WITH OWNER {} ENCODING {} TEMPLATE template0").format(
                        database, owner, sql.Literal(props["encoding"])
                    )
                )
            elif current is None:
                raise PostgresError(
                    f"database {name!r} no longer exists; run `pulumi refresh` to recreate it"
                )
            elif current["owner"] != props["owner"]:
                conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(database, owner))
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(database))
            observed = self._observe(conn, name)
        assert observed is not None
        return observed

    def delete_object(self, session: Props, _id: str, props: Props) -> None:
        with connect(session) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(str(props["name"])))
            )


class Database(Resource, module="postgres", name="Database"):
    """A database owned by `owner`, reachable only by roles granted CONNECT."""

    name: pulumi.Output[str]
    owner: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        connection: PgConnection,
        name: pulumi.Input[str],
        owner: pulumi.Input[str],
        encoding: str = "UTF8",
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = resource_props(
            connection,
            name=name,
            owner=owner,
            encoding=encoding,
            public_privileges=[],
            ownership=ownership_marker(resource_name),
        )
        super().__init__(DatabaseProvider(), resource_name, props, secret_options(opts))
