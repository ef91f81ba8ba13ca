"""`Database` (type `dynamic/postgres:Database`): a database with no PUBLIC access.

CREATE DATABASE gives PUBLIC the CONNECT and TEMPORARY privileges; this resource revokes
them, so only roles granted CONNECT explicitly can reach it. `public_privileges` is a fixed
input (empty): `refresh` shows PUBLIC access granted out of band and `up` revokes it again.
Dropping uses WITH (FORCE): sessions of the app are ended rather than blocking a destroy.

A new `name` renames the database in place (ALTER DATABASE ... RENAME TO): its data, grants,
schemas, extensions and ownership comment stay. PostgreSQL refuses the rename while anyone is
connected to the database, so the rename keeps new sessions out (ALLOW_CONNECTIONS false),
ends the sessions connected to *that database only* (pg_terminate_backend; the app's pool
reconnects, and reaches the new name once its configuration rolls out), renames, and opens
the database again. Ending other roles' sessions needs the admin to be a superuser or a
member of pg_signal_backend (or of those roles); otherwise the rename fails naming the
sessions and nothing is renamed. A new name already taken on the server is refused before
anything changes.
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
    PostgresArgs,
    PostgresObjectProvider,
    PostgresResource,
    rename_needed,
)


def _rename(conn: psycopg.Connection[Any], old: str, new: str, admin: Any) -> None:
    """ALTER DATABASE old RENAME TO new, with nobody connected to it: new sessions are kept
    out while the database's own sessions are ended, and let in again afterwards (under
    whichever name it has then)."""
    conn.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(sql.Identifier(old)))
    name = old
    try:
        sessions = conn.execute(
            "SELECT pid, usename FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (old,)
        ).fetchall()
        refused = []
        for pid, user in sessions:
            try:
                conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
            except psycopg.errors.InsufficientPrivilege:
                refused.append(str(user))
        if refused:
            raise PostgresError(
                f"cannot rename database {old!r} to {new!r}: {len(refused)} session(s) of "
                f"{', '.join(sorted(set(refused)))} are connected to it and {admin!r} may not end them (it needs "
                "to be a member of pg_signal_backend or of those roles); nothing was renamed"
            )
        # Waits (up to 5 s) for the ended sessions to exit.
        conn.execute(
            sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(old), sql.Identifier(new))
        )
        name = new
    finally:
        conn.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(sql.Identifier(name)))


class DatabaseProvider(PostgresObjectProvider):
    # The database is this resource (its ownership marker), not its name: a new name renames it.
    replace_keys = ("encoding",)
    update_keys = ("name", "owner", "public_privileges")
    identifier_keys = ("name", "owner")
    marked = "DATABASE"

    def observe_in(self, conn: psycopg.Connection[Any], props: Props) -> dict[str, Any] | None:
        row = conn.execute(
            "SELECT pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding), "
            "  ARRAY(SELECT a.privilege_type FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a "
            "        WHERE a.grantee = 0 ORDER BY 1) "
            "FROM pg_database d WHERE d.datname = %s",
            (props["name"],),
        ).fetchone()
        if row is None:
            return None
        return {"owner": row[0], "encoding": row[1], "public_privileges": list(row[2])}

    def apply(self, session: Props, props: Props, olds: Props | None) -> dict[str, Any]:
        name = str(props["name"])
        database = sql.Identifier(name)
        owner = sql.Identifier(str(props["owner"]))
        with connect(session) as conn:
            old = None if olds is None else olds.get("name")
            if old is not None and old != name and rename_needed(conn, "DATABASE", str(old), props):
                _rename(conn, str(old), name, props["admin_user"])
            current = self.observe_in(conn, props)
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
            if olds is not None:
                # A run killed inside `_rename` may have left new sessions kept out.
                conn.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(database))
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(database))
            return self.observed_in(conn, props)

    def delete_object(self, session: Props, _id: str, props: Props) -> None:
        with connect(session) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(str(props["name"])))
            )


@dataclass(frozen=True, kw_only=True)
class DatabaseArgs(PostgresArgs):
    name: pulumi.Input[str]
    owner: pulumi.Input[str]
    encoding: str = "UTF8"

    def values(self) -> dict[str, Any]:
        # PUBLIC's privileges are a fixed input: refresh shows any granted out of band.
        return {**super().values(), "public_privileges": []}


class Database(PostgresResource[DatabaseArgs], module="postgres", name="Database"):
    """A database owned by `owner`, reachable only by roles granted CONNECT. Objects that
    refer to it take the resource itself (`database=<Database>`), so a rename is an update of
    theirs, never a replacement."""

    provider_class = DatabaseProvider
    name: pulumi.Output[str]
    owner: pulumi.Output[str]
