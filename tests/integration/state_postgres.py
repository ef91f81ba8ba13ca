"""A local PostgreSQL with TLS prepared as the team state backend (`ops.state_backend`), and
copies of a small program that use it (shared by the shared-state integration tests)."""

from __future__ import annotations

import base64
import gzip
import json
import os
import pwd
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from ops import state_backend
from ops.automation import Project, Settings
from tests.integration.postgres_server import PostgresServer, running_postgres
from tests.unit.app.tls import make_tls_files

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = Path(__file__).parent / "programs" / "teamstate"


@dataclass(frozen=True)
class StateServer:
    pg: PostgresServer
    ca_cert: Path
    passfile: Path
    urls: dict[str, str]
    """role -> PULUMI_BACKEND_URL (no password)."""
    workdir: Path

    @property
    def server(self) -> state_backend.Server:
        return state_backend.Server(self.pg.host, self.pg.port, self.pg.superuser, self.ca_cert)

    def settings(self, role: str = state_backend.WRITER, **overrides: object) -> Settings:
        return Settings(
            backend_url=self.urls[role],
            passphrase_file=self.workdir / "passphrase",
            temp_parent=self.workdir / "tmp",
            extra_env={"PGPASSFILE": str(self.passfile)},
            **overrides,  # type: ignore[arg-type]
        )

    def rows(self) -> list[tuple[str, str]]:
        """(key, data as stored) of every row of the state table, read as the admin."""
        with psycopg.connect(self.pg.dsn(dbname=state_backend.DATABASE, password=self.pg.password)) as conn:
            return [
                (key, data)
                for key, data in conn.execute(
                    sql.SQL("SELECT key, data::text FROM {} ORDER BY key").format(
                        sql.Identifier(state_backend.SCHEMA, state_backend.TABLE)
                    )
                ).fetchall()
            ]


def decoded(data: str) -> bytes:
    """The blob a row stores (base64 in a JSON object; gunzipped when compressed)."""
    blob = base64.b64decode(json.loads(data)["data"])
    return gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob


@contextmanager
def state_server() -> Iterator[StateServer]:
    """PostgreSQL on 127.0.0.1 with TLS (a test CA), prepared by `ops.state_backend.prepare`
    through verify-full, the admin's password given in PGPASSWORD only."""
    workdir = Path(tempfile.mkdtemp(prefix="paif-state-"))
    try:
        tls_dir = workdir / "tls"
        tls_dir.mkdir()
        tls = make_tls_files(tls_dir, hostnames=("localhost",))
        workdir.chmod(0o755)
        tls_dir.chmod(0o755)
        if os.geteuid() == 0:  # the server runs as the postgres account: it must own its key
            account = pwd.getpwnam("postgres")
            os.chown(tls.key, account.pw_uid, account.pw_gid)
        ssl = {"ssl": "on", "ssl_cert_file": str(tls.cert), "ssl_key_file": str(tls.key)}
        with running_postgres(settings=ssl) as pg:
            (workdir / "passphrase").write_text(secrets.token_urlsafe(24))
            (workdir / "passphrase").chmod(0o600)
            passfile = workdir / "pulumi-state.pgpass"
            server = state_backend.Server(pg.host, pg.port, pg.superuser, tls.ca_cert)
            previous = os.environ.get("PGPASSWORD")
            os.environ["PGPASSWORD"] = pg.password
            try:
                urls = state_backend.prepare(server, passfile)
            finally:
                if previous is None:
                    os.environ.pop("PGPASSWORD", None)
                else:
                    os.environ["PGPASSWORD"] = previous
            yield StateServer(pg, tls.ca_cert, passfile, urls, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def program_copy(workdir: Path, name: str) -> Path:
    """A clone of the small test program in `workdir/name` (its own stack files)."""
    target = workdir / name
    shutil.copytree(PROGRAM, target)
    project = target / "Pulumi.yaml"
    project.write_text(
        "\n".join(
            f"    virtualenv: {ROOT / '.venv'}" if line.strip().startswith("virtualenv:") else line
            for line in project.read_text().splitlines()
        )
        + "\n"
    )
    return target


def project(server: StateServer, directory: Path, role: str = state_backend.WRITER, **kwargs: object) -> Project:
    return Project(directory, server.settings(role), **kwargs)  # type: ignore[arg-type]
