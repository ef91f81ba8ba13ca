"""A small vCenter REST client  for the vSphere dynamic providers.

Sessions: `POST /api/session` with HTTP Basic (201, the body is the bare JSON token); a
server without it (vcsim, vCenter before 7.0U2) answers 404 and the client logs in on the
legacy `POST /rest/com/vmware/cis/session` (200, `{"value": token}`). The token goes in
the `vmware-api-session-id` header. A 401 on a request (expired or revoked session) makes
the client log in again once and repeat the request; `close()` logs out.

Retries and TLS come from the REST client base (`components/dynamic/rest.py`): a POST is
not repeated once vCenter may have received it (creating the same object twice fails on a
real vCenter and silently overwrites it on vcsim). Errors carry the HTTP status and
vCenter's own error type and messages, never the password.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from components.dynamic.provider import ObjectGone
from components.dynamic.rest import RestClient, RestError

SESSION_PATH = "/api/session"
LEGACY_SESSION_PATH = "/rest/com/vmware/cis/session"
SESSION_HEADER = "vmware-api-session-id"
# vAPI error types arrive either as NOT_FOUND (/api) or as com.vmware.vapi.std.errors.not_found (/rest).
_LEGACY_TYPE_PREFIX = "com.vmware.vapi.std.errors."


class VcenterError(RestError):
    """A vCenter request failed.

    `status` is the HTTP status (None when vCenter did not answer), `error_type` vCenter's
    error type (NOT_FOUND, ALREADY_EXISTS, INVALID_ARGUMENT, UNAUTHENTICATED, ...) and
    `messages` its default messages.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_type: str = "",
        messages: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, status=status)
        self.error_type = error_type
        self.messages = messages


class VcenterNotFound(VcenterError, ObjectGone):
    """vCenter answered 404: the object (or the API path) does not exist."""


def parse_error(response: httpx.Response) -> tuple[str, tuple[str, ...]]:
    """vCenter's error type and messages from an error response.

    Two shapes exist: `{"error_type": "NOT_FOUND", "messages": [{"default_message": ...}]}`
    (/api) and `{"type": "com.vmware.vapi.std.errors.not_found", "value": {"messages": [...]}}`
    (/rest). Anything else yields the start of the body as the message.
    """
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()[:200]
        return "", (text,) if text else ()
    if not isinstance(body, dict):
        return "", (str(body)[:200],)
    error_type = str(body.get("error_type") or "")
    detail: Any = body
    if not error_type and "type" in body:
        legacy_type = str(body.get("type") or "")
        error_type = legacy_type.removeprefix(_LEGACY_TYPE_PREFIX).upper()
        detail = body.get("value") if isinstance(body.get("value"), dict) else {}
        error_type = str(detail.get("error_type") or error_type)
    raw = detail.get("messages") if isinstance(detail, dict) else None
    messages = tuple(
        str(m.get("default_message") or m.get("id") or "")
        for m in (raw if isinstance(raw, list) else [])
        if isinstance(m, dict)
    )
    return error_type, tuple(m for m in messages if m)


@dataclass(frozen=True)
class Endpoint:
    """Where vCenter is and who logs in, as plain values (inside a provider, at apply time)."""

    host: str
    """vCenter host, optionally with :port."""
    username: str
    password: str
    protocol: str = "https"
    """https; http only for the simulator (with insecure)."""
    insecure: bool = False
    """Skip TLS verification: the simulator's self-signed certificate only."""
    ca_bundle: str | None = None
    """PEM file with the CA that signed vCenter's certificate; the system trust store when None."""
    timeout: float = 30.0
    """Seconds per request."""
    attempts: int = 5
    """Attempts per request (exponential backoff between them) for transient failures."""

    @property
    def base_url(self) -> str:
        return f"{self.protocol}://{self.host}"

    @property
    def hostname(self) -> str:
        return urlsplit(f"//{self.host}").hostname or self.host

    @property
    def port(self) -> int:
        return urlsplit(f"//{self.host}").port or (443 if self.protocol == "https" else 80)

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context to verify vCenter with (pyvmomi's SOAP session too); None for plain http."""
        if self.protocol != "https":
            return None
        if self.insecure:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        return ssl.create_default_context(cafile=self.ca_bundle)


class VcenterClient(RestClient):
    """One vCenter and user, one REST session. Use as a context manager (logs out on exit).

    `request_count` counts every HTTP request sent (logins and logouts included) and `calls`
    lists them as "METHOD path status", so tests can report REST calls per operation.
    """

    service = "vCenter"
    error = VcenterError
    tls_hint = "give the CA bundle that signed its certificate (caBundle), or set insecure for the simulator"

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        backoff: float = 0.5,
        backoff_max: float = 8.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not endpoint.password:
            raise VcenterError(
                f"no password for vCenter user {endpoint.username!r} at {endpoint.host}: the password "
                "input is empty (it may only be missing in a preview)"
            )
        if endpoint.protocol == "http" and not endpoint.insecure:
            raise VcenterError(f"plain http to {endpoint.host} is only for the simulator and needs insecure")
        self.endpoint = endpoint
        self.request_count = 0
        self.calls: list[str] = []
        self.session_path: str | None = None
        """The session path that worked (/api/session or the legacy one); None before login."""
        self._token: str | None = None
        super().__init__(
            endpoint.base_url,
            where=endpoint.host,
            insecure=endpoint.insecure or endpoint.protocol != "https",
            ca_bundle=endpoint.ca_bundle,
            timeout=endpoint.timeout,
            attempts=endpoint.attempts,
            backoff=backoff,
            backoff_max=backoff_max,
            transport=transport,
        )

    def legacy_api(self) -> bool:
        """True when this vCenter has no /api/session (vcsim, vCenter before 7.0U2): its other
        /api paths are missing too, and the /rest ones answer instead. Logs in if needed."""
        if self._token is None:
            self.login()
        return self.session_path == LEGACY_SESSION_PATH

    def close(self) -> None:
        """Log out (best effort: an expired session is already gone) and close the connections."""
        try:
            if self._token is not None and self.session_path is not None:
                self._send_once("DELETE", self.session_path, headers={SESSION_HEADER: self._token})
        except httpx.HTTPError:
            pass
        finally:
            self._token = None
            super().close()

    # -- sessions ------------------------------------------------------------------------
    def login(self) -> None:
        """Open a REST session (new token)."""
        auth = httpx.BasicAuth(self.endpoint.username, self.endpoint.password)
        path = self.session_path or SESSION_PATH
        # Logins are safe to repeat (a session nobody uses expires): retried like a GET.
        response = self.with_retries("POST", path, lambda: self._post_login(path, auth), retry_as="GET")
        if response.status_code == 404 and path == SESSION_PATH:
            path = LEGACY_SESSION_PATH
            response = self.with_retries("POST", path, lambda: self._post_login(path, auth), retry_as="GET")
        if response.status_code in (401, 403):
            raise self._error(
                "POST", path, response, f"vCenter refused the login of user {self.endpoint.username!r}"
            )
        if not response.is_success:
            raise self._error("POST", path, response)
        body = response.json()
        token = body.get("value") if isinstance(body, dict) else body
        if not isinstance(token, str) or not token:
            raise VcenterError(f"vCenter at {self.endpoint.host} answered the login without a session token")
        # The legacy login also sets a cookie; the header alone must carry the session so a
        # lost session shows up as 401 instead of being papered over by the cookie jar.
        self._http.cookies.clear()
        self._token = token
        self.session_path = path

    def _post_login(self, path: str, auth: httpx.BasicAuth) -> httpx.Response:
        response = self._send_once("POST", path, auth=auth)
        self.raise_if_transient("POST", path, response)
        return response

    # -- requests ------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        repeatable: bool | None = None,
    ) -> Any:
        """Send `method path` in the session and return the decoded JSON body (None when empty).

        Any 2xx is success; vCenter's create/patch/delete answer without a body. A body on a
        2xx is not inspected for errors (vcsim answers a successful PATCH with 200 and a
        NOT_FOUND body): the status code decides. `repeatable` marks a POST that only reads
        (a find) as safe to repeat after a timeout or 5xx; by default only GET, PUT, PATCH
        and DELETE are.
        """
        retry_as = method if repeatable is None else ("GET" if repeatable else "POST")
        if self._token is None:
            self.login()
        response = self.with_retries(
            method, path, lambda: self._attempt(method, path, body, params), retry_as=retry_as
        )
        if response.status_code == 401:
            # The session expired or was revoked: a new one, once, then the same request again.
            self.login()
            response = self.with_retries(
                method, path, lambda: self._attempt(method, path, body, params), retry_as=retry_as
            )
            if response.status_code == 401:
                raise self._error(method, path, response, "the new session was rejected too")
        if not response.is_success:
            raise self._error(method, path, response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise VcenterError(
                f"vCenter {method} {path} at {self.endpoint.host}: expected JSON, got {response.text[:80]!r}",
                status=response.status_code,
            ) from None

    def get(self, path: str, *, params: dict[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any, *, params: dict[str, Any] | None = None) -> Any:
        return self.request("POST", path, body=body, params=params)

    def patch(self, path: str, body: Any) -> None:
        self.request("PATCH", path, body=body)

    def _attempt(self, method: str, path: str, body: Any, params: dict[str, Any] | None) -> httpx.Response:
        assert self._token is not None
        response = self._send_once(
            method, path, body=body, params=params, headers={SESSION_HEADER: self._token}
        )
        self.raise_if_transient(method, path, response)
        return response

    def _send_once(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        auth: httpx.BasicAuth | None = None,
    ) -> httpx.Response:
        self.request_count += 1
        try:
            response = self._http.request(
                method, path, json=body, params=params, headers=headers, auth=auth or httpx.USE_CLIENT_DEFAULT
            )
        except httpx.HTTPError:
            self.calls.append(f"{method} {path} failed")
            raise
        self.calls.append(f"{method} {path} {response.status_code}")
        return response

    def no_answer(self, method: str, path: str) -> str:
        return f"vCenter {method} {path} at {self.endpoint.host}: no answer within {self.endpoint.timeout:g}s"

    def _error(self, method: str, path: str, response: httpx.Response, context: str = "") -> VcenterError:
        status = response.status_code
        error_type, messages = parse_error(response)
        text = f"vCenter {method} {path} at {self.endpoint.host}: {status} {error_type or response.reason_phrase}"
        if messages:
            text += ": " + "; ".join(messages)
        if context:
            text += f" ({context})"
        elif status == 403:
            text += f" (user {self.endpoint.username!r} lacks the privilege)"
        kind: type[VcenterError] = VcenterError
        if status == 404:
            kind = VcenterNotFound
        return kind(text, status=status, error_type=error_type, messages=messages)
