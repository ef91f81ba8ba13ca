"""Prepare a PostgreSQL server (DSM) as the team's Pulumi state backend.

    export PGPASSWORD=...   # or PGPASSFILE: the server admin's password, never an argument
    python -m ops.state_backend --host pg.example.internal --port 5432 --admin-user pgadmin \\
        --sslrootcert ca.crt --passfile ~/.config/paif/pulumi-state.pgpass

Over TLS with `sslmode=verify-full` (the server's certificate must be signed by
`--sslrootcert` and name `--host`), as the admin, idempotently:

- database `pulumi_state` (owned by the NOLOGIN role `pulumi_state_owner`), PUBLIC's
  CONNECT/TEMP on it revoked, schema `pulumi` owned by the owner role, and the state table
  `pulumi.pulumi_state` created ahead with Pulumi's own schema
  (pkg/backend/diy/postgres/schema.sql), so no login role needs CREATE;
- login role `pulumi_state_writer` (deploys, `make up`): CONNECT, USAGE on the schema,
  SELECT/INSERT/UPDATE/DELETE on the table, nothing else;
- login role `pulumi_state_reader` (the pull-request gate, drift detection): CONNECT, USAGE,
  SELECT only.

The login roles' passwords are generated (or kept: `--keep-passwords` when they are already
in the passfile), set as SCRAM-SHA-256 verifiers computed by libpq (the password itself never
reaches the server or a log), and written to `--passfile` (0600, libpq's .pgpass format).
It prints the backend URLs, which carry no password:

    PULUMI_BACKEND_URL=postgres://pulumi_state_writer@pg.example.internal:5432/pulumi_state?sslmode=verify-full&sslrootcert=...&table=pulumi.pulumi_state
    PGPASSFILE=...

`--migrate-from file:///path --stack NAME` then copies a stack's state from another backend
(`pulumi stack export` / `import` through the Automation API).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql

DATABASE = "pulumi_state"
SCHEMA = "pulumi"
TABLE = "pulumi_state"
OWNER = "pulumi_state_owner"
WRITER = "pulumi_state_writer"
READER = "pulumi_state_reader"
# pkg/backend/diy/postgres/schema.sql of the pinned CLI (v3.274.1), with the schema-qualified name.
STATE_TABLE = """
CREATE TABLE IF NOT EXISTS {table} (
    key TEXT PRIMARY KEY,
    data JSON NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS {index} ON {table} (key text_pattern_ops)
"""


class StateBackendError(RuntimeError):
    """The server could not be prepared (connection, TLS, privileges)."""


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    admin_user: str
    sslrootcert: Path
    admin_database: str = "postgres"

    def connect(self, dbname: str, *, user: str | None = None, password: str | None = None) -> psycopg.Connection:
        """A connection over TLS verify-full; the password from `password`, else libpq's
        PGPASSWORD/PGPASSFILE."""
        try:
            return psycopg.connect(
                host=self.host,
                port=self.port,
                user=user or self.admin_user,
                dbname=dbname,
                sslmode="verify-full",
                sslrootcert=str(self.sslrootcert),
                connect_timeout=10,
                autocommit=True,
                **({"password": password} if password is not None else {}),  # type: ignore[arg-type]
            )
        except psycopg.OperationalError as exc:
            raise StateBackendError(
                f"cannot connect to {self.host}:{self.port} as {user or self.admin_user} (TLS verify-full with "
                f"{self.sslrootcert}): {str(exc).strip().splitlines()[-1]}"
            ) from None

    def backend_url(self, role: str) -> str:
        """The `PULUMI_BACKEND_URL` of `role` (no password: libpq/lib/pq read PGPASSFILE/PGPASSWORD)."""
        query = urlencode(
            {"sslmode": "verify-full", "sslrootcert": str(self.sslrootcert), "table": f"{SCHEMA}.{TABLE}"}
        )
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"postgres://{quote(role)}@{host}:{self.port}/{DATABASE}?{query}"


def _role(conn: psycopg.Connection, name: str, *, login: bool, password: str | None) -> None:
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
    options = sql.SQL("LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT" if login else "NOLOGIN")
    verb = sql.SQL("ALTER ROLE" if exists else "CREATE ROLE")
    conn.execute(sql.SQL("{} {} {}").format(verb, sql.Identifier(name), options))
    if password is not None:
        verifier = conn.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256").decode()
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(name), sql.Literal(verifier)))


def read_passfile(path: Path) -> dict[str, str]:
    """user -> password of the lines of a .pgpass file (host:port:db:user:password)."""
    found: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split(":")
            if len(parts) == 5 and not line.startswith("#"):
                found[parts[3]] = parts[4]
    return found


def write_passfile(path: Path, server: Server, passwords: dict[str, str]) -> None:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace(":", "\\:")

    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{escape(server.host)}:{server.port}:{DATABASE}:{user}:{escape(pw)}" for user, pw in passwords.items()]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    path.chmod(0o600)


def prepare(server: Server, passfile: Path, *, keep_passwords: bool = False) -> dict[str, str]:
    """Create/align the database, schema, table and roles; returns role -> backend URL."""
    known = read_passfile(passfile) if keep_passwords else {}
    passwords = {role: known.get(role) or secrets.token_urlsafe(32) for role in (WRITER, READER)}
    with server.connect(server.admin_database) as conn:
        _role(conn, OWNER, login=False, password=None)
        for role, password in passwords.items():
            _role(conn, role, login=True, password=password)
        conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(OWNER)))
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(DATABASE), sql.Identifier(OWNER)))
        db = sql.Identifier(DATABASE)
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}, {}").format(db, sql.Identifier(WRITER), sql.Identifier(READER))
        )
    with server.connect(DATABASE) as conn:
        schema, table = sql.Identifier(SCHEMA), sql.Identifier(SCHEMA, TABLE)
        conn.execute(sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(schema, sql.Identifier(OWNER)))
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(OWNER)))
        for statement in STATE_TABLE.split(";"):
            conn.execute(
                sql.SQL(statement).format(table=table, index=sql.Identifier(f"{TABLE}_key_prefix_idx"))
            )
        conn.execute(sql.SQL("RESET ROLE"))
        both = sql.SQL(", ").join([sql.Identifier(WRITER), sql.Identifier(READER)])
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, both))
        conn.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(table, both))
        conn.execute(
            sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {}").format(table, sql.Identifier(WRITER))
        )
        conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(table, sql.Identifier(READER)))
    write_passfile(passfile, server, passwords)
    return {role: server.backend_url(role) for role in (WRITER, READER)}


def migrate(source_url: str, target_url: str, stack: str, project_name: str, passfile: Path) -> int:
    """Copy `stack`'s state from `source_url` to `target_url` (a stack created there when
    missing); returns its resource count. Runs in a scratch project of the same name, so no
    committed stack file gets an `encryptionsalt` written into it."""
    import tempfile

    import yaml

    from ops.automation import Project, Settings

    with tempfile.TemporaryDirectory(prefix="paif-migrate-") as scratch:
        (Path(scratch) / "Pulumi.yaml").write_text(yaml.safe_dump({"name": project_name, "runtime": "python"}))
        source = Project(Path(scratch), Settings(backend_url=source_url))
        exported = source.workspace.export_stack(stack)
        target = Project(Path(scratch), Settings(backend_url=target_url, extra_env={"PGPASSFILE": str(passfile)}))
        if stack not in target.stack_names():
            target.stack(stack, create=True)
        target.workspace.import_stack(stack, exported)
    return len((exported.deployment or {}).get("resources") or [])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.state_backend", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, default=5432)
    parser.add_argument("--admin-user", required=True, help="a role with CREATEROLE and CREATEDB (its password in PGPASSWORD/PGPASSFILE)")
    parser.add_argument("--admin-database", default="postgres")
    parser.add_argument("--sslrootcert", type=Path, required=True, help="the CA that signed the server's certificate")
    parser.add_argument("--passfile", type=Path, required=True, help="where the login roles' passwords are written (0600)")
    parser.add_argument("--keep-passwords", action="store_true", help="keep the passwords already in --passfile")
    parser.add_argument("--migrate-from", help="a backend URL to copy --stack's state from (e.g. file://$PWD/.pulumi-state)")
    parser.add_argument("--stack", action="append", default=[], help="a stack to migrate (repeatable)")
    args = parser.parse_args(argv)
    if not args.sslrootcert.is_file():
        print(f"ops.state_backend: --sslrootcert {args.sslrootcert}: no such file", file=sys.stderr)
        return 2
    server = Server(args.host, args.port, args.admin_user, args.sslrootcert.resolve(), args.admin_database)
    try:
        urls = prepare(server, args.passfile.resolve(), keep_passwords=args.keep_passwords)
    except (StateBackendError, psycopg.Error) as exc:
        print(f"ops.state_backend: {exc}", file=sys.stderr)
        return 1
    print(f"# deploys and make up (read-write):\nPULUMI_BACKEND_URL='{urls[WRITER]}'")
    print(f"# pull-request gate and drift detection (read-only):\nPULUMI_BACKEND_URL='{urls[READER]}'")
    print(f"PGPASSFILE='{args.passfile.resolve()}'")
    if args.migrate_from:
        import yaml

        from ops.automation import ROOT, AutomationError

        project_name = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]
        for stack in args.stack:
            try:
                count = migrate(args.migrate_from, urls[WRITER], stack, project_name, args.passfile.resolve())
            except AutomationError as exc:
                print(f"ops.state_backend: migrating {stack!r}: {exc}", file=sys.stderr)
                return 1
            print(f"# migrated stack {stack!r}: {count} resources")
    return 0


if __name__ == "__main__":
    sys.exit(main())
