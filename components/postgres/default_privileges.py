"""`DefaultPrivileges` (type `dynamic/postgres:DefaultPrivileges`): what `role` gets on
tables or sequences that `owner` creates in `schema` from now on.

ALTER DEFAULT PRIVILEGES FOR ROLE owner IN SCHEMA schema GRANT ... TO role. Declarative like
`Grant`: the role's default entry is replaced as a whole, and `read` reports it from
pg_default_acl, so a change made out of band shows on `refresh`.

The database and both roles are referred to by identity (`Database`/`Role` resources): when
one is renamed, the entry follows it on the server (pg_default_acl holds oids) and the
update restates it under the new names; nothing is revoked first or replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
import pulumi
from psycopg import sql

from components.dynamic.provider import Props
from components.postgres.provider import (
    Named,
    PostgresArgs,
    PostgresResource,
    PrivilegesProvider,
)

DefaultObject = Literal["table", "sequence"]
# object type -> (pg_default_acl.defaclobjtype, keyword in ALTER DEFAULT PRIVILEGES, privileges)
OBJECT_TYPES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "table": ("r", "TABLES", ("DELETE", "INSERT", "REFERENCES", "SELECT", "TRIGGER", "TRUNCATE", "UPDATE")),
    "sequence": ("S", "SEQUENCES", ("SELECT", "UPDATE", "USAGE")),
}


class DefaultPrivilegesProvider(PrivilegesProvider):
    # The database and roles by identity (renamed ones are the same: an update here).
    replace_keys = ("database_ref", "owner_ref", "schema", "role_ref", "object_type")
    update_keys = ("privileges", "database", "owner", "role")
    identifier_keys = ("database", "owner", "schema", "role")
    references = {"database": "DATABASE", "owner": "ROLE", "role": "ROLE"}

    def object_id(self, props: Props) -> str:
        return (
            f"{props['database']}/{props['schema']}/{props['owner']}/{props['object_type']}/{props['role']}"
        )

    allowed_privileges = {object_type: privileges for object_type, (_, _, privileges) in OBJECT_TYPES.items()}

    def database_of(self, props: Props) -> str | None:
        return str(props["database"])

    def held(self, conn: psycopg.Connection[Any], props: Props) -> list[str] | None:
        params = {
            "owner": props["owner"],
            "role": props["role"],
            "schema": props["schema"],
            "objtype": OBJECT_TYPES[str(props["object_type"])][0],
        }
        row = conn.execute(
            "SELECT "
            "  EXISTS (SELECT FROM pg_roles WHERE rolname = %(owner)s) "
            "  AND EXISTS (SELECT FROM pg_roles WHERE rolname = %(role)s) "
            "  AND EXISTS (SELECT FROM pg_namespace WHERE nspname = %(schema)s), "
            "  ARRAY(SELECT a.privilege_type FROM pg_default_acl d CROSS JOIN LATERAL aclexplode(d.defaclacl) a "
            "        WHERE d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = %(owner)s) "
            "          AND d.defaclnamespace = (SELECT oid FROM pg_namespace WHERE nspname = %(schema)s) "
            "          AND d.defaclobjtype = %(objtype)s "
            "          AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = %(role)s) ORDER BY 1)",
            params,
        ).fetchone()
        if row is None or not row[0]:
            return None
        return list(row[1])

    def _statement(self, props: Props, action: str) -> sql.Composed:
        keyword = OBJECT_TYPES[str(props["object_type"])][1]
        privileges = (
            sql.SQL(", ").join(sql.SQL(p) for p in props["privileges"])
            if action == "GRANT"
            else sql.SQL("ALL")
        )
        return sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} {} {} ON {} {} {}").format(
            sql.Identifier(str(props["owner"])),
            sql.Identifier(str(props["schema"])),
            sql.SQL(action),
            privileges,
            sql.SQL(keyword),
            sql.SQL("TO" if action == "GRANT" else "FROM"),
            sql.Identifier(str(props["role"])),
        )

    def apply_statements(self, conn: psycopg.Connection[Any], props: Props) -> list[sql.Composed]:
        return [self._statement(props, "REVOKE"), self._statement(props, "GRANT")]

    def revoke_statements(self, conn: psycopg.Connection[Any], props: Props) -> list[sql.Composed]:
        return [self._statement(props, "REVOKE")]


@dataclass(frozen=True, kw_only=True)
class DefaultPrivilegesArgs(PostgresArgs):
    database: pulumi.Input[str] | Named
    owner: pulumi.Input[str] | Named
    schema: pulumi.Input[str]
    role: pulumi.Input[str] | Named
    object_type: DefaultObject
    privileges: Sequence[str]

    def values(self) -> dict[str, Any]:
        return {**super().values(), "privileges": list(self.privileges)}


class DefaultPrivileges(PostgresResource[DefaultPrivilegesArgs], module="postgres", name="DefaultPrivileges"):
    """`privileges` for `role` on tables or sequences `owner` creates in `schema` later."""

    provider_class = DefaultPrivilegesProvider
    privileges: pulumi.Output[list[str]]
