"""The frontend entrypoint renders the nginx config from the environment and execs nginx
(here a stub on PATH that records its arguments; the real nginx runs in the image)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.unit.app.servers import ROOT

FRONTEND = ROOT / "app" / "frontend"
BACKEND = "http://chat-backend.paif-chat.svc:8000"


def run_entrypoint(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    stub = bin_dir / "nginx"
    stub.write_text('#!/bin/sh\nfor arg in "$@"; do printf \'%s\\n\' "$arg"; done > "$STUB_ARGS"\n')
    stub.chmod(0o755)
    conf = tmp_path / "nginx.conf"
    args = tmp_path / "args"
    full_env = {
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "NGINX_CONF": str(conf),
        "STUB_ARGS": str(args),
        **env,
    }
    result = subprocess.run(
        ["/bin/sh", str(FRONTEND / "entrypoint.sh")],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return result, conf, args


def test_renders_the_config_and_execs_nginx_in_the_foreground(tmp_path: Path) -> None:
    result, conf, args = run_entrypoint(tmp_path, BACKEND_URL=BACKEND + "/")
    assert result.returncode == 0, result.stderr
    assert args.read_text().splitlines() == ["-e", "stderr", "-c", str(conf), "-g", "daemon off;"]
    text = conf.read_text()
    assert f"proxy_pass {BACKEND};" in text  # trailing slash dropped: the URI passes unchanged
    assert re.search(r"^\s*listen 8080;$", text, re.M)
    assert f"root {FRONTEND / 'static'};" in text
    assert "pid /tmp/nginx.pid;" in text
    assert "${" not in text  # every placeholder replaced
    assert "$proxy_add_x_forwarded_for" in text and "$uri" in text  # nginx's own variables intact
    assert "location = /healthz" in text and 'return 200 "ok\\n";' in text
    for header in ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"):
        assert f"add_header {header}" in text
    assert "gzip on;" in text
    # Every temp path is under /tmp (read-only root filesystem).
    for path in re.findall(r"_temp_path (\S+);", text):
        assert path.startswith("/tmp/")


def test_listen_port_and_static_root_can_be_changed(tmp_path: Path) -> None:
    static = tmp_path / "site"
    static.mkdir()
    (static / "index.html").write_text("<!doctype html>")
    result, conf, _ = run_entrypoint(
        tmp_path, BACKEND_URL=BACKEND, LISTEN_PORT="18080", STATIC_ROOT=str(static)
    )
    assert result.returncode == 0, result.stderr
    assert "listen 18080;" in conf.read_text()
    assert f"root {static};" in conf.read_text()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "BACKEND_URL is not set"),
        ({"BACKEND_URL": "http://backend:8000/api"}, "without a path"),
        ({"BACKEND_URL": "backend:8000"}, "without a path"),
        ({"BACKEND_URL": "http://backend:8000;evil"}, "without a path"),
        ({"BACKEND_URL": BACKEND, "LISTEN_PORT": "eighty"}, "LISTEN_PORT must be a port number"),
        ({"BACKEND_URL": BACKEND, "STATIC_ROOT": "/nonexistent"}, "has no index.html"),
    ],
)
def test_bad_settings_stop_before_nginx(tmp_path: Path, env: dict[str, str], message: str) -> None:
    result, conf, args = run_entrypoint(tmp_path, **env)
    assert result.returncode == 2
    assert message in result.stderr
    assert not args.exists() and not conf.exists()


def test_static_page_uses_only_same_origin_files() -> None:
    """The CSP allows 'self' only: no inline script or style, no third-party URL."""
    html = (FRONTEND / "static" / "index.html").read_text()
    assert re.search(r"<script[^>]*>\s*[^<\s]", html) is None  # no inline script body
    assert "style=" not in html and "<style" not in html
    assert "http://" not in html and "https://" not in html
    js = (FRONTEND / "static" / "app.js").read_text()
    assert "innerHTML" not in js.replace("never innerHTML", "")
    assert 'fetch("/api/chat"' in js
