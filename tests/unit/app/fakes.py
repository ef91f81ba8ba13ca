"""A scripted PAIS behind httpx.MockTransport: counts calls, checks credentials."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import httpx

from app.backend.settings import Settings, load_settings

BASE = "https://pais.test"
TOKEN_URL = f"{BASE}/oauth/token"
CLIENT_ID = "chat-backend"
CLIENT_SECRET = "top-secret"


def settings(**overrides: str) -> Settings:
    env = {
        "PAIS_BASE_URL": BASE,
        "PAIS_AGENT_NAME": "rag-agent",
        "PAIS_AGENT_CHAT_PATH": "/v1/agents/rag-agent/chat",
        "PAIS_MODEL_ENDPOINT": "/v1/chat/completions",
        "PAIS_TOKEN_URL": TOKEN_URL,
        "PAIS_TIMEOUT_SECONDS": "5",
        "PAIS_CLIENT_ID": CLIENT_ID,
        "PAIS_CLIENT_SECRET": CLIENT_SECRET,
        "DB_HOST": "127.0.0.1",
        "DB_PORT": "1",
        "DB_NAME": "chat",
        "DB_USER": "chat_app",
        "DB_PASSWORD": "pw",
        "DB_SSLMODE": "disable",
    }
    env.update(overrides)
    return load_settings(env)


def completion(content: str) -> dict[str, object]:
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


@dataclass
class FakePais:
    """Each endpoint answers from a script: a list of statuses consumed one per call (the
    last one repeats). 200 answers carry the documented body."""

    agent: list[int] = field(default_factory=lambda: [200])
    model: list[int] = field(default_factory=lambda: [200])
    token: list[int] = field(default_factory=lambda: [200])
    expires_in: int = 300
    calls: list[tuple[str, str]] = field(default_factory=list)
    bodies: list[dict[str, object]] = field(default_factory=list)
    issued: int = 0
    revoked: set[str] = field(default_factory=set)
    connect_failures: int = 0

    def _next(self, script: list[int]) -> int:
        return script.pop(0) if len(script) > 1 else script[0]

    def count(self, path: str) -> int:
        return sum(1 for _, p in self.calls if p == path)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.calls.append((request.method, path))
        if self.connect_failures > 0:
            self.connect_failures -= 1
            raise httpx.ConnectError("connection refused", request=request)
        if path == "/oauth/token":
            return self._token(request)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not token.startswith("tok-") or token in self.revoked:
            return httpx.Response(401, json={"error": "invalid_token"})
        self.bodies.append(json.loads(request.content))
        if path == "/v1/agents/rag-agent/chat":
            status = self._next(self.agent)
            return httpx.Response(status, json=completion("from agent") if status == 200 else {"error": "x"})
        if path == "/v1/chat/completions":
            status = self._next(self.model)
            return httpx.Response(status, json=completion("from model") if status == 200 else {"error": "x"})
        return httpx.Response(404)

    def _token(self, request: httpx.Request) -> httpx.Response:
        status = self._next(self.token)
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return httpx.Response(401, json={"error": "invalid_client"})
        if parse_qs(request.content.decode()).get("grant_type") != ["client_credentials"]:
            return httpx.Response(400, json={"error": "unsupported_grant_type"})
        if status != 200:
            return httpx.Response(status, json={"error": "x"})
        self.issued += 1
        return httpx.Response(
            200,
            json={
                "access_token": f"tok-{self.issued}",
                "token_type": "Bearer",
                "expires_in": self.expires_in,
            },
        )

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
