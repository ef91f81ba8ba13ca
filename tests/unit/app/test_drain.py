"""SIGTERM drains the real backend process: /readyz turns 503 at once, requests are still
served (with Connection: close) for SHUTDOWN_DRAIN_SECONDS, then the process exits."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx

from tests.unit.app.servers import backend_env, backend_process, free_port

DRAIN_SECONDS = 2.0


def test_sigterm_drains_then_exits(tmp_path: Path) -> None:
    env = backend_env("https://127.0.0.1:9", free_port(), SHUTDOWN_DRAIN_SECONDS=str(DRAIN_SECONDS))
    with backend_process(env, tmp_path / "backend.log") as (proc, url):
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        time.sleep(0.3)
        ready = httpx.get(f"{url}/readyz", timeout=2)
        assert (ready.status_code, ready.json()) == (503, {"status": "draining"})
        alive = httpx.get(f"{url}/healthz", timeout=2)
        assert alive.status_code == 200
        assert alive.headers["connection"] == "close"
        assert proc.poll() is None
        code = proc.wait(DRAIN_SECONDS + 10)
        lasted = time.monotonic() - signalled
    assert code in (0, -signal.SIGTERM)
    assert DRAIN_SECONDS - 0.3 <= lasted <= DRAIN_SECONDS + 5
    log = (tmp_path / "backend.log").read_text()
    assert "draining" in log
    assert "not-used" not in log  # DB_PASSWORD never logged


def test_missing_settings_stop_the_process_naming_each_variable(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.unit.app.servers import ROOT

    env = backend_env("https://127.0.0.1:9", 5432)
    for name in ("PAIS_CLIENT_SECRET", "DB_PASSWORD"):
        del env[name]
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "app.backend"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "missing environment variable(s): DB_PASSWORD, PAIS_CLIENT_SECRET" in result.stderr
