"""PostgreSQL dynamic providers and PostgresAppDatabase without a server.

What `check` rejects and normalizes, what `diff` calls an update or a replacement, that
neither ever connects (previews contact nothing), how statements quote hostile names and
never carry a plaintext password, the random Password, and what PostgresAppDatabase
registers under Pulumi mocks (secrets, deletion order, protection).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pulumi
import pytest
from psycopg import pq
from psycopg.pq import abc
from pulumi.dynamic import ResourceProvider
from pulumi.runtime import rpc

import components.postgres.provider as postgres_provider
from components.dynamic.provider import ProviderError
from components.password.password import DEFAULT_ALPHABET, PasswordProvider, generate
from components.postgres import PgConnection
from components.postgres.connection import _retryable
from components.postgres.database import DatabaseProvider
from components.postgres.default_privileges import DefaultPrivilegesProvider
from components.postgres.extension import ExtensionProvider
from components.postgres.grant import GrantProvider
from components.postgres.role import LEAST_PRIVILEGE, RoleProvider, scram_verifier
from components.postgres.schema import SchemaProvider
from components.postgres_app_database import PostgresAppDatabase, PostgresAppDatabaseArgs
from tests.unit.harness import Recorded, contains_plain, run

ADMIN_PASSWORD = "admin-pw-7f3a9c"
APP_PASSWORD = "app-pw-5e1d2b"
CONNECTION = {
    "host": "db.example.internal",
    "port": 5432,
    "admin_user": "pgadmin",
    "admin_password": ADMIN_PASSWORD,
    "maintenance_database": "postgres",
    "sslmode": "verify-full",
    "sslrootcert": None,
    "connect_timeout": 10,
    "connect_attempts": 1,
}
ROLE = {
    **CONNECTION,
    "name": "chat_app",
    "login": True,
    "password": APP_PASSWORD,
    "connection_limit": 50,
    "inherit": True,
    "search_path": ["chat", "public"],
    "grant_to_admin": False,
    **LEAST_PRIVILEGE,
}
DATABASE = {**CONNECTION, "name": "chat", "owner": "chat_owner", "encoding": "UTF8", "public_privileges": []}
SCHEMA = {**CONNECTION, "database": "chat", "name": "chat", "owner": "chat_owner"}
GRANT = {**CONNECTION, "role": "chat_app", "object_type": "schema", "database": "chat", "schema": "chat"}
DEFAULTS = {
    **CONNECTION,
    "database": "chat",
    "owner": "chat_owner",
    "schema": "chat",
    "role": "chat_app",
    "object_type": "table",
    "privileges": ["SELECT"],
}
EXTENSION = {**CONNECTION, "database": "chat", "name": "citext"}
CASES: list[tuple[ResourceProvider, dict[str, Any]]] = [
    (RoleProvider(), ROLE),
    (DatabaseProvider(), DATABASE),
    (SchemaProvider(), SCHEMA),
    (GrantProvider(), {**GRANT, "privileges": ["USAGE"]}),
    (DefaultPrivilegesProvider(), DEFAULTS),
    (ExtensionProvider(), EXTENSION),
]


def failures(provider: ResourceProvider, props: dict[str, Any]) -> dict[str, str]:
    return {f.property: f.reason for f in provider.check({}, props).failures}


# --- check -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "props", "key"),
    [
        (RoleProvider(), {**ROLE, "name": "r" * 64}, "name"),
        (DatabaseProvider(), {**DATABASE, "owner": "ö" * 32}, "owner"),
        (SchemaProvider(), {**SCHEMA, "name": ""}, "name"),
        (ExtensionProvider(), {**EXTENSION, "name": "x" * 70}, "name"),
        (DefaultPrivilegesProvider(), {**DEFAULTS, "role": "a\x00b"}, "role"),
    ],
)
def test_check_rejects_names_postgres_would_truncate_or_refuse(
    provider: ResourceProvider, props: dict[str, Any], key: str
) -> None:
    assert key in failures(provider, props)


def test_check_accepts_names_at_the_limit_and_unknown_values() -> None:
    assert failures(RoleProvider(), {**ROLE, "name": "r" * 63}) == {}
    assert failures(SchemaProvider(), {**SCHEMA, "database": rpc.UNKNOWN}) == {}


@pytest.mark.parametrize(
    ("object_type", "privileges", "problem"),
    [
        ("database", ["SELECT"], "['SELECT'] not allowed here; allowed: CONNECT, CREATE, TEMPORARY"),
        ("schema", [], "must be a non-empty list of CREATE, USAGE"),
        ("table", ["USAGE"], "['USAGE'] not allowed here"),
    ],
)
def test_grant_privileges_must_fit_the_object_type(
    object_type: str, privileges: list[str], problem: str
) -> None:
    reason = failures(GrantProvider(), {**GRANT, "object_type": object_type, "privileges": privileges})[
        "privileges"
    ]
    assert reason.startswith(problem)


def test_grant_checks_object_type_and_schema() -> None:
    assert "object_type" in failures(
        GrantProvider(), {**GRANT, "object_type": "function", "privileges": ["USAGE"]}
    )
    no_schema = {k: v for k, v in GRANT.items() if k != "schema"}
    assert failures(GrantProvider(), {**no_schema, "object_type": "table", "privileges": ["SELECT"]}) == {
        "schema": "required for table grants"
    }


def test_check_normalizes_privileges_and_timestamps() -> None:
    inputs = GrantProvider().check({}, {**GRANT, "privileges": ["usage", "CREATE", "USAGE"]}).inputs
    assert inputs["privileges"] == ["CREATE", "USAGE"]
    defaults = DefaultPrivilegesProvider().check(
        {}, {**DEFAULTS, "object_type": "sequence", "privileges": ["usage"]}
    )
    assert defaults.inputs["privileges"] == ["USAGE"] and not defaults.failures
    role = RoleProvider().check({}, {**ROLE, "valid_until": "2031-06-01T12:00:00+02:00"})
    assert role.inputs["valid_until"] == "2031-06-01T10:00:00+00:00"


def test_role_check_rejects_bad_expiry_and_connection_limit() -> None:
    found = failures(RoleProvider(), {**ROLE, "valid_until": "2031-06-01", "connection_limit": -5})
    assert found["valid_until"] == "'2031-06-01': needs a time zone, e.g. 2030-01-01T00:00:00+00:00"
    assert found["connection_limit"].startswith("-5: must be -1 (no limit)")


# --- diff --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "props"), CASES)
def test_diff_of_unchanged_props_is_empty(provider: ResourceProvider, props: dict[str, Any]) -> None:
    inputs = provider.check({}, props).inputs
    assert (
        provider.diff("id", {**inputs, "__provider": "old"}, {**inputs, "__provider": "new"}).changes is False
    )


def test_diff_updates_in_place_what_can_change() -> None:
    rotated = RoleProvider().diff("chat_app", ROLE, {**ROLE, "password": "new-password-1"})
    assert rotated.changes is True and rotated.replaces == []
    admin_rotated = DatabaseProvider().diff("chat", DATABASE, {**DATABASE, "admin_password": "other"})
    assert admin_rotated.changes is True and admin_rotated.replaces == []
    regranted = GrantProvider().diff(
        "g", {**GRANT, "privileges": ["USAGE"]}, {**GRANT, "privileges": ["CREATE"]}
    )
    assert regranted.replaces == []


def test_diff_replaces_what_identifies_the_object_old_first() -> None:
    provider = SchemaProvider()
    moved = provider.diff("chat/chat", SCHEMA, provider.check({}, {**SCHEMA, "database": rpc.UNKNOWN}).inputs)
    assert moved.replaces == ["database_ref"] and moved.delete_before_replace is True
    reencoded = DatabaseProvider().diff("chat", DATABASE, {**DATABASE, "encoding": "LATIN1"})
    assert reencoded.replaces == ["encoding"]
    renamed_schema = SchemaProvider().diff("chat/chat", SCHEMA_IN, {**SCHEMA_IN, "name": "chat2"})
    assert renamed_schema.replaces == ["name"]


DB_MARKER = "managed by Pulumi: p/s/chat-db"
APP_MARKER = "managed by Pulumi: p/s/chat-app"
OWNER_MARKER = "managed by Pulumi: p/s/chat-owner"
SCHEMA_IN = {**SCHEMA, "database_ref": DB_MARKER}
GRANT_IN = {**GRANT, "privileges": ["USAGE"], "database_ref": DB_MARKER, "role_ref": APP_MARKER}
DEFAULTS_IN = {**DEFAULTS, "database_ref": DB_MARKER, "owner_ref": OWNER_MARKER, "role_ref": APP_MARKER}
EXTENSION_IN = {**EXTENSION, "database_ref": DB_MARKER}


@pytest.mark.parametrize(
    ("provider", "props"),
    [(DatabaseProvider(), DATABASE), (RoleProvider(), ROLE)],
)
def test_a_new_name_of_a_database_or_role_is_an_update(
    provider: ResourceProvider, props: dict[str, Any]
) -> None:
    for new_name in ("renamed", rpc.UNKNOWN):
        renamed = provider.diff(str(props["name"]), props, {**props, "name": new_name})
        assert renamed.changes is True and renamed.replaces == [], new_name


@pytest.mark.parametrize(
    ("provider", "props", "key"),
    [
        (SchemaProvider(), SCHEMA_IN, "database"),
        (ExtensionProvider(), EXTENSION_IN, "database"),
        (GrantProvider(), GRANT_IN, "database"),
        (GrantProvider(), GRANT_IN, "role"),
        (DefaultPrivilegesProvider(), DEFAULTS_IN, "database"),
        (DefaultPrivilegesProvider(), DEFAULTS_IN, "owner"),
        (DefaultPrivilegesProvider(), DEFAULTS_IN, "role"),
    ],
)
def test_a_renamed_parent_is_an_update_of_the_child_another_parent_a_replacement(
    provider: ResourceProvider, props: dict[str, Any], key: str
) -> None:
    olds = provider.check({}, props).inputs
    # The same object under a new name (known, or not known yet in a preview): an update.
    for new_name in ("renamed", rpc.UNKNOWN):
        news = provider.check(olds, {**props, key: new_name}).inputs
        renamed = provider.diff("id", olds, news)
        assert renamed.changes is True and renamed.replaces == [], (key, new_name)
    # Another object: a replacement.
    other = provider.check(olds, {**props, key: "other", f"{key}_ref": "managed by Pulumi: p/s/other"}).inputs
    assert provider.diff("id", olds, other).replaces == [f"{key}_ref"]
    # A plain name (no resource given) is its own identity: a new one is another object.
    plain = provider.check({}, {k: v for k, v in props.items() if k != f"{key}_ref"}).inputs
    assert plain[f"{key}_ref"] == props[key]
    replug = provider.check(plain, {**plain, key: "other", f"{key}_ref": None}).inputs
    assert provider.diff("id", plain, replug).replaces == [f"{key}_ref"]


def test_state_from_before_references_records_them_without_touching_the_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("recording a reference must not connect")

    monkeypatch.setattr(psycopg, "connect", refuse)
    provider = GrantProvider()
    news = provider.check({}, GRANT_IN).inputs
    old_state = {k: v for k, v in news.items() if not k.endswith("_ref")}
    recorded = provider.diff("id", old_state, news)
    assert recorded.changes is True and recorded.replaces == []
    outs = provider.update("id", old_state, news).outs or {}
    assert outs["database_ref"] == DB_MARKER and outs["role_ref"] == APP_MARKER
    # Old state and a new name at once: nothing says it is the same object, so it is replaced.
    moved = provider.diff("id", old_state, {**news, "database": "elsewhere"})
    assert moved.replaces == ["database_ref"]


def test_check_and_diff_never_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("a preview step tried to connect")

    monkeypatch.setattr(psycopg, "connect", refuse)
    for provider, props in CASES:
        inputs = provider.check({}, props).inputs
        provider.diff("id", inputs, {**inputs, "host": rpc.UNKNOWN})


# --- statements (a fake connection records them) ------------------------------------------------


@dataclass
class FakeCursor:
    rows: list[tuple[Any, ...]]

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)


def unconnected_libpq() -> abc.PGconn:
    """A libpq connection object that never connects: enough for PQencryptPasswordConn."""
    return pq.PGconn.connect_start(b"host=127.0.0.1 port=1")


@dataclass
class FakeConnection:
    """Answers catalog queries from `answers` (first matching substring) and records the rest;
    password verifiers come from the real libpq."""

    answers: dict[str, list[tuple[Any, ...]]]
    statements: list[str] = field(default_factory=list)
    pgconn: abc.PGconn = field(default_factory=unconnected_libpq)

    def execute(self, query: Any, params: Any = None) -> FakeCursor:
        text = query if isinstance(query, str) else query.as_string(None)
        self.statements.append(text)
        return FakeCursor(next((rows for key, rows in self.answers.items() if key in text), []))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        yield


def fake_server(
    monkeypatch: pytest.MonkeyPatch, module: Any, answers: dict[str, list[tuple[Any, ...]]]
) -> FakeConnection:
    fake = FakeConnection(answers)

    @contextmanager
    def connect(_props: Any, _dbname: str | None = None) -> Iterator[FakeConnection]:
        yield fake

    # The kind's own statements and the family's shared ones (components/postgres/provider.py).
    for target in {module, postgres_provider}:
        if hasattr(target, "connect"):
            monkeypatch.setattr(target, "connect", connect)
    return fake


def test_role_statements_quote_names_and_never_carry_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    import components.postgres.role as role_module

    hostile = 'app"; DROP ROLE admin; --'
    row = (True, True, False, False, False, False, False, 50, None, ["search_path=chat, public"])
    fake = fake_server(
        monkeypatch, role_module, {"FROM pg_roles WHERE rolname": [row], "rolsuper": [(True,)]}
    )
    RoleProvider().create({**ROLE, "name": hostile})
    create = next(s for s in fake.statements if s.startswith("CREATE ROLE"))
    assert create.startswith(
        'CREATE ROLE "app""; DROP ROLE admin; --" WITH LOGIN INHERIT NOSUPERUSER NOCREATEDB'
    )
    assert "CONNECTION LIMIT 50" in create
    assert re.search(
        r"PASSWORD 'SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+'", create
    )
    assert not any(APP_PASSWORD in s for s in fake.statements)
    assert any(s.endswith('SET search_path TO "chat", "public"') for s in fake.statements)


def test_role_update_sends_only_what_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    import components.postgres.role as role_module

    row = (True, True, False, False, False, False, False, 50, None, ["search_path=chat, public"])
    fake = fake_server(
        monkeypatch, role_module, {"FROM pg_roles WHERE rolname": [row], "rolsuper": [(True,)]}
    )
    RoleProvider().update("chat_app", ROLE, {**ROLE, "password": "rotated-pw-1"})
    alters = [s for s in fake.statements if s.startswith("ALTER ROLE")]
    assert len(alters) == 1 and alters[0].startswith('ALTER ROLE "chat_app" WITH PASSWORD \'SCRAM-SHA-256$')
    fake.statements.clear()
    RoleProvider().update("chat_app", ROLE, {**ROLE, "admin_password": "new-admin"})
    assert not [s for s in fake.statements if s.startswith(("ALTER", "CREATE", "GRANT"))]


def test_grant_and_default_privileges_statements(monkeypatch: pytest.MonkeyPatch) -> None:
    import components.postgres.default_privileges as defaults_module
    import components.postgres.grant as grant_module

    fake = fake_server(monkeypatch, grant_module, {"EXISTS": [(True, True)], "aclexplode": [(["USAGE"],)]})
    outs = GrantProvider().create({**GRANT, "role": "chat app", "privileges": ["USAGE"]}).outs or {}
    assert [s for s in fake.statements if s.startswith(("GRANT", "REVOKE"))] == [
        'REVOKE ALL ON SCHEMA "chat" FROM "chat app"',
        'GRANT USAGE ON SCHEMA "chat" TO "chat app"',
    ]
    assert outs["privileges"] == ["USAGE"]

    fake = fake_server(monkeypatch, defaults_module, {"EXISTS": [(True, ["SELECT"])]})
    DefaultPrivilegesProvider().create(DEFAULTS)
    assert fake.statements[:2] == [
        'ALTER DEFAULT PRIVILEGES FOR ROLE "chat_owner" IN SCHEMA "chat" REVOKE ALL ON TABLES FROM "chat_app"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "chat_owner" IN SCHEMA "chat" GRANT SELECT ON TABLES TO "chat_app"',
    ]


def test_a_database_rename_ends_only_its_sessions_and_reopens_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import components.postgres.database as database_module

    fake = fake_server(
        monkeypatch,
        database_module,
        {
            "datname = ANY": [("chat", DB_MARKER)],
            "pg_stat_activity": [(4242, "chat_app")],
            "pg_get_userbyid(d.datdba)": [("chat_owner", "UTF8", [])],
        },
    )
    old = {**DATABASE, "ownership": DB_MARKER}
    DatabaseProvider().update("chat", old, {**old, "name": "chat2"})
    changes = [s for s in fake.statements if s.startswith(("ALTER", "SELECT pg_terminate", "DROP", "CREATE"))]
    assert changes == [
        'ALTER DATABASE "chat" WITH ALLOW_CONNECTIONS false',
        "SELECT pg_terminate_backend(%s)",
        'ALTER DATABASE "chat" RENAME TO "chat2"',
        'ALTER DATABASE "chat2" WITH ALLOW_CONNECTIONS true',
        # Every update lets sessions in again (a run killed inside the rename may have kept them out).
        'ALTER DATABASE "chat2" WITH ALLOW_CONNECTIONS true',
    ]
    activity = next(s for s in fake.statements if "pg_stat_activity" in s)
    assert "WHERE datname = %s" in activity, "only the renamed database's sessions are ended"


@pytest.mark.parametrize(
    ("found", "problem"),
    [
        (
            [("chat", DB_MARKER), ("billing", None)],
            "a database 'billing' already exists on db.example.internal",
        ),
        ([("chat", DB_MARKER), ("billing", DB_MARKER)], "created by this stack for another resource"),
        ([], "database 'chat' no longer exists"),
    ],
)
def test_a_rename_onto_a_taken_or_from_a_missing_name_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, found: list[tuple[Any, ...]], problem: str
) -> None:
    import components.postgres.database as database_module

    fake = fake_server(monkeypatch, database_module, {"datname = ANY": found})
    old = {**DATABASE, "ownership": DB_MARKER}
    with pytest.raises(ProviderError, match=re.escape(problem)) as caught:
        DatabaseProvider().update("chat", old, {**old, "name": "billing"})
    assert "cannot rename database 'chat' to 'billing'" in str(caught.value)
    assert not [
        s for s in fake.statements if s.startswith(("ALTER", "DROP", "CREATE", "SELECT pg_terminate"))
    ]


def test_a_rename_an_earlier_run_did_is_not_done_again(monkeypatch: pytest.MonkeyPatch) -> None:
    import components.postgres.database as database_module

    fake = fake_server(
        monkeypatch,
        database_module,
        {"datname = ANY": [("chat2", DB_MARKER)], "pg_get_userbyid(d.datdba)": [("chat_owner", "UTF8", [])]},
    )
    old = {**DATABASE, "ownership": DB_MARKER}
    DatabaseProvider().update("chat", old, {**old, "name": "chat2"})
    assert not [s for s in fake.statements if "RENAME" in s or "ALLOW_CONNECTIONS false" in s]


def test_a_role_rename_keeps_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    import components.postgres.role as role_module

    row = (True, True, False, False, False, False, False, 50, None, ["search_path=chat, public"])
    fake = fake_server(
        monkeypatch,
        role_module,
        {
            "rolname = ANY": [("chat_app", APP_MARKER)],
            "FROM pg_roles WHERE rolname": [row],
            "rolsuper": [(True,)],
        },
    )
    old = {**ROLE, "ownership": APP_MARKER}
    RoleProvider().update("chat_app", old, {**old, "name": "chat_user"})
    alters = [s for s in fake.statements if s.startswith("ALTER ROLE")]
    assert alters[0] == 'ALTER ROLE "chat_app" RENAME TO "chat_user"'
    # PostgreSQL clears an MD5 password on rename: the same password is sent again (as SCRAM).
    assert len(alters) == 2 and alters[1].startswith('ALTER ROLE "chat_user" WITH PASSWORD \'SCRAM-SHA-256$')
    assert not any(APP_PASSWORD in s for s in fake.statements)


def test_a_child_deleted_after_its_parent_was_renamed_finds_it_by_its_marker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import components.postgres.provider as provider_module

    renamed = {DB_MARKER: "chat2", OWNER_MARKER: "chat_owner2", APP_MARKER: "chat_user"}

    @dataclass
    class Renamed(FakeConnection):
        def execute(self, query: Any, params: Any = None) -> FakeCursor:
            if isinstance(query, str) and "shobj_description" in query and isinstance(params, tuple):
                return FakeCursor([(renamed[params[0]],)])
            return super().execute(query, params)

    fake = Renamed({"EXISTS": [(True, ["SELECT"])]})

    @contextmanager
    def connect(_props: Any, _dbname: str | None = None) -> Iterator[FakeConnection]:
        yield fake

    monkeypatch.setattr(provider_module, "connect", connect)
    DefaultPrivilegesProvider().delete("id", DEFAULTS_IN)
    assert fake.statements[-1] == (
        'ALTER DEFAULT PRIVILEGES FOR ROLE "chat_owner2" IN SCHEMA "chat" REVOKE ALL ON TABLES FROM "chat_user"'
    )


def test_read_reports_a_dropped_object_as_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    import components.postgres.database as database_module

    fake_server(monkeypatch, database_module, {})
    assert DatabaseProvider().read("chat", DATABASE).id == ""


def test_scram_verifier_shape_and_salt() -> None:
    conn: Any = FakeConnection({})
    first, second = scram_verifier(conn, "u", "pencil"), scram_verifier(conn, "u", "pencil")
    assert first != second, "every verifier gets its own salt"
    assert first.startswith("SCRAM-SHA-256$4096:") and "pencil" not in first
    non_ascii = scram_verifier(conn, "u", "pässwörd ß")
    assert non_ascii.startswith("SCRAM-SHA-256$") and "pässwörd" not in non_ascii


def test_only_transient_connection_failures_are_retried() -> None:
    assert _retryable(psycopg.OperationalError("connection failed: Connection refused"))
    assert _retryable(psycopg.OperationalError("FATAL:  the database system is starting up"))
    assert not _retryable(psycopg.OperationalError('FATAL:  password authentication failed for user "x"'))
    assert not _retryable(psycopg.OperationalError('FATAL:  database "chat" does not exist'))
    assert not _retryable(ValueError("not a connection error"))


# --- Password ---------------------------------------------------------------------------------


def test_password_check_bounds() -> None:
    provider = PasswordProvider()
    assert provider.check({}, {"length": 32, "alphabet": DEFAULT_ALPHABET, "keepers": {}}).failures == []
    bad = {f.property for f in provider.check({}, {"length": 8, "alphabet": "abc", "keepers": {}}).failures}
    assert bad == {"length", "alphabet"}


def test_password_uses_every_class_and_a_random_id() -> None:
    for _ in range(50):
        value = generate(16, DEFAULT_ALPHABET)
        assert len(value) == 16 and all(
            set(value) & set(c) for c in (string.ascii_lowercase, string.ascii_uppercase, string.digits)
        )
    created = PasswordProvider().create({"length": 32, "alphabet": DEFAULT_ALPHABET, "keepers": {}})
    result = (created.outs or {})["result"]
    assert len(result) == 32 and result not in created.id


def test_password_changes_only_when_its_inputs_change() -> None:
    olds = {"length": 32, "alphabet": DEFAULT_ALPHABET, "keepers": {"rotation": "0"}, "result": "x" * 32}
    same = PasswordProvider().diff("id", olds, {**olds, "result": None})
    assert same.changes is False
    rotated = PasswordProvider().diff("id", olds, {**olds, "keepers": {"rotation": "1"}})
    assert rotated.replaces == ["keepers"] and rotated.delete_before_replace is False


def test_a_given_password_is_a_credential() -> None:
    provider = PasswordProvider()
    olds = {
        "length": 32,
        "alphabet": DEFAULT_ALPHABET,
        "keepers": {},
        "given": "old-value",
        "result": "old-value",
    }
    # No value (a preview without credentials) or one not known yet: no change at all.
    assert provider.diff("id", olds, {**olds, "given": None, "result": None}).changes is False
    assert provider.diff("id", olds, {**olds, "given": rpc.UNKNOWN, "result": None}).changes is False
    # A new value: an update, never a replacement; it becomes the result.
    rotated = provider.diff("id", olds, {**olds, "given": "new-value", "result": None})
    assert rotated.changes is True and rotated.replaces == []
    updated = provider.update("id", olds, {**olds, "given": "new-value", "result": None})
    assert (updated.outs or {})["result"] == "new-value"
    kept = provider.update("id", olds, {**olds, "given": None, "result": None})
    assert (kept.outs or {})["result"] == "old-value"
    created = provider.create(
        {"length": 32, "alphabet": DEFAULT_ALPHABET, "keepers": {}, "given": "given-value"}
    )
    assert (created.outs or {})["result"] == "given-value"


def test_a_required_credential_is_never_generated() -> None:
    props = {
        "length": 32,
        "alphabet": DEFAULT_ALPHABET,
        "keepers": {},
        "generate": False,
        "config_key": "paif:x",
    }
    with pytest.raises(ProviderError, match=r"paif:x is not set"):
        PasswordProvider().create(props)


# --- PostgresAppDatabase under mocks -------------------------------------------------------------

ROLE_TYPE = "pulumi-python:dynamic/postgres:Role"
DATABASE_TYPE = "pulumi-python:dynamic/postgres:Database"
SCHEMA_TYPE = "pulumi-python:dynamic/postgres:Schema"
GRANT_TYPE = "pulumi-python:dynamic/postgres:Grant"
DEFAULTS_TYPE = "pulumi-python:dynamic/postgres:DefaultPrivileges"
EXTENSION_TYPE = "pulumi-python:dynamic/postgres:Extension"
PASSWORD_TYPE = "pulumi-python:dynamic/random:Password"


@dataclass
class Declared:
    recorded: Recorded
    opts: dict[str, pulumi.ResourceOptions]
    resources: dict[str, pulumi.Resource]


def declare(app_password: str | None = None, **changes: Any) -> Declared:
    opts: dict[str, pulumi.ResourceOptions] = {}
    resources: dict[str, pulumi.Resource] = {}

    def remember(args: pulumi.ResourceTransformationArgs) -> None:
        opts[args.name] = args.opts
        resources[args.name] = args.resource

    def program() -> None:
        connection = PgConnection(
            host="db.example.internal", admin_user="pgadmin", admin_password=ADMIN_PASSWORD
        )
        settings: dict[str, Any] = {
            "connection": connection,
            "database": "chat",
            "owner_role": "chat_owner",
            "app_role": "chat_app",
            "schema": "chat",
            "extensions": ("vector", "citext"),
            "app_password": None if app_password is None else pulumi.Output.secret(app_password),
            **changes,
        }
        PostgresAppDatabase(
            "chat",
            PostgresAppDatabaseArgs(**settings),
            opts=pulumi.ResourceOptions(transformations=[remember]),
        )

    return Declared(run(program), opts, resources)


@pytest.fixture(scope="module")
def generated() -> Declared:
    return declare()


def test_declares_the_least_privilege_model(generated: Declared) -> None:
    rec = generated.recorded
    roles = {r.props["name"]: r.props for r in rec.of_type(ROLE_TYPE)}
    assert set(roles) == {"chat_owner", "chat_app"}
    assert roles["chat_owner"]["login"] is False and roles["chat_owner"]["grant_to_admin"] is True
    assert roles["chat_app"]["login"] is True and roles["chat_app"]["search_path"] == ["chat", "public"]
    for props in roles.values():
        assert not any(props[k] for k in LEAST_PRIVILEGE)
    assert rec.of_type(DATABASE_TYPE)[0].props["owner"] == "chat_owner"
    assert rec.of_type(SCHEMA_TYPE)[0].props["owner"] == "chat_owner"
    grants = {g.props["object_type"]: g.props["privileges"] for g in rec.of_type(GRANT_TYPE)}
    assert grants == {
        "database": ["CONNECT"],
        "schema": ["USAGE", "CREATE"],
        "table": ["SELECT", "INSERT", "UPDATE", "DELETE"],
    }
    defaults = {d.props["object_type"]: d.props for d in rec.of_type(DEFAULTS_TYPE)}
    assert defaults["table"]["owner"] == "chat_owner" and defaults["table"]["role"] == "chat_app"
    assert defaults["sequence"]["privileges"] == ["USAGE", "SELECT"]
    assert sorted(e.props["name"] for e in rec.of_type(EXTENSION_TYPE)) == ["citext", "vector"]


def test_objects_refer_to_the_database_and_roles_by_their_markers(generated: Declared) -> None:
    rec = generated.recorded
    markers = {
        r.props["name"]: r.props["ownership"] for r in (*rec.of_type(ROLE_TYPE), *rec.of_type(DATABASE_TYPE))
    }
    assert markers["chat"].endswith("/chat-db") and markers["chat_app"].endswith("/chat-app")
    children = [
        *rec.of_type(SCHEMA_TYPE),
        *rec.of_type(GRANT_TYPE),
        *rec.of_type(DEFAULTS_TYPE),
        *rec.of_type(EXTENSION_TYPE),
    ]
    assert len(children) == 8
    for child in children:
        assert child.props["database_ref"] == markers["chat"], child.name
        for key in ("role", "owner"):
            if f"{key}_ref" in child.props:
                assert child.props[f"{key}_ref"] == markers[child.props[key]], (child.name, key)


def test_app_without_create_gets_usage_only() -> None:
    rec = declare(app_can_create=False).recorded
    schema_grant = next(g for g in rec.of_type(GRANT_TYPE) if g.props["object_type"] == "schema")
    assert schema_grant.props["privileges"] == ["USAGE"]


def test_passwords_are_secret_inputs_and_secret_outputs(generated: Declared) -> None:
    rec = generated.recorded
    assert len(rec.of_type(PASSWORD_TYPE)) == 1
    assert generated.opts["chat-app-password"].additional_secret_outputs == ["result", "given"]
    assert rec.of_type(PASSWORD_TYPE)[0].props["keepers"] == {"rotation": "0"}
    for resource in rec.resources:
        if resource.type.startswith("pulumi-python:dynamic/postgres:"):
            assert resource.is_secret("admin_password"), resource.name
            assert "admin_password" in (generated.opts[resource.name].additional_secret_outputs or [])
            assert not contains_plain(resource.inputs, ADMIN_PASSWORD)
    app = rec.one(ROLE_TYPE, "chat-app")
    assert app.is_secret("password") and "password" in (
        generated.opts["chat-app"].additional_secret_outputs or []
    )


def test_given_app_password_is_used_and_kept_secret() -> None:
    rec = declare(app_password=APP_PASSWORD).recorded
    # Held in state by a Password resource (a run without the value keeps it), not generated.
    (held,) = rec.of_type(PASSWORD_TYPE)
    assert held.is_secret("given") and held.props["given"] == APP_PASSWORD
    app = rec.one(ROLE_TYPE, "chat-app")
    assert app.is_secret("password") and app.props["password"] == APP_PASSWORD
    assert not any(contains_plain(r.inputs, APP_PASSWORD) for r in rec.resources)


def test_rotation_is_a_keeper() -> None:
    rec = declare(app_password_rotation=3).recorded
    assert rec.of_type(PASSWORD_TYPE)[0].props["keepers"] == {"rotation": "3"}


def test_destroy_drops_the_database_before_roles_and_skips_its_contents(generated: Declared) -> None:
    database = generated.resources["chat-db"]
    depends_on = generated.opts["chat-db"].depends_on
    assert isinstance(depends_on, list) and generated.resources["chat-app"] in depends_on
    inside = [
        n
        for n in generated.opts
        if n.startswith(("chat-schema", "chat-connect", "chat-tables", "chat-default", "chat-ext"))
    ]
    assert len(inside) == 8
    assert all(generated.opts[n].deleted_with is database for n in inside)
    assert generated.opts["chat-owner"].deleted_with is None


def test_protect_guards_the_data_only() -> None:
    declared = declare(protect=True)
    protected = {name for name, r in declared.resources.items() if r._protect}
    # The data, and the role that owns it (dropping it would need the data gone first).
    assert protected == {"chat-db", "chat-owner", "chat-schema"}
    assert not {name for name, r in declare().resources.items() if r._protect}
