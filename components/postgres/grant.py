"""`Grant` (type `dynamic/postgres:Grant`): the exact privileges a role holds on a database,
a schema, or the tables that exist in a schema.

Declarative: privileges of the object type that are not declared are revoked from the
role, and `read` reports the role's own ACL entries (not privileges it inherits), so
`refresh` shows a privilege granted or revoked out of band. Table grants cover the tables
present when applied, except tables the role owns (revoking an owner's rights as a
superuser would strip them); default privileges cover tables created later.

A grant refers to its role and database by identity (`role=<Role>`, `database=<Database>`):
when either is renamed, the privileges follow it on the server (ACLs name roles and objects
by oid) and the grant's update only restates them under the new names, in one transaction;
nothing is revoked first and nothing is replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
import pulumi
from psycopg import sql
from pulumi.dynamic import CheckFailure

from components.dynamic.provider import Props
from components.postgres.provider import (
    Named,
    PostgresArgs,
    PostgresResource,
    PrivilegesProvider,
)

GrantObject = Literal["database", "schema", "table"]
PRIVILEGES: dict[str, tuple[str, ...]] = {
    "database": ("CONNECT", "CREATE", "TEMPORARY"),
    "schema": ("CREATE", "USAGE"),
    "table": ("DELETE", "INSERT", "REFERENCES", "SELECT", "TRIGGER", "TRUNCATE", "UPDATE"),
}
# The role's own ACL entries on each matching catalog row (a NULL ACL is the owner-only default).
_ACL = (
    "SELECT ARRAY(SELECT a.privilege_type FROM aclexplode(coalesce(o.{acl}, acldefault({kind}, o.{owner}))) a "
    "WHERE a.grantee = (SELECT oid FROM pg_roles WHERE rolname = %(role)s) ORDER BY 1) FROM {catalog} o WHERE "
)
# Tables, views and the like in the schema, except those the grantee owns.
_TABLES_IN_SCHEMA = (
    "o.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = %(schema)s) "
    "AND o.relkind IN ('r', 'p', 'v', 'm', 'f') AND o.relowner <> (SELECT oid FROM pg_roles WHERE rolname = %(role)s)"
)
_ACL_QUERIES: dict[str, sql.Composed] = {
    "database": sql.SQL(_ACL + "o.datname = %(database)s").format(
        acl=sql.Identifier("datacl"),
        kind=sql.Literal("d"),
        owner=sql.Identifier("datdba"),
        catalog=sql.Identifier("pg_database"),
    ),
    "schema": sql.SQL(_ACL + "o.nspname = %(schema)s").format(
        acl=sql.Identifier("nspacl"),
        kind=sql.Literal("n"),
        owner=sql.Identifier("nspowner"),
        catalog=sql.Identifier("pg_namespace"),
    ),
    "table": sql.SQL(_ACL + _TABLES_IN_SCHEMA).format(
        acl=sql.Identifier("relacl"),
        kind=sql.Literal("r"),
        owner=sql.Identifier("relowner"),
        catalog=sql.Identifier("pg_class"),
    ),
}
_TABLE_NAMES = sql.SQL("SELECT o.relname FROM pg_class o WHERE {} ORDER BY 1").format(
    sql.SQL(_TABLES_IN_SCHEMA)
)


class GrantProvider(PrivilegesProvider):
    # The role and the database by identity (renamed ones are the same: an update here).
    replace_keys = ("role_ref", "object_type", "database_ref", "schema")
    update_keys = ("privileges", "role", "database")
    identifier_keys = ("role", "database", "schema")
    references = {"database": "DATABASE", "role": "ROLE"}

    def object_id(self, props: Props) -> str:
        return "/".join(
            str(p) for p in (props["database"], props.get("schema"), props["object_type"], props["role"]) if p
        )

    allowed_privileges = PRIVILEGES

    def object_problems(self, inputs: Props) -> list[CheckFailure]:
        object_type = inputs["object_type"]
        if object_type != "database" and not inputs.get("schema"):
            return [CheckFailure("schema", f"required for {object_type} grants")]
        return []

    def database_of(self, props: Props) -> str | None:
        return None if props["object_type"] == "database" else str(props["database"])

    def held(self, conn: psycopg.Connection[Any], props: Props) -> list[str] | None:
        params = {"role": props["role"], "database": props["database"], "schema": props.get("schema")}
        exists = conn.execute(
            "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = %(role)s), "
            "EXISTS (SELECT FROM pg_namespace WHERE nspname = %(schema)s)",
            params,
        ).fetchone()
        role_exists, schema_exists = exists or (False, False)
        object_type = props["object_type"]
        if not role_exists or (object_type != "database" and not schema_exists):
            return None
        rows = conn.execute(_ACL_QUERIES[str(object_type)], params).fetchall()
        if object_type == "database" and not rows:
            return None
        if not rows:
            # No tables yet: nothing can differ from what is declared.
            return list(props["privileges"])
        held = set.intersection(*(set(privileges) for (privileges,) in rows))
        return sorted(held)

    def _targets(self, conn: psycopg.Connection[Any], props: Props) -> sql.Composable | None:
        """`ON ...` clause for the object(s); None when there is nothing to grant on."""
        object_type = props["object_type"]
        if object_type == "database":
            return sql.SQL("DATABASE {}").format(sql.Identifier(str(props["database"])))
        if object_type == "schema":
            return sql.SQL("SCHEMA {}").format(sql.Identifier(str(props["schema"])))
        tables = conn.execute(_TABLE_NAMES, {"schema": props["schema"], "role": props["role"]}).fetchall()
        if not tables:
            return None
        names = sql.SQL(", ").join(sql.Identifier(str(props["schema"]), name) for (name,) in tables)
        return sql.SQL("TABLE {}").format(names)

    def apply_statements(self, conn: psycopg.Connection[Any], props: Props) -> list[sql.Composed]:
        target, role = self._targets(conn, props), sql.Identifier(str(props["role"]))
        if target is None:
            return []
        return [
            sql.SQL("REVOKE ALL ON {} FROM {}").format(target, role),
            sql.SQL("GRANT {} ON {} TO {}").format(_privileges(list(props["privileges"])), target, role),
        ]

    def revoke_statements(self, conn: psycopg.Connection[Any], props: Props) -> list[sql.Composed]:
        target = self._targets(conn, props)
        if target is None:
            return []
        privileges, role = _privileges(list(props["privileges"])), sql.Identifier(str(props["role"]))
        return [sql.SQL("REVOKE {} ON {} FROM {}").format(privileges, target, role)]


def _privileges(names: Sequence[str]) -> sql.Composable:
    # Privilege keywords come from the fixed PRIVILEGES table (validated in check), never from users.
    return sql.SQL(", ").join(sql.SQL(name) for name in names)


@dataclass(frozen=True, kw_only=True)
class GrantArgs(PostgresArgs):
    role: pulumi.Input[str] | Named
    object_type: GrantObject
    database: pulumi.Input[str] | Named
    privileges: Sequence[str]
    schema: pulumi.Input[str] | None = None

    def values(self) -> dict[str, Any]:
        return {**super().values(), "privileges": list(self.privileges)}


class Grant(PostgresResource[GrantArgs], module="postgres", name="Grant"):
    """`privileges` on a database, a schema, or the existing tables of a schema, to `role`."""

    provider_class = GrantProvider
    privileges: pulumi.Output[list[str]]
