"""`Role` (type `dynamic/postgres:Role`): a PostgreSQL role with least-privilege attributes.

A role is never SUPERUSER, CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS: those are fixed
inputs, so `refresh` shows a role someone widened out of band and the next `up` narrows it
again. Passwords are sent as SCRAM-SHA-256 verifiers computed here by libpq (with SASLprep,
so any password, ASCII or not), so the plaintext never reaches the server or its statement
log; changing the password input runs ALTER ROLE and the old password stops working at once.

A new `name` renames the role in place (ALTER ROLE ... RENAME TO): its grants, default
privileges, ownerships, memberships and ownership comment follow it, and its sessions stay
connected. PostgreSQL keeps a SCRAM verifier across a rename but clears an MD5 password
(the name is its salt); the rename sends the role's password again in the same transaction,
so a role whose password was set as MD5 out of band still logs in under its new name. A new
name already taken on the server is refused before anything changes.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import pulumi
from psycopg import sql
from pulumi.dynamic import CheckFailure

from components.dynamic.provider import Props, is_unknown
from components.postgres.connection import PostgresError, connect, is_superuser
from components.postgres.provider import (
    PostgresArgs,
    PostgresObjectProvider,
    PostgresResource,
    rename_needed,
)

# Attribute -> (pg_roles column, keyword when true, keyword when false).
_FLAGS: dict[str, tuple[str, str, str]] = {
    "login": ("rolcanlogin", "LOGIN", "NOLOGIN"),
    "inherit": ("rolinherit", "INHERIT", "NOINHERIT"),
    "superuser": ("rolsuper", "SUPERUSER", "NOSUPERUSER"),
    "create_db": ("rolcreatedb", "CREATEDB", "NOCREATEDB"),
    "create_role": ("rolcreaterole", "CREATEROLE", "NOCREATEROLE"),
    "replication": ("rolreplication", "REPLICATION", "NOREPLICATION"),
    "bypass_rls": ("rolbypassrls", "BYPASSRLS", "NOBYPASSRLS"),
}
LEAST_PRIVILEGE = {
    "superuser": False,
    "create_db": False,
    "create_role": False,
    "replication": False,
    "bypass_rls": False,
}


def scram_verifier(conn: psycopg.Connection[Any], role: str, password: str) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `role`'s `password`, computed by libpq
    (PQencryptPasswordConn: SASLprep, a fresh salt, the server's iteration count)."""
    verifier: bytes = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256")
    return verifier.decode()


def _password_clause(conn: psycopg.Connection[Any], role: str, password: str | None) -> sql.Composable:
    if password is None:
        return sql.SQL("PASSWORD NULL")
    return sql.SQL("PASSWORD {}").format(sql.Literal(scram_verifier(conn, role, password)))


def _valid_until(value: str | None) -> sql.Composable:
    return sql.SQL("VALID UNTIL {}").format(sql.Literal(value or "infinity"))


def normalize_timestamp(value: Any) -> Any:
    """An ISO 8601 timestamp with zone, in UTC, as PostgreSQL reports it back."""
    if value is None or is_unknown(value):
        return value
    parsed = datetime.datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise ValueError("needs a time zone, e.g. 2030-01-01T00:00:00+00:00")
    return parsed.astimezone(datetime.UTC).isoformat()


def _search_path(rolconfig: list[str] | None) -> list[str] | None:
    for entry in rolconfig or []:
        name, _, value = entry.partition("=")
        if name == "search_path":
            return [part.strip().strip('"') for part in value.split(",")]
    return None


class RoleProvider(PostgresObjectProvider):
    # The role is this resource (its ownership marker), not its name: a new name renames it.
    replace_keys = ()
    update_keys = (
        "name",
        "login",
        "password",
        "connection_limit",
        "valid_until",
        "search_path",
        "grant_to_admin",
        *_FLAGS,
    )
    identifier_keys = ("name",)
    marked = "ROLE"

    def validate(self, inputs: dict[str, Any]) -> list[CheckFailure]:
        failures = []
        try:
            inputs["valid_until"] = normalize_timestamp(inputs.get("valid_until"))
        except ValueError as exc:
            failures.append(CheckFailure("valid_until", f"{inputs.get('valid_until')!r}: {exc}"))
        limit = inputs.get("connection_limit")
        if not is_unknown(limit) and (not isinstance(limit, int | float) or int(limit) < -1):
            failures.append(
                CheckFailure("connection_limit", f"{limit!r}: must be -1 (no limit) or a count >= 0")
            )
        return failures

    def observe_in(self, conn: psycopg.Connection[Any], props: Props) -> dict[str, Any] | None:
        columns = sql.SQL(", ").join(sql.Identifier(column) for column, _, _ in _FLAGS.values())
        row = conn.execute(
            sql.SQL(
                "SELECT {}, rolconnlimit, CASE WHEN isfinite(rolvaliduntil) THEN rolvaliduntil END, rolconfig "
                "FROM pg_roles WHERE rolname = %s"
            ).format(columns),
            (props["name"],),
        ).fetchone()
        if row is None:
            return None
        flags = dict(zip(_FLAGS, (bool(v) for v in row[: len(_FLAGS)]), strict=True))
        connlimit, valid_until, rolconfig = row[len(_FLAGS) :]
        return {
            **flags,
            "connection_limit": int(connlimit),
            "valid_until": valid_until.astimezone(datetime.UTC).isoformat() if valid_until else None,
            "search_path": _search_path(rolconfig),
        }

    def apply(self, session: Props, props: Props, olds: Props | None) -> dict[str, Any]:
        name = str(props["name"])
        role = sql.Identifier(name)
        old = None if olds is None else olds.get("name")
        renamed = old is not None and old != name
        with connect(session) as conn, conn.transaction():
            if renamed and rename_needed(conn, "ROLE", str(old), props):
                conn.execute(sql.SQL("ALTER ROLE {} RENAME TO {}").format(sql.Identifier(str(old)), role))
            current = None if olds is None else self.observe_in(conn, props)
            if olds is not None and current is None:
                raise PostgresError(f"role {name!r} no longer exists; run `pulumi refresh` to recreate it")
            options: list[sql.Composable] = []
            for key, (_, yes, no) in _FLAGS.items():
                if current is None or current[key] != bool(props[key]):
                    options.append(sql.SQL(yes if props[key] else no))
            limit = int(props["connection_limit"])
            if current is None or current["connection_limit"] != limit:
                options.append(sql.SQL("CONNECTION LIMIT {}").format(sql.Literal(limit)))
            if current is None or current["valid_until"] != props.get("valid_until"):
                options.append(_valid_until(props.get("valid_until")))
            password_cleared = renamed and props.get("password") is not None  # an MD5 one would be
            if olds is None or olds.get("password") != props.get("password") or password_cleared:
                options.append(_password_clause(conn, name, props.get("password")))
            if current is None:
                conn.execute(sql.SQL("CREATE ROLE {} WITH {}").format(role, sql.SQL(" ").join(options)))
            elif options:
                conn.execute(sql.SQL("ALTER ROLE {} WITH {}").format(role, sql.SQL(" ").join(options)))
            search_path = props.get("search_path")
            if (current or {}).get("search_path") != search_path:
                if search_path:
                    conn.execute(
                        sql.SQL("ALTER ROLE {} SET search_path TO {}").format(
                            role, sql.SQL(", ").join(sql.Identifier(s) for s in search_path)
                        )
                    )
                else:
                    conn.execute(sql.SQL("ALTER ROLE {} RESET search_path").format(role))
            if props.get("grant_to_admin") and not is_superuser(conn):
                member = conn.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", (name,)).fetchone()
                if not (member and member[0]):
                    conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(role))
            return self.observed_in(conn, props)

    def delete_object(self, session: Props, _id: str, props: Props) -> None:
        with connect(session) as conn:
            try:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(str(props["name"]))))
            except psycopg.errors.DependentObjectsStillExist as exc:
                detail = exc.diag.message_detail or ""
                raise PostgresError(
                    f"role {props['name']!r} still has privileges or objects: {detail.strip()}"
                ) from None


@dataclass(frozen=True, kw_only=True)
class RoleArgs(PostgresArgs):
    """`valid_until`: ISO 8601 with zone, None for no expiry. `search_path`: schemas the role
    resolves unqualified names in. `grant_to_admin`: make the connecting admin a member, which
    a non-superuser admin (DSM's) needs to create objects owned by the role. Objects that
    refer to the role take the resource itself (`role=<Role>`), so a rename is an update of
    theirs, never a replacement."""

    secrets = ("password",)
    name: pulumi.Input[str]
    login: bool = False
    password: pulumi.Input[str] | None = None
    connection_limit: int = -1
    valid_until: str | None = None
    inherit: bool = True
    search_path: Sequence[str] | None = None
    grant_to_admin: bool = False

    def values(self) -> dict[str, Any]:
        return {
            **super().values(),
            "password": None if self.password is None else pulumi.Output.secret(self.password),
            "search_path": list(self.search_path) if self.search_path else None,
            **LEAST_PRIVILEGE,
        }


class Role(PostgresResource[RoleArgs], module="postgres", name="Role"):
    """A role (user or group). `password` must be a Pulumi secret; it stays one in state."""

    provider_class = RoleProvider
    name: pulumi.Output[str]
    login: pulumi.Output[bool]
    password: pulumi.Output[str | None]
    connection_limit: pulumi.Output[int]
    valid_until: pulumi.Output[str | None]
