"""The PAIS client: OIDC client-credentials token, Agent API chat, Model Endpoint fallback.

- Token: `POST PAIS_TOKEN_URL` with `grant_type=client_credentials` and the client id and
  secret as HTTP Basic credentials; cached until shortly before `expires_in`, fetched again
  once when a call answers 401 (the token was revoked or the clock disagrees).
- Chat: `POST {base}{agent chat path}` with an OpenAI-style `messages` body. An agent
  endpoint that answers 404 or 501 (no such agent, Agent API not offered) falls back to the
  Model Endpoint `POST {base}{model endpoint}` (chat completions). Both answer in the
  chat-completions shape: the reply is `choices[0].message.content`.
- Connection errors and 5xx (but 501) are retried a bounded number of times with backoff.
- TLS is always verified: against PAIS_CA_BUNDLE when given, else the system CAs.

Neither tokens, secrets nor message bodies are ever logged.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import SecretStr
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from app.backend.settings import Settings

log = logging.getLogger(__name__)

Source = Literal["agent", "model"]
FALLBACK_STATUSES = frozenset({404, 501})
MAX_ATTEMPTS = 3
DEFAULT_TOKEN_LIFETIME = 300.0
"""Lifetime assumed when the token endpoint does not say (`expires_in` is optional in RFC 6749)."""


class PaisError(RuntimeError):
    """PAIS could not produce a reply; the message is safe to log and to return."""


class _Retryable(Exception):
    """A 5xx answer worth another attempt."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(
            f"{response.request.method} {response.request.url.path} answered {response.status_code}"
        )
        self.response = response


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, _Retryable | httpx.ConnectError | httpx.ConnectTimeout)


def tls_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """Verification against `ca_bundle` only when given, else against the system CAs
    (not certifi's bundle: the platform's trust store is what operators manage)."""
    if ca_bundle is not None:
        return ssl.create_default_context(cafile=str(ca_bundle))
    return ssl.create_default_context()


def build_http_client(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    timeout = httpx.Timeout(settings.pais_timeout_seconds, connect=min(10.0, settings.pais_timeout_seconds))
    return httpx.AsyncClient(
        verify=tls_context(settings.pais_ca_bundle),
        timeout=timeout,
        transport=transport,
        follow_redirects=False,
        headers={"User-Agent": "paif-chat-backend"},
    )


def _retrying(wait_max: float) -> AsyncRetrying:
    return AsyncRetrying(
        stop=stop_after_attempt(MAX_ATTEMPTS),
        wait=wait_exponential_jitter(initial=0.2, max=wait_max),
        retry=retry_if_exception(_retryable),
        reraise=True,
    )


class TokenProvider:
    """Client-credentials access tokens, cached until shortly before they expire."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        token_url: str,
        client_id: str,
        client_secret: SecretStr,
        *,
        clock: Callable[[], float] = time.monotonic,
        retry_wait_max: float = 2.0,
    ) -> None:
        self._http = http
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._retry_wait_max = retry_wait_max
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0
        """How many tokens were fetched (for tests and debugging)."""

    async def token(self) -> str:
        async with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                await self._fetch()
            assert self._token is not None
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget `token` (a call answered 401); a newer token fetched meanwhile is kept."""
        if self._token == token:
            self._token = None

    async def _fetch(self) -> None:
        try:
            async for attempt in _retrying(self._retry_wait_max):
                with attempt:
                    response = await self._http.post(
                        self._token_url,
                        data={"grant_type": "client_credentials"},
                        auth=(self._client_id, self._client_secret.get_secret_value()),
                        headers={"Accept": "application/json"},
                    )
                    if response.status_code >= 500:
                        raise _Retryable(response)
        except _Retryable as exc:
            raise PaisError(f"token endpoint unavailable: {exc}") from None
        except httpx.HTTPError as exc:
            raise PaisError(f"token endpoint unreachable: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise PaisError(f"token endpoint refused the client credentials ({response.status_code})")
        try:
            body = response.json()
            token = body["access_token"]
            lifetime = float(body.get("expires_in", DEFAULT_TOKEN_LIFETIME))
        except (ValueError, KeyError, TypeError):
            raise PaisError("token endpoint answered without an access_token") from None
        if not isinstance(token, str) or not token:
            raise PaisError("token endpoint answered without an access_token")
        self._token = token
        # Refresh a little early so a token never expires in flight: 10 % of its life, at most 30 s.
        self._refresh_at = self._clock() + lifetime - min(30.0, lifetime / 10)
        self.fetches += 1
        log.debug("fetched a PAIS access token valid for %.0f s", lifetime)


def reply_text(payload: Any) -> str:
    """The assistant's text in a chat-completions answer (`choices[0].message.content`);
    the Agent API's older `{"response": ...}` shape is accepted too."""
    if isinstance(payload, dict):
        choices = payload.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            message = choices[0].get("message")
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                return str(message["content"])
        if isinstance(payload.get("response"), str):
            return str(payload["response"])
    raise PaisError("PAIS answered in an unexpected shape (no choices[0].message.content)")


@dataclass(frozen=True)
class PaisReply:
    text: str
    source: Source


class PaisClient:
    """Chat with the configured agent, falling back to the Model Endpoint."""

    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        retry_wait_max: float = 2.0,
    ) -> None:
        self._settings = settings
        self._http = http or build_http_client(settings)
        self._retry_wait_max = retry_wait_max
        self.tokens = TokenProvider(
            self._http,
            settings.pais_token_url,
            settings.pais_client_id,
            settings.pais_client_secret,
            clock=clock,
            retry_wait_max=retry_wait_max,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def chat(self, prompt: str) -> PaisReply:
        messages = [{"role": "user", "content": prompt}]
        s = self._settings
        response = await self._post(s.agent_chat_path, {"messages": messages})
        source: Source = "agent"
        if response.status_code in FALLBACK_STATUSES:
            log.info("agent endpoint answered %s; using the model endpoint", response.status_code)
            body: dict[str, Any] = {"messages": messages}
            if s.pais_model_name:
                body["model"] = s.pais_model_name
            response = await self._post(s.pais_model_endpoint, body)
            source = "model"
        if response.status_code != 200:
            raise PaisError(f"PAIS {source} endpoint answered {response.status_code}")
        try:
            payload = response.json()
        except ValueError:
            raise PaisError(f"PAIS {source} endpoint answered with a body that is not JSON") from None
        return PaisReply(text=reply_text(payload), source=source)

    async def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        url = self._settings.pais_base_url + path
        try:
            async for attempt in _retrying(self._retry_wait_max):
                with attempt:
                    response = await self._authorized_post(url, body)
                    if response.status_code >= 500 and response.status_code not in FALLBACK_STATUSES:
                        raise _Retryable(response)
        except _Retryable as exc:
            raise PaisError(f"PAIS unavailable: {exc}") from None
        except httpx.TimeoutException:
            raise PaisError(f"PAIS did not answer {path} in time") from None
        except httpx.HTTPError as exc:
            raise PaisError(f"PAIS unreachable at {path}: {type(exc).__name__}") from None
        return response

    async def _authorized_post(self, url: str, body: dict[str, Any]) -> httpx.Response:
        token = await self.tokens.token()
        response = await self._http.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
        if response.status_code == 401:
            self.tokens.invalidate(token)
            token = await self.tokens.token()
            response = await self._http.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
        return response
