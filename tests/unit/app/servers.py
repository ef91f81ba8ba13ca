"""Real servers for the app tests, all on 127.0.0.1: an ASGI app in a uvicorn thread, and
the backend or the stand-in as a child process. Every wait is bounded."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from starlette.types import ASGIApp

from tests.unit.app.tls import TlsFiles

ROOT = Path(__file__).resolve().parents[3]
CLIENT_ID = "chat-backend-test"
CLIENT_SECRET = "s3cret-for-tests-only"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_in_thread(app: ASGIApp, tls: TlsFiles | None = None, timeout: float = 10.0) -> Iterator[str]:
    """Serve `app` on 127.0.0.1:<free port> in a thread; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        lifespan="off",
        ssl_certfile=str(tls.cert) if tls else None,
        ssl_keyfile=str(tls.key) if tls else None,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()


def write_clients_file(path: Path, clients: Mapping[str, str] | None = None) -> Path:
    import json

    entries = [
        {"client_id": k, "client_secret": v} for k, v in (clients or {CLIENT_ID: CLIENT_SECRET}).items()
    ]
    path.write_text(json.dumps({"clients": entries}))
    path.chmod(0o600)
    return path


def backend_env(pais_url: str, db_port: int, **overrides: str) -> dict[str, str]:
    """The backend's environment as the ConfigMap + Secret give it, pointed at local servers."""
    env = {
        "APP_ENV": "test",
        "LOG_LEVEL": "info",
        "BACKEND_HOST": "127.0.0.1",
        "BACKEND_PORT": str(free_port()),
        "PAIS_BASE_URL": pais_url,
        "PAIS_AGENT_NAME": "rag-agent",
        "PAIS_AGENT_CHAT_PATH": "/v1/agents/rag-agent/chat",
        "PAIS_MODEL_ENDPOINT": "/v1/chat/completions",
        "PAIS_TOKEN_URL": f"{pais_url}/oauth/token",
        "PAIS_TIMEOUT_SECONDS": "10",
        "PAIS_CLIENT_ID": CLIENT_ID,
        "PAIS_CLIENT_SECRET": CLIENT_SECRET,
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(db_port),
        "DB_NAME": "chat",
        "DB_USER": "chat_app",
        "DB_PASSWORD": "not-used",
        "DB_SSLMODE": "disable",
    }
    env.update(overrides)
    return env


@contextmanager
def backend_process(
    env: Mapping[str, str], log_file: Path, timeout: float = 20.0
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`python -m app.backend` with `env` (plus PATH); yields the process and its base URL
    once /healthz answers."""
    url = f"http://{env['BACKEND_HOST']}:{env['BACKEND_PORT']}"
    child_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), **env}
    with log_file.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.backend"],
            cwd=ROOT,
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"backend exited {proc.returncode}:\n{log_file.read_text()}")
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"backend did not answer /healthz in {timeout} s:\n{log_file.read_text()}"
                    )
                time.sleep(0.1)
            yield proc, url
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
