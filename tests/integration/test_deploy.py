"""The deploy job's script (`python -m ops.deploy`) on the deployed local stack, and the
Supervisor login it does at apply time (`ops.supervisor_login`) against a stand-in of
`POST /wcp/login` on 127.0.0.1 with TLS (the real API is unconfirmed here, see the module)."""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from ops import deploy, supervisor_login
from tests.integration.local_stack import LocalStack, deployed
from tests.unit.app.tls import TlsFiles, make_tls_files

pytestmark = pytest.mark.integration

USER, PASSWORD, TOKEN = "svc-deploy@vsphere.local", "sso-password-for-test", "jwt-session-token-for-test"


class _Login(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path != "/wcp/login" or self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.end_headers()
            return
        answer = {"session_id": TOKEN}
        if body.get("guest_cluster_name"):
            answer |= {"guest_cluster_server": "10.0.0.20", "guest_cluster_ca": "GUEST-CA"}
        payload = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_args: object) -> None:
        return


@pytest.fixture(scope="module")
def supervisor() -> Iterator[tuple[str, TlsFiles]]:
    directory = Path(tempfile.mkdtemp(prefix="paif-wcp-"))
    tls = make_tls_files(directory, hostnames=("localhost",))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Login)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tls.cert), str(tls.key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", tls
    finally:
        server.shutdown()
        shutil.rmtree(directory, ignore_errors=True)


def test_login_gives_a_token_kubeconfig_and_refuses_bad_credentials(supervisor: tuple[str, TlsFiles]) -> None:
    url, tls = supervisor
    session = supervisor_login.login(url, USER, PASSWORD, tls.ca_cert)
    assert session.token == TOKEN and session.server == "https://127.0.0.1:6443"
    config = yaml.safe_load(supervisor_login.kubeconfig(session, "paif-prod"))
    assert config["users"][0]["user"]["token"] == TOKEN
    assert config["contexts"][0]["context"]["namespace"] == "paif-prod"
    assert base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]).decode() == tls.ca_cert.read_text()
    guest = supervisor_login.login(url, USER, PASSWORD, tls.ca_cert, guest_cluster="chat-vks", namespace="paif-prod")
    assert guest.server == "https://10.0.0.20:6443" and guest.ca_pem == "GUEST-CA"
    with pytest.raises(supervisor_login.LoginError, match=r"refused the login of 'svc-deploy@vsphere.local' \(401\)"):
        supervisor_login.login(url, USER, "wrong", tls.ca_cert)
    with pytest.raises(supervisor_login.LoginError, match=r"cannot reach .*CERTIFICATE_VERIFY_FAILED"):
        supervisor_login.login(url, USER, PASSWORD, Path(ssl.get_default_verify_paths().cafile or tls.cert))


def test_login_cli_needs_the_sso_user_and_prints_no_token(
    supervisor: tuple[str, TlsFiles], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url, tls = supervisor
    args = ["--server", url, "--ca-file", str(tls.ca_cert)]
    monkeypatch.delenv("VCENTER_USERNAME", raising=False)
    monkeypatch.delenv("VCENTER_PASSWORD", raising=False)
    assert supervisor_login.main(args) == 1
    assert "VCENTER_USERNAME and VCENTER_PASSWORD not set" in capsys.readouterr().err
    monkeypatch.setenv("VCENTER_USERNAME", USER)
    monkeypatch.setenv("VCENTER_PASSWORD", PASSWORD)
    assert supervisor_login.main(args) == 0
    out = capsys.readouterr().out
    assert "logged in to https://127.0.0.1:6443" in out and TOKEN not in out


@pytest.fixture(scope="module")
def local() -> Iterator[LocalStack]:
    yield deployed()


def test_deploy_script_updates_the_stack_with_the_policy_pack(
    local: LocalStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in local.env.items():
        monkeypatch.setenv(key, value)
    for variable in deploy.SECRETS_FROM_ENV:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    code = deploy.main(["local", "--config-file", str(local.config_file), "--summary", str(tmp_path / "deploy.json")])
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    summary = json.loads((tmp_path / "deploy.json").read_text())
    assert summary["command"] == "up" and summary["ok"] and summary["changes"] == {}
    assert summary["same"] > 40
    assert "deploy local: succeeded (no changes)" in out
    assert "## Deploy local" in (tmp_path / "summary.md").read_text()
