"""The chat backend against a real PostgreSQL (TLS, verify-full) and the real PAIS stand-in,
each its own process on 127.0.0.1, as the local environment runs them.

The database is set up as the infrastructure sets it up for the app: an owner role owns the
database and the `chat` schema, the `chat_app` login role may create tables there and has
`search_path = chat, public`. The backend must create its table as chat_app, answer chats
through the agent endpoint (and through the model endpoint when the agent is unknown),
store one row per exchange, and keep serving chats while it drains after SIGTERM.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql

from tests.integration.postgres_server import PostgresServer, running_postgres
from tests.unit.app.servers import (
    CLIENT_SECRET,
    ROOT,
    backend_env,
    backend_process,
    free_port,
    write_clients_file,
)
from tests.unit.app.tls import TlsFiles, make_tls_files

pytestmark = pytest.mark.integration

APP_PASSWORD = secrets.token_urlsafe(18)


@dataclass(frozen=True)
class Database:
    server: PostgresServer
    ca_cert: Path


@pytest.fixture(scope="module")
def database() -> Iterator[Database]:
    """PostgreSQL with TLS on, its certificate from a test CA (hosts localhost, 127.0.0.1)."""
    tls_dir = Path(tempfile.mkdtemp(prefix="paif-app-pgtls-"))
    try:
        tls = make_tls_files(tls_dir, hostnames=("localhost", "db.local.paif.test"))
        tls_dir.chmod(0o755)
        if os.geteuid() == 0:  # the server runs as the postgres account: it must own its key
            account = pwd.getpwnam("postgres")
            os.chown(tls.key, account.pw_uid, account.pw_gid)
        ssl = {"ssl": "on", "ssl_cert_file": str(tls.cert), "ssl_key_file": str(tls.key)}
        with running_postgres(settings=ssl) as pg:
            with psycopg.connect(pg.dsn(), autocommit=True) as conn:
                conn.execute("CREATE ROLE chat_owner NOLOGIN")
                conn.execute(
                    sql.SQL("CREATE ROLE chat_app LOGIN PASSWORD {}").format(sql.Literal(APP_PASSWORD))
                )
                conn.execute("ALTER ROLE chat_app SET search_path TO chat, public")
                conn.execute("CREATE DATABASE chat OWNER chat_owner")
            with psycopg.connect(pg.dsn(dbname="chat"), autocommit=True) as conn:
                conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
                conn.execute("CREATE SCHEMA chat AUTHORIZATION chat_owner")
                conn.execute("GRANT USAGE, CREATE ON SCHEMA chat TO chat_app")
            yield Database(pg, tls.ca_cert)
    finally:
        shutil.rmtree(tls_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, TlsFiles]]:
    """`python -m app.pais_standin` serving only the agent `rag-agent`."""
    workdir = tmp_path_factory.mktemp("standin")
    tls = make_tls_files(workdir)
    clients = write_clients_file(workdir / "clients.json")
    port = free_port()
    log = workdir / "standin.log"
    args = [sys.executable, "-m", "app.pais_standin", "--listen", f"127.0.0.1:{port}"]
    args += [
        "--cert",
        str(tls.cert),
        "--key",
        str(tls.key),
        "--clients-file",
        str(clients),
        "--agent",
        "rag-agent",
    ]
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/healthz", verify=str(tls.ca_cert), timeout=2).raise_for_status()
                break
            except httpx.TransportError:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield url, tls
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        assert CLIENT_SECRET not in log.read_text()


def env_for(database: Database, standin: tuple[str, TlsFiles], **overrides: str) -> dict[str, str]:
    url, tls = standin
    env = backend_env(
        url,
        database.server.port,
        PAIS_CA_BUNDLE=str(tls.ca_cert),
        DB_PASSWORD=APP_PASSWORD,
        DB_SSLMODE="verify-full",
        DB_SSLROOTCERT=str(database.ca_cert),
        SHUTDOWN_DRAIN_SECONDS="4",
    )
    env.update(overrides)
    return env


def rows(database: Database, row_id: int) -> list[tuple[object, ...]]:
    with psycopg.connect(database.server.dsn(dbname="chat"), autocommit=True) as conn:
        return conn.execute(
            "SELECT session_id, prompt, reply, source FROM chat.chat_exchanges WHERE id = %s", (row_id,)
        ).fetchall()


def test_chat_round_trip_writes_a_row_as_the_app_role(
    database: Database, standin: tuple[str, TlsFiles], tmp_path: Path
) -> None:
    with backend_process(env_for(database, standin), tmp_path / "backend.log") as (_, url):
        ready = httpx.get(f"{url}/readyz", timeout=5)
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        response = httpx.post(
            f"{url}/api/chat", json={"message": "What is PAIF?", "session_id": "s-42"}, timeout=30
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["reply"] == "Agent rag-agent received: What is PAIF?"
        assert body["source"] == "agent"
        metrics = httpx.get(f"{url}/metrics", timeout=5).text
        with psycopg.connect(database.server.dsn(dbname="chat"), autocommit=True) as conn:
            owner = conn.execute(
                "SELECT tableowner FROM pg_tables WHERE tablename = 'chat_exchanges'"
            ).fetchall()
            # The pool keeps at least one connection open: it must be TLS.
            ssl_flags = conn.execute(
                "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = 'chat_app'"
            ).fetchall()
    assert rows(database, body["id"]) == [("s-42", "What is PAIF?", body["reply"], "agent")]
    assert owner == [("chat_app",)]
    assert ssl_flags and all(flag for (flag,) in ssl_flags)
    assert 'http_requests_total{method="POST",route="/api/chat",status="200"} 1.0' in metrics
    log = (tmp_path / "backend.log").read_text()
    assert APP_PASSWORD not in log and CLIENT_SECRET not in log and "What is PAIF?" not in log


def test_unknown_agent_falls_back_to_the_model_endpoint(
    database: Database, standin: tuple[str, TlsFiles], tmp_path: Path
) -> None:
    env = env_for(
        database, standin, PAIS_AGENT_NAME="missing", PAIS_AGENT_CHAT_PATH="/v1/agents/missing/chat"
    )
    with backend_process(env, tmp_path / "backend.log") as (_, url):
        response = httpx.post(f"{url}/api/chat", json={"message": "hello"}, timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["source"], body["reply"]) == ("model", "Model pais-standin received: hello")
    assert rows(database, body["id"]) == [(None, "hello", body["reply"], "model")]


def test_wrong_db_ca_is_refused(database: Database, standin: tuple[str, TlsFiles], tmp_path: Path) -> None:
    """verify-full really verifies: a CA that did not sign the server's certificate fails."""
    other_ca = make_tls_files(tmp_path).ca_cert
    with backend_process(env_for(database, standin, DB_SSLROOTCERT=str(other_ca)), tmp_path / "b.log") as (
        _,
        url,
    ):
        assert httpx.get(f"{url}/readyz", timeout=5).status_code == 503
        assert httpx.post(f"{url}/api/chat", json={"message": "x"}, timeout=30).status_code == 503
    assert "certificate verify failed" in (tmp_path / "b.log").read_text()


def test_chats_keep_working_while_draining(
    database: Database, standin: tuple[str, TlsFiles], tmp_path: Path
) -> None:
    with backend_process(env_for(database, standin), tmp_path / "backend.log") as (proc, url):
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        ids: list[int] = []
        with httpx.Client(base_url=url, timeout=30) as http:
            # Bounded: at most 10 chats, all sent well inside the 4 s drain window.
            while len(ids) < 10 and time.monotonic() - signalled < 2.5:
                response = http.post("/api/chat", json={"message": f"drain {len(ids)}"})
                assert response.status_code == 200, response.text
                assert response.headers["connection"] == "close"
                ids.append(response.json()["id"])
            assert http.get("/readyz").status_code == 503
        assert len(ids) >= 2
        assert proc.wait(20) in (0, -signal.SIGTERM)
    for i, row_id in enumerate(ids):
        assert rows(database, row_id)[0][1] == f"drain {i}"
