"""The PAIS stand-in's HTTP API (an ASGI app).

    POST /oauth/token                client credentials (HTTP Basic or form fields) -> bearer token
    POST /v1/agents/{name}/chat      agent chat (bearer token required)
    POST /v1/chat/completions        model endpoint (bearer token required)
    GET  /healthz

Both chat endpoints answer in the chat-completions shape PAIS documents for its Agent API
(`AgentChatCompletionsResponsePayload`: `choices[].message`, plus `session_id`) and for its
OpenAI-compatible Model Endpoint. Replies are deterministic: they name the agent (or model)
and repeat the prompt, so a test can check the whole path end to end.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, unquote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

log = logging.getLogger(__name__)

DEFAULT_TOKEN_TTL = 300
MAX_TOKENS = 10_000
MAX_BODY_BYTES = 256 * 1024
STANDIN_MODEL = "pais-standin"


class TokenStore:
    """Opaque bearer tokens in memory; expired ones are pruned on every issue and the store
    never holds more than `max_tokens` (the oldest go first)."""

    def __init__(
        self,
        ttl: int = DEFAULT_TOKEN_TTL,
        max_tokens: int = MAX_TOKENS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_tokens = max_tokens
        self._clock = clock
        self._tokens: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tokens)

    def issue(self, client_id: str) -> str:
        self.prune()
        while len(self._tokens) >= self.max_tokens:
            self._tokens.popitem(last=False)
        token = secrets.token_urlsafe(32)
        self._tokens[token] = (client_id, self._clock() + self.ttl)
        return token

    def client_of(self, token: str) -> str | None:
        entry = self._tokens.get(token)
        if entry is None:
            return None
        client_id, expires_at = entry
        if self._clock() >= expires_at:
            del self._tokens[token]
            return None
        return client_id

    def revoke_all(self) -> None:
        self._tokens.clear()

    def prune(self) -> None:
        now = self._clock()
        # Tokens are issued in order with one TTL, so expired ones are at the front.
        while self._tokens:
            token, (_, expires_at) = next(iter(self._tokens.items()))
            if expires_at > now:
                break
            del self._tokens[token]


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, client_secret = decoded.partition(":")
    if not sep:
        return None
    # RFC 6749 2.3.1: both parts are form-urlencoded before Basic encoding.
    return unquote(client_id), unquote(client_secret)


def _bearer(header: str | None) -> str | None:
    if header and header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


def _oauth_error(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
    )


def _prompt(body: Any) -> str | None:
    """The last user message of an OpenAI-style body, or the Agent API's `message` field."""
    if not isinstance(body, dict):
        return None
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in reversed(messages):
            if (
                isinstance(message, dict)
                and message.get("role") == "user"
                and isinstance(message.get("content"), str)
            ):
                return str(message["content"])
        return None
    message = body.get("message")
    return message if isinstance(message, str) else None


def chat_completion(content: str, model: str, prompt: str, session_id: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
        ],
        "usage": {
            "prompt_tokens": len(prompt.split()),
            "completion_tokens": len(content.split()),
            "total_tokens": len(prompt.split()) + len(content.split()),
        },
    }
    if session_id is not None:
        payload["session_id"] = session_id
    return payload


def create_app(
    clients: Mapping[str, str],
    *,
    agents: frozenset[str] | None = None,
    tokens: TokenStore | None = None,
) -> FastAPI:
    """`clients` maps client id -> secret; `agents` limits the agent names served (None: any)."""
    store = tokens if tokens is not None else TokenStore()
    app = FastAPI(title="PAIS stand-in", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.tokens = store

    def authenticate(client_id: str, client_secret: str) -> bool:
        expected = clients.get(client_id)
        # Compare against something even for unknown ids, so timing does not reveal which exist.
        return (
            hmac.compare_digest((expected or "\0").encode(), client_secret.encode()) and expected is not None
        )

    async def read_json(request: Request) -> tuple[Any, JSONResponse | None]:
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return None, JSONResponse({"error": "request body too large"}, status_code=413)
        try:
            return await request.json(), None
        except ValueError:
            return None, JSONResponse({"error": "request body must be JSON"}, status_code=400)

    def authorized(request: Request) -> str | None:
        token = _bearer(request.headers.get("authorization"))
        return store.client_of(token) if token else None

    def unauthorized() -> JSONResponse:
        return JSONResponse(
            {"error": "invalid_token", "error_description": "a valid bearer token is required"},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )

    @app.post("/oauth/token")
    async def token(request: Request) -> JSONResponse:
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return _oauth_error(413, "invalid_request", "request body too large")
        form = {key: values[0] for key, values in parse_qs(raw.decode(errors="replace")).items()}
        credentials = _basic_credentials(request.headers.get("authorization"))
        if credentials is None and "client_id" in form:
            credentials = (form["client_id"], form.get("client_secret", ""))
        if credentials is None or not authenticate(*credentials):
            log.info("token request refused: bad client credentials")
            return _oauth_error(
                401,
                "invalid_client",
                "client authentication failed",
                {"WWW-Authenticate": 'Basic realm="pais"'},
            )
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(
                400, "unsupported_grant_type", "only grant_type=client_credentials is supported"
            )
        issued = store.issue(credentials[0])
        log.info("issued a token to client %s", credentials[0])
        return JSONResponse(
            {"access_token": issued, "token_type": "Bearer", "expires_in": store.ttl},
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    @app.post("/v1/agents/{name}/chat")
    async def agent_chat(name: str, request: Request) -> JSONResponse:
        if authorized(request) is None:
            return unauthorized()
        if agents is not None and name not in agents:
            return JSONResponse({"error": f"agent {name!r} not found"}, status_code=404)
        body, error = await read_json(request)
        if error is not None:
            return error
        prompt = _prompt(body)
        if prompt is None:
            return JSONResponse({"error": "messages must hold a user message"}, status_code=422)
        session = body.get("session_id") if isinstance(body.get("session_id"), str) else str(uuid.uuid4())
        reply = f"Agent {name} received: {prompt}"
        return JSONResponse(chat_completion(reply, f"agent/{name}", prompt, session_id=session))

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> JSONResponse:
        if authorized(request) is None:
            return unauthorized()
        body, error = await read_json(request)
        if error is not None:
            return error
        prompt = _prompt(body)
        if prompt is None:
            return JSONResponse({"error": "messages must hold a user message"}, status_code=422)
        model = (
            body.get("model") if isinstance(body.get("model"), str) and body.get("model") else STANDIN_MODEL
        )
        return JSONResponse(chat_completion(f"Model {model} received: {prompt}", model, prompt))

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
