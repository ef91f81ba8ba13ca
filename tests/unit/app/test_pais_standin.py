"""The PAIS stand-in: token endpoint, bearer checks, documented shapes, bounded token
store, clients-file rules, and the real command serving two listeners from one process."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.backend.pais import reply_text, tls_context
from app.pais_standin.__main__ import StandinError, load_clients
from app.pais_standin.service import TokenStore, create_app
from tests.unit.app.fakes import FakeClock
from tests.unit.app.servers import CLIENT_ID, CLIENT_SECRET, ROOT, free_port, write_clients_file
from tests.unit.app.tls import make_tls_files


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def standin(**kwargs: object) -> TestClient:
    return TestClient(create_app({CLIENT_ID: CLIENT_SECRET}, **kwargs))  # type: ignore[arg-type]


def get_token(http: TestClient) -> str:
    response = http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(CLIENT_ID, CLIENT_SECRET)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    assert response.headers["cache-control"] == "no-store"
    token: str = body["access_token"]
    return token


def test_token_with_basic_or_form_credentials() -> None:
    http = standin()
    first = get_token(http)
    form = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
    )
    assert form.status_code == 200
    assert form.json()["access_token"] != first


@pytest.mark.parametrize(
    ("headers", "data", "status", "error"),
    [
        (basic(CLIENT_ID, "wrong"), {"grant_type": "client_credentials"}, 401, "invalid_client"),
        (basic("someone-else", CLIENT_SECRET), {"grant_type": "client_credentials"}, 401, "invalid_client"),
        ({}, {"grant_type": "client_credentials"}, 401, "invalid_client"),
        (basic(CLIENT_ID, CLIENT_SECRET), {"grant_type": "password"}, 400, "unsupported_grant_type"),
    ],
)
def test_token_refusals(headers: dict[str, str], data: dict[str, str], status: int, error: str) -> None:
    response = standin().post("/oauth/token", data=data, headers=headers)
    assert (response.status_code, response.json()["error"]) == (status, error)


def test_chat_endpoints_require_a_valid_bearer_token() -> None:
    http = standin()
    body = {"messages": [{"role": "user", "content": "hi"}]}
    for path in ("/v1/agents/rag-agent/chat", "/v1/chat/completions"):
        assert http.post(path, json=body).status_code == 401
        refused = http.post(path, json=body, headers={"Authorization": "Bearer made-up"})
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")


def test_agent_chat_answers_in_the_agent_chat_completions_shape() -> None:
    http = standin()
    auth = {"Authorization": f"Bearer {get_token(http)}"}
    response = http.post(
        "/v1/agents/rag-agent/chat",
        json={
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "What is VCF?"},
            ]
        },
        headers=auth,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert set(body["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert body["session_id"]
    assert reply_text(body) == "Agent rag-agent received: What is VCF?"


def test_model_endpoint_answers_in_the_chat_completions_shape() -> None:
    http = standin()
    auth = {"Authorization": f"Bearer {get_token(http)}"}
    body = {"model": "llama-3-8b", "messages": [{"role": "user", "content": "hello"}]}
    response = http.post("/v1/chat/completions", json=body, headers=auth)
    assert response.status_code == 200
    assert response.json()["model"] == "llama-3-8b"
    assert reply_text(response.json()) == "Model llama-3-8b received: hello"
    assert "session_id" not in response.json()


def test_unknown_agent_is_404_when_agents_are_listed() -> None:
    http = standin(agents=frozenset({"rag-agent"}))
    auth = {"Authorization": f"Bearer {get_token(http)}"}
    body = {"messages": [{"role": "user", "content": "hi"}]}
    assert http.post("/v1/agents/other/chat", json=body, headers=auth).status_code == 404
    assert http.post("/v1/agents/rag-agent/chat", json=body, headers=auth).status_code == 200


def test_bad_chat_bodies() -> None:
    http = standin()
    auth = {"Authorization": f"Bearer {get_token(http)}"}
    assert http.post("/v1/chat/completions", content=b"not json", headers=auth).status_code == 400
    assert http.post("/v1/chat/completions", json={"messages": []}, headers=auth).status_code == 422
    too_big = {"messages": [{"role": "user", "content": "x" * 300_000}]}
    assert http.post("/v1/chat/completions", json=too_big, headers=auth).status_code == 413


def test_tokens_expire_and_the_store_stays_bounded() -> None:
    clock = FakeClock()
    store = TokenStore(ttl=300, max_tokens=3, clock=clock)
    first = store.issue("a")
    assert store.client_of(first) == "a"
    clock.now += 301
    assert store.client_of(first) is None
    for _ in range(10):
        store.issue("a")
    assert len(store) == 3
    clock.now += 301
    store.issue("a")
    assert len(store) == 1  # expired ones pruned on issue


def test_expired_token_is_refused_over_http() -> None:
    clock = FakeClock()
    http = TestClient(create_app({CLIENT_ID: CLIENT_SECRET}, tokens=TokenStore(ttl=60, clock=clock)))
    auth = {"Authorization": f"Bearer {get_token_ttl(http)}"}
    body = {"messages": [{"role": "user", "content": "hi"}]}
    assert http.post("/v1/chat/completions", json=body, headers=auth).status_code == 200
    clock.now += 61
    assert http.post("/v1/chat/completions", json=body, headers=auth).status_code == 401


def get_token_ttl(http: TestClient) -> str:
    response = http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(CLIENT_ID, CLIENT_SECRET)
    )
    token: str = response.json()["access_token"]
    return token


def test_clients_file_must_be_private_and_well_formed(tmp_path: Path) -> None:
    path = write_clients_file(tmp_path / "clients.json")
    assert load_clients(path) == {CLIENT_ID: CLIENT_SECRET}
    path.chmod(0o644)
    with pytest.raises(StandinError, match="readable by others"):
        load_clients(path)
    path.write_text('{"clients": [{"client_id": "x"}]}')
    path.chmod(0o600)
    with pytest.raises(StandinError, match="expected"):
        load_clients(path)
    with pytest.raises(StandinError, match="No such file"):
        load_clients(tmp_path / "missing.json")


def test_the_command_serves_both_listeners_from_one_process(tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path)
    clients = write_clients_file(tmp_path / "clients.json")
    ports = [free_port(), free_port()]
    args = [sys.executable, "-m", "app.pais_standin", "--cert", str(tls.cert), "--key", str(tls.key)]
    args += ["--clients-file", str(clients)]
    for port in ports:
        args += ["--listen", f"127.0.0.1:{port}"]
    log = tmp_path / "standin.log"
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        verify = tls_context(tls.ca_cert)
        deadline = time.monotonic() + 15
        for port in ports:
            url = f"https://127.0.0.1:{port}"
            while True:
                try:
                    assert httpx.get(f"{url}/healthz", verify=verify, timeout=2).json() == {"status": "ok"}
                    break
                except httpx.TransportError:
                    assert proc.poll() is None, log.read_text()
                    assert time.monotonic() < deadline, log.read_text()
                    time.sleep(0.1)
        # A token from one listener works on the other: one process, one token store.
        issued = httpx.post(
            f"https://127.0.0.1:{ports[0]}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(CLIENT_ID, CLIENT_SECRET),
            verify=verify,
        ).json()["access_token"]
        answer = httpx.post(
            f"https://127.0.0.1:{ports[1]}/v1/agents/rag-agent/chat",
            json={"messages": [{"role": "user", "content": "ping"}]},
            headers={"Authorization": f"Bearer {issued}"},
            verify=verify,
        )
        assert reply_text(answer.json()) == "Agent rag-agent received: ping"
        assert CLIENT_SECRET not in log.read_text()
        proc.terminate()
        assert proc.wait(10) in (0, -15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
