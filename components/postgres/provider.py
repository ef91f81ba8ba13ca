"""The PostgreSQL family of the dynamic providers (the life cycle is `components/dynamic/provider.py`).

A kind says which properties name the object (a change replaces it), which it can change
in place, and implements the hooks over `connect(session)`. SQL names are validated in
`check`; nothing here contacts the server before create/read/update/delete.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

import psycopg
import pulumi
from psycopg import sql
from pulumi.dynamic import CheckFailure, DiffResult, ReadResult

from components.dynamic.provider import (
    OWNERSHIP_KEY,
    NotOwned,
    ObjectGone,
    ObjectProvider,
    Props,
    is_unknown,
    props_session,
)
from components.dynamic.resource import ConnectedArgs, DynamicResource
from components.postgres.connection import (
    CONNECTION_KEYS,
    DatabaseMissing,
    PgConnection,
    PostgresError,
    connect,
)

T = TypeVar("T")

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


REF_SUFFIX = "_ref"
# COMMENT ON kind -> the query for the current name of the object carrying a marker.
_NAME_BY_MARKER = {
    "DATABASE": "SELECT datname FROM pg_database WHERE shobj_description(oid, 'pg_database') = %s",
    "ROLE": "SELECT rolname FROM pg_roles WHERE shobj_description(oid, 'pg_authid') = %s",
}
_MARKED_NAMES = {
    "DATABASE": "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = ANY(%s)",
    "ROLE": "SELECT rolname, shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = ANY(%s)",
}
# COMMENT ON kind -> the query for the comment of the object with a name (no row: no object).
_MARKER_BY_NAME = {
    "DATABASE": "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
    "ROLE": "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s",
    "SCHEMA": "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s",
}


def in_database(session: Props, database: Any, action: Callable[[psycopg.Connection[Any]], T]) -> T | None:
    """`action` on a connection to `database`; None when that database no longer exists
    (everything inside it is gone with it)."""
    try:
        with connect(session, None if database is None else str(database)) as conn:
            return action(conn)
    except DatabaseMissing:
        return None


def held_privileges(held: list[str] | None) -> dict[str, Any] | None:
    """What `read` reports of the privileges a grant holds (None: its object or role is gone)."""
    return None if held is None else {"privileges": held}


def drop_in_database(session: Props, props: Props, kind: str) -> None:
    """DROP <kind> IF EXISTS <name> RESTRICT in `props["database"]`: never takes dependent
    objects (tables, columns of the extension's types) with it; nothing to do when the
    database is gone."""
    statement = sql.SQL("DROP {} IF EXISTS {} RESTRICT").format(
        sql.SQL(kind), sql.Identifier(str(props["name"]))
    )
    in_database(session, props["database"], lambda conn: conn.execute(statement))


def rename_needed(conn: psycopg.Connection[Any], kind: str, old: str, props: Props) -> bool:
    """Before renaming the `kind` (DATABASE, ROLE) `old` to `props["name"]`: True when the
    rename is still to do, False when an earlier run did it (the new name carries this
    stack's marker and `old` is gone: a result the engine never recorded). Raises, changing
    nothing, when the new name is taken by another object or `old` is gone."""
    new, marker, host = str(props["name"]), props.get(OWNERSHIP_KEY), props["host"]
    found = dict(conn.execute(_MARKED_NAMES[kind], ([old, new],)).fetchall())
    what = kind.lower()
    if new in found:
        if old not in found and marker and found[new] == marker:
            return False
        owner = (
            "created by this stack for another resource"
            if found[new] == marker
            else "not created by this stack"
        )
        raise PostgresError(
            f"cannot rename {what} {old!r} to {new!r}: a {what} {new!r} already exists on {host} ({owner}, "
            f"comment {found[new]!r}); choose another name. Nothing was changed."
        )
    if old not in found:
        raise PostgresError(
            f"cannot rename {what} {old!r} to {new!r}: {what} {old!r} no longer exists on {host}; "
            "run `pulumi refresh` so the next `pulumi up` creates it"
        )
    return True


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
    references: ClassVar[dict[str, str]] = {}
    """Name property -> COMMENT ON kind (DATABASE, ROLE) of an object this one refers to and
    that is renamed in place. `<key>_ref` holds that object's ownership marker (or, for a
    plain name, the name itself): the marker is the identity (a replace key), the name an
    update key, so a rename of the referenced object is an update here, and a delete after
    a rename finds the object under its current name."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # The kinds with a COMMENT ON object are the ones that carry the marker.
        super().__init_subclass__(**kwargs)
        cls.marks_ownership = cls.marked is not None

    # -- references to renamable objects ----------------------------------------------------
    def normalize(self, inputs: dict[str, Any]) -> None:
        for key in self.references:
            if inputs.get(key + REF_SUFFIX) is None:
                # A plain name refers to whatever object has it: a new name is another object.
                inputs[key + REF_SUFFIX] = inputs.get(key)

    def _olds_with_refs(self, olds: Props, news: Props) -> dict[str, Any]:
        """`olds` as if written with references: state from before they existed refers to the
        object the new inputs refer to when the name is the same, else (a new name, or one not
        known yet) to its old name, so such a change stays the replacement it was."""
        filled = dict(olds)
        for key in self.references:
            ref = key + REF_SUFFIX
            if filled.get(ref) is None:
                filled[ref] = news.get(ref) if olds.get(key) == news.get(key) else olds.get(key)
        return filled

    def object_changes(self, olds: Props, news: Props) -> list[str]:
        return super().object_changes(self._olds_with_refs(olds, news), news)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        result = super().diff(id_, olds, news)
        # A reference missing from older state is recorded (an update that sends nothing).
        recorded = any(olds.get(key + REF_SUFFIX) is None for key in self.references)
        if recorded and not result.changes:
            return DiffResult(changes=True, replaces=[], delete_before_replace=self.delete_before_replace)
        return result

    def current_names(self, session: Props, props: Props) -> dict[str, Any]:
        """`props` with each referenced object's name as it is now on the server (found by its
        marker, one connection): a refresh or delete of state written before that object was
        renamed (a run that renamed the database and failed before its children's updates)."""
        lookups = [
            (key, kind, ref)
            for key, kind in self.references.items()
            if isinstance(ref := props.get(key + REF_SUFFIX), str) and ref != props.get(key)
        ]
        result = dict(props)
        if not lookups:
            return result
        with connect(session) as conn:
            for key, kind, ref in lookups:
                row = conn.execute(_NAME_BY_MARKER[kind], (ref,)).fetchone()
                if row is not None:
                    result[key] = row[0]
        return result

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return super().read(id_, self.current_names(self.effective_props(props), props))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        super().delete(id_, self.current_names(self.effective_props(props), props))

    def database_of(self, props: Props) -> str | None:
        """The database the object lives in; None for server-wide ones (roles, databases),
        reached over the maintenance database."""
        return None

    def marker_query(self, props: Props) -> tuple[str | None, sql.SQL]:
        """The database to ask in, and a query for the object's comment (no row: no object)."""
        return self.database_of(props), sql.SQL(_MARKER_BY_NAME[str(self.marked)])

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
        """The id of the object `props` name: its name, for a server-wide one."""
        return str(props["name"])

    def observe_in(self, conn: psycopg.Connection[Any], props: Props) -> dict[str, Any] | None:
        """The object's live properties over a connection to its database; None when it is gone."""
        raise NotImplementedError

    def observe(self, session: Props, _id: str, props: Props) -> dict[str, Any] | None:
        with connect(session) as conn:
            return self.observe_in(conn, props)

    def observed_in(self, conn: psycopg.Connection[Any], props: Props) -> dict[str, Any]:
        """The object's live properties right after `apply` wrote it."""
        found = self.observe_in(conn, props)
        if found is None:
            raise ObjectGone(
                f"{self.family} {self.kind} {props['name']!r} vanished right after it was written"
            )
        return found

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


class InDatabaseProvider(PostgresObjectProvider):
    """A kind named `name` inside one database (a schema, an extension): it refers to its
    database by identity (a renamed database is the same one: an update here), is gone with
    it, and is dropped RESTRICT (see `drop_in_database`)."""

    replace_keys = ("database_ref", "name")
    references = {"database": "DATABASE"}
    keyword: ClassVar[str] = ""
    """The kind in SQL (SCHEMA, EXTENSION)."""

    def database_of(self, props: Props) -> str | None:
        return str(props["database"])

    def object_id(self, props: Props) -> str:
        return f"{props['database']}/{props['name']}"

    def observe(self, session: Props, _id: str, props: Props) -> dict[str, Any] | None:
        return in_database(session, self.database_of(props), lambda conn: self.observe_in(conn, props))

    def delete_object(self, session: Props, _id: str, props: Props) -> None:
        drop_in_database(session, props, self.keyword)


class PrivilegesProvider(PostgresObjectProvider):
    """The exact privileges a role holds (a grant, default privileges): restated as a whole in
    one transaction, so the role never holds fewer than before in between, and reported by
    `read` as `privileges`."""

    allowed_privileges: ClassVar[dict[str, tuple[str, ...]]] = {}
    """Object type -> the privileges a role may hold on it."""

    def object_problems(self, inputs: Props) -> list[CheckFailure]:
        """Problems with the object the privileges are on (its type is a known one)."""
        return []

    def validate(self, inputs: dict[str, Any]) -> list[CheckFailure]:
        object_type = inputs.get("object_type")
        if object_type not in self.allowed_privileges:
            allowed = ", ".join(self.allowed_privileges)
            return [CheckFailure("object_type", f"{object_type!r}: must be one of {allowed}")]
        failures = self.object_problems(inputs)
        problem = privileges_problem(inputs.get("privileges"), self.allowed_privileges[object_type])
        if problem:
            failures.append(CheckFailure("privileges", problem))
        else:
            inputs["privileges"] = normalize_privileges(inputs.get("privileges"))
        return failures

    def held(self, conn: psycopg.Connection[Any], props: Props) -> list[str] | None:
        """The role's privileges; None when the role or the object is gone."""
        raise NotImplementedError

    def apply_statements(self, conn: psycopg.Connection[Any], props: Props) -> list[sql.Composed]:
        """What makes the role hold exactly the declared privileges."""
        raise NotImplementedError

    def revoke_statements(self, conn: psycopg.Connection[Any], props: Props) -> list[sql.Composed]:
        """What takes the declared privileges away again."""
        raise NotImplementedError

    def observe(self, session: Props, _id: str, props: Props) -> dict[str, Any] | None:
        return held_privileges(
            in_database(session, self.database_of(props), lambda conn: self.held(conn, props))
        )

    def apply(self, session: Props, props: Props, olds: Props | None) -> dict[str, Any]:
        with connect(session, self.database_of(props)) as conn, conn.transaction():
            for statement in self.apply_statements(conn, props):
                conn.execute(statement)
            held = self.held(conn, props)
        return {"privileges": held if held is not None else list(props["privileges"])}

    def delete_object(self, session: Props, _id: str, props: Props) -> None:
        def revoke(conn: psycopg.Connection[Any]) -> None:
            with conn.transaction():
                if self.held(conn, props) is not None:
                    for statement in self.revoke_statements(conn, props):
                        conn.execute(statement)

        in_database(session, self.database_of(props), revoke)


def named_props(props: Props) -> dict[str, Any]:
    """`props` with each property given a `Named` object (a Database, a Role) as its name plus
    `<key>_ref`, the object's ownership marker."""
    named: dict[str, Any] = {}
    for key, value in props.items():
        # A Resource with a marker (an Output would lift any attribute, `marker` too).
        if isinstance(value, pulumi.Resource) and isinstance(getattr(value, "marker", None), str):
            named[key] = value.name  # type: ignore[attr-defined]
            named[key + REF_SUFFIX] = value.marker  # type: ignore[attr-defined]
        else:
            named[key] = value
    return named


class Named(Protocol):
    """A PostgreSQL object other objects refer to by name, which it may change in place (a
    Database, a Role): its `name` output and its ownership `marker` (stable across renames)."""

    name: pulumi.Output[str]
    marker: str


@dataclass(frozen=True, kw_only=True)
class PostgresArgs(ConnectedArgs[PgConnection]):
    """The inputs of a PostgreSQL object: the admin connection, then the kind's own."""


PA = TypeVar("PA", bound=PostgresArgs)


class PostgresResource(DynamicResource[PA]):
    """A PostgreSQL object as a dynamic resource: `Named` values as name and reference, and
    for kinds that carry one, the ownership `marker` it is created with."""

    provider_class: ClassVar[type[PostgresObjectProvider]]

    def inputs(self, resource_name: str, args: PA) -> dict[str, Any]:
        return named_props(super().inputs(resource_name, args))
