"""A throwaway PostgreSQL server on 127.0.0.1 for tests and the local environment.

    with running_postgres() as pg:
        psycopg.connect(pg.dsn())

`initdb` on a fresh data directory, `pg_ctl start` on a free loopback port with Unix
sockets disabled, SCRAM authentication for every connection, and `pg_ctl stop` plus
removal of the directory afterwards. PostgreSQL refuses to run as root, so under root the
server runs as the `postgres` account (or `nobody`) and owns its directory.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from psycopg.conninfo import make_conninfo

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP_USER = "postgres"
# Settings that make a disposable server fast; never for data anyone keeps.
NON_DURABLE = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are missing or the server did not start."""


def find_bin_dir() -> Path:
    """Where initdb/pg_ctl/postgres live: the project's .tools/bin, else Debian's newest."""
    candidates = [ROOT / ".tools" / "bin"]
    candidates += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True
    )
    for candidate in candidates:
        if all((candidate / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return candidate
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in .tools/bin or "
        "/usr/lib/postgresql/*/bin: run make setup"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _server_account() -> pwd.struct_passwd | None:
    """The unprivileged account to run as when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresUnavailable("running as root and neither a 'postgres' nor a 'nobody' account exists")


@dataclass
class PostgresServer:
    """A running server; `superuser`/`password` is the bootstrap superuser."""

    host: str
    port: int
    superuser: str
    password: str
    base_dir: Path
    bin_dir: Path
    account: pwd.struct_passwd | None = field(repr=False)

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "server.log"

    def dsn(self, user: str | None = None, password: str | None = None, dbname: str = "postgres") -> str:
        """A libpq connection string (the superuser unless `user` is given) for `psycopg.connect`."""
        return make_conninfo(
            host=self.host,
            port=self.port,
            user=user or self.superuser,
            password=self.password if password is None else password,
            dbname=dbname,
            sslmode="disable",
            connect_timeout=5,
        )

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def run_tool(self, *args: str) -> subprocess.CompletedProcess[str]:
        account = self.account
        result = subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=self.base_dir,
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            extra_groups=[] if account else None,
        )
        if result.returncode != 0:
            raise PostgresUnavailable(
                f"{args[0]} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}\n"
                f"server log:\n{self.log_text()[-2000:]}"
            )
        return result

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self.run_tool("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")


def start_postgres(
    base_dir: Path,
    *,
    port: int | None = None,
    password: str | None = None,
    settings: dict[str, str] | None = None,
) -> PostgresServer:
    """initdb into `base_dir/data` (which must not exist) and start the server.

    `settings` are extra server settings (`-c name=value`), e.g. {"log_statement": "all"}.
    Under root, `base_dir` is handed to the server account, so its parents must be
    traversable by that account (a fresh directory under /tmp is).
    """
    bin_dir = find_bin_dir()
    account = _server_account()
    base_dir.mkdir(parents=True, exist_ok=True)
    if account is not None:
        os.chown(base_dir, account.pw_uid, account.pw_gid)
    server = PostgresServer(
        host="127.0.0.1",
        port=port or free_port(),
        superuser=BOOTSTRAP_USER,
        password=password or secrets.token_urlsafe(24),
        base_dir=base_dir,
        bin_dir=bin_dir,
        account=account,
    )
    password_file = base_dir / "bootstrap-password"
    password_file.write_text(server.password + "\n")
    password_file.chmod(0o600)
    if account is not None:
        os.chown(password_file, account.pw_uid, account.pw_gid)
    try:
        server.run_tool(
            "initdb",
            "-D",
            str(server.data_dir),
            "-U",
            BOOTSTRAP_USER,
            f"--pwfile={password_file}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
    finally:
        password_file.unlink()
    options = {
        "listen_addresses": server.host,
        "port": str(server.port),
        "unix_socket_directories": "",
        "password_encryption": "scram-sha-256",
        **NON_DURABLE,
        **(settings or {}),
    }
    server.run_tool(
        "pg_ctl",
        "-D",
        str(server.data_dir),
        "-l",
        str(server.log_file),
        "-o",
        " ".join(f"-c {name}={_quote_option(value)}" for name, value in options.items()),
        "-w",
        "-t",
        "60",
        "start",
    )
    return server


def _quote_option(value: str) -> str:
    """A server option value as pg_ctl passes it through a shell-like split."""
    return "''" if value == "" else "'" + value.replace("'", "'\\''") + "'"


@contextmanager
def running_postgres(
    *,
    port: int | None = None,
    password: str | None = None,
    settings: dict[str, str] | None = None,
) -> Iterator[PostgresServer]:
    """A server in a fresh temporary directory, stopped and removed on exit."""
    base_dir = Path(tempfile.mkdtemp(prefix="paif-pg-"))
    server: PostgresServer | None = None
    try:
        server = start_postgres(base_dir, port=port, password=password, settings=settings)
        yield server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(base_dir, ignore_errors=True)
