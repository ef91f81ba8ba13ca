"""The app's database objects through the real Pulumi engine against a real PostgreSQL server.

One Debian PostgreSQL server per module (127.0.0.1, free port, statement logging on). The
program (programs/postgres) connects as `pgadmin`, a CREATEDB/CREATEROLE role that is not a
superuser, as DSM's admin is not. The lifecycle test then checks, with psycopg as the app
role and as outsiders: least privilege, isolation from another database, an idempotent
second `up`, drift correction after out-of-band changes, password rotation, secrets that
never reach state or the server log in plaintext, and `destroy`. Renames of the database and
the roles are updates in place (rows kept, the app still connects); a rename onto a name
another object has is refused and changes nothing.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from components.postgres import PostgresError
from components.postgres.database import DatabaseProvider
from components.postgres.extension import ExtensionProvider
from components.postgres.grant import GrantProvider
from components.postgres.role import LEAST_PRIVILEGE, RoleProvider
from components.postgres.schema import SchemaProvider
from localenv.services import POSTGRES_NO_STATEMENT_LOG
from tests.integration.engine import PulumiProgram
from tests.integration.postgres_server import PostgresServer, free_port, running_postgres

pytestmark = pytest.mark.integration

PROGRAM = Path(__file__).parent / "programs" / "postgres"
ADMIN_USER = "pgadmin"
ADMIN_PASSWORD = secrets.token_urlsafe(18)
ROLE_DEFAULTS = {
    "login": True,
    "connection_limit": -1,
    "valid_until": None,
    "inherit": True,
    "search_path": None,
    "grant_to_admin": False,
    **LEAST_PRIVILEGE,
}
# Stack, component, app password, 2 roles, database, schema, 3 grants, 2 default privileges, 1 extension.
RESOURCES = 13


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    with running_postgres(settings={"log_statement": "all"}) as pg:
        with psycopg.connect(pg.dsn(), autocommit=True) as conn:
            conn.execute(
                psycopg.sql.SQL("CREATE ROLE {} LOGIN CREATEDB CREATEROLE PASSWORD {}").format(
                    psycopg.sql.Identifier(ADMIN_USER), psycopg.sql.Literal(ADMIN_PASSWORD)
                )
            )
            # Ends the app's sessions when the database is renamed (and on destroy's DROP ... FORCE).
            conn.execute(
                psycopg.sql.SQL("GRANT pg_signal_backend TO {}").format(psycopg.sql.Identifier(ADMIN_USER))
            )
            # Another team's data: one database closed to PUBLIC, one left at the server default.
            for database in ("billing", "shared"):
                conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(database)))
            conn.execute("REVOKE CONNECT ON DATABASE billing FROM PUBLIC")
        for database in ("billing", "shared"):
            with psycopg.connect(pg.dsn(dbname=database), autocommit=True) as conn:
                conn.execute("CREATE TABLE invoices (id int, amount numeric)")
                conn.execute("INSERT INTO invoices VALUES (1, 99.5)")
        yield pg


def program(pg: PostgresServer, workdir: Path, *, port: int | None = None) -> PulumiProgram:
    stack = PulumiProgram(PROGRAM, workdir)
    stack.set_config("host", pg.host)
    stack.set_config("port", str(port or pg.port))
    stack.set_config("adminUser", ADMIN_USER)
    stack.set_config("adminPassword", ADMIN_PASSWORD, secret=True)
    stack.run("config", "set", "--path", "extensions[0]", "citext")
    return stack


def as_app(
    pg: PostgresServer, password: str, dbname: str = "chat", user: str = "chat_app"
) -> psycopg.Connection[Any]:
    return psycopg.connect(pg.dsn(user=user, password=password, dbname=dbname), autocommit=True)


def query(pg: PostgresServer, statement: str, dbname: str = "postgres") -> list[tuple[Any, ...]]:
    with psycopg.connect(pg.dsn(dbname=dbname), autocommit=True) as conn:
        cursor = conn.execute(statement.encode())
        return cursor.fetchall() if cursor.description else []


def test_preview_contacts_no_server(tmp_path: Path) -> None:
    dead_port = free_port()
    stack = PulumiProgram(PROGRAM, tmp_path)
    for key, value in (("host", "127.0.0.1"), ("port", str(dead_port)), ("adminUser", ADMIN_USER)):
        stack.set_config(key, value)
    stack.set_config("adminPassword", "unused", secret=True)
    stack.run("config", "set", "--path", "extensions[0]", "citext")
    assert stack.preview() == {"create": RESOURCES}


def check_least_privilege(pg: PostgresServer, password: str) -> None:
    roles = {
        r[0]: r[1:]
        for r in query(
            pg,
            "SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, "
            "rolconnlimit FROM pg_roles WHERE rolname LIKE 'chat%'",
        )
    }
    assert roles == {
        "chat_app": (True, False, False, False, 5),
        "chat_owner": (False, False, False, False, -1),
    }
    assert query(pg, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'chat'") == [
        ("chat_owner",)
    ]
    assert query(pg, "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'chat'", "chat") == [
        ("chat_owner",)
    ]
    assert query(pg, "SELECT extname FROM pg_extension WHERE extname = 'citext'", "chat") == [("citext",)]

    # The owner creates a table (as migrations would): default privileges give the app DML on it.
    with psycopg.connect(pg.dsn(user=ADMIN_USER, password=ADMIN_PASSWORD, dbname="chat")) as admin:
        admin.execute("SET ROLE chat_owner")
        admin.execute("CREATE TABLE chat.settings (id serial PRIMARY KEY, value text)")
        admin.commit()

    with as_app(pg, password) as app:
        assert app.execute("SELECT current_schema()").fetchone() == ("chat",)
        app.execute("CREATE TABLE messages (id serial PRIMARY KEY, body citext NOT NULL)")
        app.execute("INSERT INTO messages (body) VALUES ('Hello'), ('world')")
        app.execute("UPDATE messages SET body = 'HELLO' WHERE id = 1")
        app.execute("DELETE FROM messages WHERE id = 2")
        assert app.execute("SELECT body FROM messages WHERE body = 'hello'").fetchall() == [("HELLO",)]
        app.execute("INSERT INTO chat.settings (value) VALUES ('a')")
        app.execute("UPDATE chat.settings SET value = 'b'")
        assert app.execute("SELECT value FROM chat.settings").fetchall() == [("b",)]
        app.execute("DELETE FROM chat.settings")
        for forbidden in (
            "DROP TABLE chat.settings",
            "TRUNCATE chat.settings",
            "CREATE DATABASE stolen",
            "CREATE ROLE accomplice LOGIN",
            "CREATE TABLE public.outside (id int)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(forbidden.encode())

    with pytest.raises(psycopg.OperationalError, match='permission denied for database "billing"'):
        as_app(pg, password, "billing")
    with as_app(pg, password, "shared") as app, pytest.raises(psycopg.errors.InsufficientPrivilege):
        app.execute("SELECT * FROM invoices")

    # Nobody else may connect to the app's database: PUBLIC's CONNECT is revoked.
    query(pg, "CREATE ROLE intruder LOGIN PASSWORD 'intruder-pw'")
    with pytest.raises(psycopg.OperationalError, match='permission denied for database "chat"'):
        psycopg.connect(pg.dsn(user="intruder", password="intruder-pw", dbname="chat"))
    query(pg, "DROP ROLE intruder")


def test_lifecycle(server: PostgresServer, tmp_path: Path) -> None:
    pg = server
    stack = program(pg, tmp_path)

    assert stack.up() == {"create": RESOURCES}
    first_password = stack.outputs()["appPassword"]
    assert len(first_password) == 32
    check_least_privilege(pg, first_password)

    assert stack.up() == {"same": RESOURCES}, "a second up must change nothing"

    # Out-of-band changes: refresh sees them (the extension is gone, attributes and ACLs
    # drifted) and the next up puts everything back.
    query(pg, "DROP EXTENSION citext CASCADE", "chat")
    query(pg, "ALTER ROLE chat_app CREATEDB CONNECTION LIMIT 100")
    query(pg, "GRANT CONNECT, TEMPORARY ON DATABASE chat TO PUBLIC")
    refreshed = stack.refresh()
    assert refreshed.get("delete") == 1 and refreshed.get("update", 0) >= 2, refreshed
    repaired = stack.up()
    assert repaired.get("create") == 1 and repaired.get("update", 0) >= 2, repaired
    assert query(pg, "SELECT rolcreatedb, rolconnlimit FROM pg_roles WHERE rolname = 'chat_app'") == [
        (False, 5)
    ]
    public = "SELECT count(*) FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = 'chat' AND a.grantee = 0"
    assert query(pg, public) == [(0,)]
    assert query(pg, "SELECT count(*) FROM pg_extension WHERE extname = 'citext'", "chat") == [(1,)]
    assert stack.up() == {"same": RESOURCES}

    # Rotation through config: a new password works at once, the old one no longer does.
    stack.set_config("appPasswordRotation", "1")
    rotated = stack.up()
    assert rotated.get("replace") == 1 and rotated.get("update") == 1, rotated
    second_password = stack.outputs()["appPassword"]
    assert second_password != first_password
    with as_app(pg, second_password) as app:
        assert app.execute("SELECT count(*) FROM messages").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        as_app(pg, first_password)

    # With state in place and the server unreachable, a preview still runs: it contacts nothing.
    stack.set_config("port", str(free_port()))
    assert stack.preview().get("update") == RESOURCES - 3
    stack.set_config("port", str(pg.port))

    exported = stack.export()
    for secret in (ADMIN_PASSWORD, first_password, second_password):
        assert secret not in exported, "a password is in plaintext in the stack state"
    assert '"ciphertext"' in exported
    log = pg.log_text()
    assert "ALTER ROLE" in log and "SCRAM-SHA-256$" in log, "statement logging must be on for this check"
    assert first_password not in log and second_password not in log, "an app password reached the server log"

    assert stack.destroy() == {"delete": RESOURCES}
    assert query(pg, "SELECT rolname FROM pg_roles WHERE rolname LIKE 'chat%'") == []
    assert query(pg, "SELECT datname FROM pg_database WHERE datname = 'chat'") == []
    print(
        "\npulumi runs:",
        ", ".join(f"{name.split(' --')[0]} {seconds:.1f}s" for name, seconds in stack.timings),
    )


def test_non_ascii_passwords_never_reach_the_statement_log(server: PostgresServer) -> None:
    """Create and rotate a role with passwords SASLprep changes (non-ASCII, a non-breaking
    space): the server stores a verifier that accepts them, and its statement log (on for
    this server) never sees them."""
    props = {**connection_props(server), **ROLE_DEFAULTS, "name": "intl_app"}
    first, second = "pässwörd-ß-" + secrets.token_hex(6), "パスワード\u00a0" + secrets.token_hex(6)
    provider = RoleProvider()
    try:
        provider.create({**props, "password": first})
        with psycopg.connect(server.dsn(user="intl_app", password=first)) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("intl_app",)
        provider.update("intl_app", {**props, "password": first}, {**props, "password": second})
        with psycopg.connect(server.dsn(user="intl_app", password=second)):
            pass
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(server.dsn(user="intl_app", password=first))
    finally:
        provider.delete("intl_app", props)
    log = server.log_text()
    assert 'CREATE ROLE "intl_app"' in log and 'ALTER ROLE "intl_app"' in log, "statement logging is off"
    for password in (first, second):
        assert password not in log and password[:8] not in log, "a password reached the server log"


def test_local_server_logging_never_records_a_hand_typed_password() -> None:
    """The local environment's PostgreSQL log settings: a plaintext password in a statement
    that succeeds, fails, or is a syntax error at the password is not logged; a failed login is."""
    typed = [f"plain-secret-{secrets.token_hex(4)}" for _ in range(3)]
    with running_postgres(settings=POSTGRES_NO_STATEMENT_LOG) as pg:
        with psycopg.connect(pg.dsn(), autocommit=True) as conn:
            conn.execute(f"CREATE ROLE typed LOGIN PASSWORD '{typed[0]}'".encode())
            for statement in (
                f"ALTER ROLE ghost PASSWORD '{typed[1]}'",
                f"ALTER ROLE typed PASSWORD {typed[2]}",
            ):
                with pytest.raises(psycopg.Error):
                    conn.execute(statement.encode())
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(pg.dsn(user="typed", password="wrong"))
        log = pg.log_text()
    assert 'password authentication failed for user "typed"' in log
    leaked = [password for password in typed if password.removeprefix("plain-") in log]
    assert not leaked, f"passwords in the server log: {leaked}"


def test_objects_dropped_out_of_band_read_as_gone(server: PostgresServer) -> None:
    props = connection_props(server)
    assert RoleProvider().read("ghost", {**props, "name": "ghost"}).id == ""
    assert DatabaseProvider().read("ghost", {**props, "name": "ghost"}).id == ""
    assert SchemaProvider().read("ghost/app", {**props, "database": "ghost", "name": "app"}).id == ""
    assert (
        SchemaProvider().read("shared/public", {**props, "database": "shared", "name": "public"}).id
        == "shared/public"
    )


def test_missing_extension_names_what_the_server_offers(server: PostgresServer) -> None:
    with pytest.raises(PostgresError) as caught:
        ExtensionProvider().create({**connection_props(server), "database": "shared", "name": "vector"})
    message = str(caught.value)
    assert message.startswith(
        "extension 'vector' is not available on 127.0.0.1 (database 'shared'); the server offers:"
    )
    assert "citext" in message and "pgcrypto" in message


def test_refused_credentials_fail_fast_with_a_clear_message(server: PostgresServer) -> None:
    props = {**connection_props(server), "admin_password": "wrong", "connect_attempts": 5}
    started = time.monotonic()
    with pytest.raises(
        PostgresError, match=f"cannot connect to {ADMIN_USER}@127.0.0.1:{server.port}/postgres: .*password"
    ):
        RoleProvider().read("chat_app", {**props, "name": "chat_app"})
    assert time.monotonic() - started < 1, "a refused password must not be retried"


def connection_props(pg: PostgresServer) -> dict[str, Any]:
    return {
        "host": pg.host,
        "port": pg.port,
        "admin_user": ADMIN_USER,
        "admin_password": ADMIN_PASSWORD,
        "maintenance_database": "postgres",
        "sslmode": "disable",
        "sslrootcert": None,
        "connect_timeout": 5,
        "connect_attempts": 1,
    }


def _forget_owner_role_and_dependents(stack: PulumiProgram) -> None:
    """What a kill between the server's answer and the engine's checkpoint leaves: objects
    on the server that the state does not know (the owner role, and all that depends on it)."""
    exported = json.loads(stack.export())
    urn = next(
        r["urn"]
        for r in exported["deployment"]["resources"]
        if r["type"] == "pulumi-python:dynamic/postgres:Role" and r["urn"].endswith("::chat-owner")
    )
    stack.run("state", "delete", urn, "--target-dependents", "--yes", "--force")


def test_a_create_the_engine_never_recorded_is_adopted_and_a_foreign_object_refused(
    server: PostgresServer, tmp_path: Path
) -> None:
    stack = program(server, tmp_path)
    assert stack.up() == {"create": RESOURCES}
    query(server, "CREATE TABLE chat.kept (note text) ; ALTER TABLE chat.kept OWNER TO chat_owner", "chat")
    query(server, "INSERT INTO chat.kept VALUES ('written before the crash')", "chat")
    markers = query(
        server, "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'chat'"
    )
    assert markers == [("managed by Pulumi: paif-postgres-it/it/chat-db",)]

    # Lost records: the next up adopts the role, the database and the schema by their marker
    # (no "already exists ... import it"), and the data is untouched.
    _forget_owner_role_and_dependents(stack)
    started = time.monotonic()
    adopted = stack.up()
    print(f"recovery after a lost create: {time.monotonic() - started:.1f} s ({adopted})")
    assert adopted.get("create", 0) >= 5 and "delete" not in adopted
    assert stack.up() == {"same": RESOURCES}, "adopted objects must match the declaration"
    assert query(server, "SELECT note FROM chat.kept", "chat") == [("written before the crash",)]

    # An object of the same name that this stack did not create: refused, nothing dropped.
    _forget_owner_role_and_dependents(stack)
    query(server, "COMMENT ON DATABASE chat IS 'another team'")
    refused = stack.run("up", "--yes", "--skip-preview", check=False)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert "database 'chat' already exists" in output and "this stack did not create it" in output
    assert "pulumi import" in output and "Traceback" not in output
    assert query(server, "SELECT note FROM chat.kept", "chat") == [("written before the crash",)]

    # Clean up for the other tests of this server: the state knows only part of it now.
    query(server, "DROP DATABASE chat WITH (FORCE)")
    stack.destroy()
    query(server, "DROP ROLE IF EXISTS chat_app; DROP ROLE IF EXISTS chat_owner")


def test_a_protected_schema_is_never_replaced_until_released(server: PostgresServer, tmp_path: Path) -> None:
    stack = program(server, tmp_path)
    stack.set_config("protect", "true")
    assert stack.up() == {"create": RESOURCES}
    query(server, "CREATE TABLE chat.kept (note text); ALTER TABLE chat.kept OWNER TO chat_owner", "chat")
    query(server, "INSERT INTO chat.kept VALUES ('precious')", "chat")

    # A new schema name is another schema (its name is its identity): `pulumi up` (which
    # previews first) stops, naming it.
    stack.set_config("schema", "chat_renamed")
    refused = stack.run("up", "--yes", check=False)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert "unable to replace resource" in output and "chat-schema" in output and "protect" in output
    assert query(server, "SELECT note FROM chat.kept", "chat") == [("precious",)]
    assert query(server, "SELECT count(*) FROM pg_namespace WHERE nspname = 'chat_renamed'", "chat") == [(0,)]

    # Released on purpose: one run lifts the protection (the engine checks the protection a
    # dependent has in state), the next one replaces; the old schema is dropped RESTRICT, so
    # its tables go first (backed up by whoever released it).
    stack.set_config("schema", "chat")
    stack.set_config("protect", "false")
    assert stack.up() == {"same": RESOURCES}
    protected = [r["urn"] for r in json.loads(stack.export())["deployment"]["resources"] if r.get("protect")]
    assert protected == []
    query(server, "DROP TABLE chat.kept", "chat")
    stack.set_config("schema", "chat_renamed")
    replaced = stack.up()
    assert replaced.get("replace", 0) >= 1
    assert query(
        server, "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'chat%' ORDER BY 1", "chat"
    ) == [("chat_renamed",)]
    assert stack.destroy().get("delete") == RESOURCES


def _only_updates(changes: dict[str, int], updates: int) -> None:
    assert changes == {"update": updates, "same": RESOURCES - updates}, changes


_MARKERS = {
    "database": "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
    "role": "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s",
}


def _marker(server: PostgresServer, kind: str, name: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        return conn.execute(_MARKERS[kind], (name,)).fetchall()


def test_renaming_the_database_and_the_roles_are_updates_in_place(
    server: PostgresServer, tmp_path: Path
) -> None:
    stack = program(server, tmp_path)
    # Protected, as every stack's data is: a replacement would be refused, a rename is not one.
    stack.set_config("protect", "true")
    assert stack.up() == {"create": RESOURCES}
    password = stack.outputs()["appPassword"]
    with psycopg.connect(server.dsn(user=ADMIN_USER, password=ADMIN_PASSWORD, dbname="chat")) as admin:
        admin.execute("SET ROLE chat_owner")
        admin.execute("CREATE TABLE chat.settings (id serial PRIMARY KEY, value text)")
        admin.commit()
    with as_app(server, password) as app:
        app.execute("CREATE TABLE notes (id serial PRIMARY KEY, body citext NOT NULL)")
        app.execute("INSERT INTO notes (body) VALUES ('written before the renames')")
        app.execute("INSERT INTO chat.settings (value) VALUES ('kept')")
    held = as_app(server, password)  # the app's pool, connected while the database is renamed

    # The database: one ALTER DATABASE ... RENAME, and its schema, grants, default privileges
    # and extension follow as updates (8), nothing replaced, deleted or created.
    stack.set_config("database", "chat_v2")
    _only_updates(stack.preview(), 8)
    started = time.monotonic()
    _only_updates(stack.up(), 8)
    print(f"\ndatabase rename: {time.monotonic() - started:.1f} s")
    with pytest.raises(psycopg.OperationalError):
        held.execute("SELECT 1")  # its session was ended so the rename could run
    held.close()
    assert query(server, "SELECT datname FROM pg_database WHERE datname LIKE 'chat%'") == [("chat_v2",)]
    assert _marker(server, "database", "chat_v2") == [("managed by Pulumi: paif-postgres-it/it/chat-db",)]
    with as_app(server, password, "chat_v2") as app:
        assert app.execute("SELECT body FROM notes").fetchall() == [("written before the renames",)]
        app.execute("INSERT INTO notes (body) VALUES ('after the database rename')")
        assert app.execute("SELECT value FROM chat.settings").fetchall() == [("kept",)]
    assert stack.up() == {"same": RESOURCES}, "a second up must change nothing"

    # Both roles: ALTER ROLE ... RENAME; the database and schema owners, the grants and the
    # default privileges follow as updates (9). The app's password survives the rename.
    stack.set_config("appRole", "chat_user")
    stack.set_config("ownerRole", "chat_keeper")
    _only_updates(stack.preview(), 9)
    started = time.monotonic()
    _only_updates(stack.up(), 9)
    print(f"role renames: {time.monotonic() - started:.1f} s")
    assert query(server, "SELECT rolname FROM pg_roles WHERE rolname LIKE 'chat%' ORDER BY 1") == [
        ("chat_keeper",),
        ("chat_user",),
    ]
    assert _marker(server, "role", "chat_user") == [("managed by Pulumi: paif-postgres-it/it/chat-app",)]
    assert query(server, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'chat_v2'") == [
        ("chat_keeper",)
    ]
    with as_app(server, password, "chat_v2", user="chat_user") as app:
        assert app.execute("SELECT count(*) FROM notes").fetchone() == (2,)
        app.execute("INSERT INTO notes (body) VALUES ('after the role rename')")
        app.execute("UPDATE chat.settings SET value = 'still writable'")
    # Default privileges still give the app what the (renamed) owner creates later.
    with psycopg.connect(server.dsn(user=ADMIN_USER, password=ADMIN_PASSWORD, dbname="chat_v2")) as admin:
        admin.execute("SET ROLE chat_keeper")
        admin.execute("CREATE TABLE chat.later (id int)")
        admin.commit()
    with as_app(server, password, "chat_v2", user="chat_user") as app:
        app.execute("INSERT INTO chat.later VALUES (1)")
    with pytest.raises(psycopg.OperationalError, match=r"password authentication failed|does not exist"):
        as_app(server, password, "chat_v2")  # the old name is gone
    assert stack.up() == {"same": RESOURCES}, "a second up must change nothing"

    stack.set_config("protect", "false")
    assert stack.up() == {"same": RESOURCES}
    assert stack.destroy() == {"delete": RESOURCES}
    assert query(server, "SELECT rolname FROM pg_roles WHERE rolname LIKE 'chat%'") == []


def test_a_rename_onto_a_name_taken_on_the_server_is_refused_and_changes_nothing(
    server: PostgresServer, tmp_path: Path
) -> None:
    stack = program(server, tmp_path)
    assert stack.up() == {"create": RESOURCES}
    password = stack.outputs()["appPassword"]
    with as_app(server, password) as app:
        app.execute("CREATE TABLE notes (body text); INSERT INTO notes VALUES ('mine')")
    query(server, "CREATE DATABASE taken")
    query(server, "COMMENT ON DATABASE taken IS 'another team'")
    query(server, "CREATE ROLE taken_role NOLOGIN")

    for key, value, message in (
        ("database", "taken", "cannot rename database 'chat' to 'taken': a database 'taken' already exists"),
        (
            "appRole",
            "taken_role",
            "cannot rename role 'chat_app' to 'taken_role': a role 'taken_role' already exists",
        ),
    ):
        stack.set_config(key, value)
        refused = stack.run("up", "--yes", check=False)
        output = refused.stdout + refused.stderr
        assert refused.returncode != 0, output
        assert message in output and "not created by this stack" in output and "Nothing was changed" in output
        assert "Traceback" not in output
        stack.run("config", "rm", key)
        assert stack.up() == {"same": RESOURCES}, "the refused rename must have changed nothing"

    assert query(server, "SELECT datname FROM pg_database WHERE datname IN ('chat', 'taken') ORDER BY 1") == [
        ("chat",),
        ("taken",),
    ]
    assert _marker(server, "database", "taken") == [("another team",)]
    with as_app(server, password) as app:
        assert app.execute("SELECT body FROM notes").fetchall() == [("mine",)]
    assert stack.destroy() == {"delete": RESOURCES}
    query(server, "DROP DATABASE taken")
    query(server, "DROP ROLE taken_role")


def test_a_rename_killed_before_the_database_was_reopened_converges_on_the_next_up(
    server: PostgresServer, tmp_path: Path
) -> None:
    """The window `_rename` leaves to a kill: renamed, new sessions still kept out, the engine
    never told. The next `up` recognises the rename by the marker and opens the database again."""
    stack = program(server, tmp_path)
    assert stack.up() == {"create": RESOURCES}
    password = stack.outputs()["appPassword"]
    with as_app(server, password) as app:
        app.execute("CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)")
        app.execute("INSERT INTO notes (body) VALUES ('before the killed rename')")
    with psycopg.connect(
        server.dsn(user=ADMIN_USER, password=ADMIN_PASSWORD, dbname="postgres"), autocommit=True
    ) as admin:
        admin.execute("ALTER DATABASE chat WITH ALLOW_CONNECTIONS false")
        admin.execute("ALTER DATABASE chat RENAME TO chat_v3")
    stack.set_config("database", "chat_v3")
    _only_updates(stack.up(), 8)
    assert query(server, "SELECT datallowconn FROM pg_database WHERE datname = 'chat_v3'") == [(True,)]
    with as_app(server, password, "chat_v3") as app:
        assert app.execute("SELECT body FROM notes").fetchall() == [("before the killed rename",)]
    assert stack.up() == {"same": RESOURCES}
    assert stack.destroy() == {"delete": RESOURCES}


def test_a_child_still_naming_a_renamed_database_is_read_and_deleted_under_its_new_name(
    server: PostgresServer,
) -> None:
    """State a failed run can leave: the database renamed (its update recorded), a schema and
    a grant in it still recorded under the old name. Refresh finds them by the database's
    marker, and a delete removes them there."""
    marker = "managed by Pulumi: paif-postgres-it/it/renamed-db"
    query(server, "CREATE DATABASE ren_new")
    query(server, f"COMMENT ON DATABASE ren_new IS '{marker}'")
    query(server, "CREATE ROLE ren_reader NOLOGIN")
    query(
        server,
        f"CREATE SCHEMA ren AUTHORIZATION {ADMIN_USER}; GRANT USAGE ON SCHEMA ren TO ren_reader",
        "ren_new",
    )
    stale = {**connection_props(server), "database": "ren_old", "database_ref": marker}
    schema = {**stale, "name": "ren", "owner": ADMIN_USER}
    grant = {
        **stale,
        "role": "ren_reader",
        "role_ref": "ren_reader",
        "object_type": "schema",
        "schema": "ren",
        "privileges": ["USAGE"],
    }
    read = SchemaProvider().read("ren_old/ren", schema)
    assert read.id == "ren_old/ren" and (read.outs or {})["database"] == "ren_new"
    assert (GrantProvider().read("g", grant).outs or {})["privileges"] == ["USAGE"]
    GrantProvider().delete("g", grant)
    SchemaProvider().delete("ren_old/ren", schema)
    assert query(server, "SELECT count(*) FROM pg_namespace WHERE nspname = 'ren'", "ren_new") == [(0,)]
    query(server, "DROP DATABASE ren_new")
    query(server, "DROP ROLE ren_reader")
