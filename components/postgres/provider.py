"""The PostgreSQL family of the dynamic providers (the life cycle is `components/dynamic/provider.py`).

A kind says which properties name the object (a change replaces it), which it can change
in place, and implements the hooks over `connect(session)`. SQL names are validated in
`check`; nothing here contacts the server before create/read/update/delete.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from typing import Any, ClassVar

import psycopg
import pulumi
from psycopg import sql
from pulumi.dynamic import CheckFailure

from components.dynamic.provider import NotOwned, ObjectProvider, Props, is_unknown, props_session
from components.dynamic.provider import secret_options as _secret_options
from components.postgres.connection import (
    CONNECTION_KEYS,
    SECRET_CONNECTION_KEYS,
    DatabaseMissing,
    PgConnection,
    connect,
)

# PostgreSQL silently truncates longer names, which would show as drift forever.
MAX_IDENTIFIER_BYTES = 63


def identifier_problem(value: Any) -> str | None:
    if value is None or is_unknown(value):
        return None
    if not isinstance(value, str) or not value:
        return "must be a non-empty name"
    if "\x00" in value:
        return "must not contain NUL characters"
    if len(value.encode()) > MAX_IDENTIFIER_BYTES:
        return f"{value!r} is longer than {MAX_IDENTIFIER_BYTES} bytes (PostgreSQL would truncate it)"
    return None


def privileges_problem(value: Any, allowed: tuple[str, ...]) -> str | None:
    if is_unknown(value):
        return None
    if not isinstance(value, list | tuple) or not value:
        return f"must be a non-empty list of {', '.join(allowed)}"
    bad = [p for p in value if not isinstance(p, str) or p.upper() not in allowed]
    if bad:
        return f"{bad!r} not allowed here; allowed: {', '.join(allowed)}"
    return None


def normalize_privileges(value: Any) -> Any:
    """Privileges upper-case, sorted and unique, so order in the program never shows as a diff."""
    if is_unknown(value) or not isinstance(value, list | tuple):
        return value
    return sorted({str(p).upper() for p in value})


OWNERSHIP_KEY = "ownership"


def ownership_marker(resource_name: str) -> str:
    """The comment a created object carries: which stack and resource created it."""
    return f"managed by Pulumi: {pulumi.get_project()}/{pulumi.get_stack()}/{resource_name}"


class PostgresObjectProvider(ObjectProvider[Props]):
    """The PostgreSQL family: the session is the connection description (`connect(session)`
    opens a connection to the database a statement needs), identifiers validated in `check`."""

    family = "PostgreSQL"
    connection_keys = CONNECTION_KEYS
    identifier_keys: ClassVar[tuple[str, ...]] = ()
    """Properties that are SQL names (validated in `check`)."""
    state_keys = (OWNERSHIP_KEY,)
    marked: ClassVar[str | None] = None
    """The COMMENT ON object kind (DATABASE, ROLE, SCHEMA) of kinds that carry an ownership
    marker; None for grants and privileges, which are idempotent to create again."""

    def marker_query(self, props: Props) -> tuple[str | None, sql.SQL]:
        """The database to ask in, and a query for the object's comment (no row: no object)."""
        raise NotImplementedError

    def _marker_target(self, props: Props) -> sql.Composed:
        return sql.SQL("COMMENT ON {} {} IS {}").format(
            sql.SQL(str(self.marked)),
            sql.Identifier(str(props["name"])),
            sql.Literal(props.get(OWNERSHIP_KEY)),
        )

    def adopt(self, session: Props, props: Props) -> tuple[str, dict[str, Any]] | None:
        if self.marked is None or not props.get(OWNERSHIP_KEY):
            return None
        dbname, query = self.marker_query(props)
        try:
            with connect(session, dbname) as conn:
                row = conn.execute(query, (str(props["name"]),)).fetchone()
        except DatabaseMissing:
            return None
        if row is None:
            return None
        if row[0] != props[OWNERSHIP_KEY]:
            raise NotOwned(
                f"{self.marked.lower()} {props['name']!r} already exists on {session['host']} but this stack did "
                f"not create it (its comment is {row[0]!r}, not {props[OWNERSHIP_KEY]!r}): choose another "
                "name, or take it over on purpose with `pulumi import`"
            )
        # Created by this stack, result never recorded: converge it like an update from nothing known.
        return self.object_id(props), self.apply(session, props, {})

    def create_object(self, session: Props, props: Props) -> tuple[str, dict[str, Any]]:
        observed = self.apply(session, props, None)
        if self.marked is not None and props.get(OWNERSHIP_KEY):
            dbname, _ = self.marker_query(props)
            # Best effort: without the marker a lost create is refused (NotOwned) rather than
            # adopted; failing the create here would lose its result the same way.
            with contextlib.suppress(psycopg.Error), connect(session, dbname) as conn:
                conn.execute(self._marker_target(props))
        return self.object_id(props), observed

    def session(self, props: Props) -> AbstractContextManager[Props]:
        return props_session(props)

    def object_id(self, props: Props) -> str:
        """The id of the object `props` name."""
        raise NotImplementedError

    def apply(self, session: Props, props: Props, olds: Props | None) -> dict[str, Any]:
        """Make the object match `props` (create it when `olds` is None); return observed
        properties. Create and update share it: SQL states the wanted result either way."""
        raise NotImplementedError

    def update_object(self, session: Props, id_: str, olds: Props, news: Props) -> dict[str, Any]:
        return self.apply(session, news, olds)

    def family_problems(self, inputs: Props) -> list[CheckFailure]:
        return [
            CheckFailure(key, problem)
            for key in self.identifier_keys
            if (problem := identifier_problem(inputs.get(key))) is not None
        ]


def resource_props(connection: PgConnection, **props: Any) -> dict[str, Any]:
    return {**connection.props(), **props}


def secret_options(opts: pulumi.ResourceOptions | None, *extra: str) -> pulumi.ResourceOptions:
    """`opts` plus the connection password (and `extra`) as secret outputs."""
    return _secret_options(opts, *SECRET_CONNECTION_KEYS, *extra)
