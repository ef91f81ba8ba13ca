"""A small client for Harbor's REST API v2.0 (`<url>/api/v2.0`, HTTP Basic auth).

Retries and TLS come from the REST client base (`components/dynamic/rest.py`): a POST is
never repeated once Harbor may have received it (a second project or robot would be the
result). Errors carry Harbor's own `{"errors": [{"code", "message"}]}` and never the
password.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Unpack
from urllib.parse import urlsplit

import httpx

from components.dynamic.provider import ObjectGone
from components.dynamic.rest import ClientOptions, RestClient, RestError

API_PREFIX = "/api/v2.0"
PAGE_SIZE = 100


class HarborError(RestError):
    """A Harbor request failed. `status` is the HTTP status (None when Harbor did not answer)."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "", detail: str = "") -> None:
        super().__init__(message, status=status)
        self.code = code
        self.detail = detail


class HarborNotFound(HarborError, ObjectGone):
    """Harbor answered 404."""


class HarborConflict(HarborError):
    """Harbor answered 409: the object already exists."""


def harbor_errors(response: httpx.Response) -> tuple[str, str]:
    """Harbor's error code and message(s) from an error response."""
    try:
        body = response.json()
    except ValueError:
        return "", response.text.strip()[:200]
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors:
        return "", response.text.strip()[:200]
    codes = [str(e.get("code", "")) for e in errors if isinstance(e, dict)]
    messages = [str(e.get("message", "")) for e in errors if isinstance(e, dict)]
    return codes[0] if codes else "", "; ".join(m for m in messages if m)


def registry_host(url: str) -> str:
    """The registry host (`host[:port]`) images are pulled from, for a Harbor base URL."""
    return urlsplit(url).netloc


class HarborClient(RestClient):
    """One Harbor endpoint and user. Use as a context manager (closes the connection pool)."""

    service = "Harbor"
    error = HarborError
    tls_hint = (
        "give the CA bundle that signed Harbor's certificate (ca_bundle), or set insecure outside production"
    )

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        **options: Unpack[ClientOptions],
    ) -> None:
        if not password:
            raise HarborError(
                f"no password for Harbor user {username!r} at {url}: the password input is empty"
            )
        self.url = url.rstrip("/")
        self.username = username
        super().__init__(
            self.url + API_PREFIX, where=self.url, auth=httpx.BasicAuth(username, password), **options
        )

    def no_answer(self, method: str, path: str) -> str:
        return f"Harbor at {self.url} did not answer {method} {API_PREFIX}{path} within {self.timeout:g}s"

    def label(self, method: str, path: str) -> str:
        return f"Harbor {method} {API_PREFIX}{path} at {self.url}"

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: Any,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str],
        expected: tuple[int, ...],
    ) -> httpx.Response:
        response = self._http.request(method, path, json=body, params=params, headers=headers)
        if response.status_code in expected:
            return response
        self.raise_if_transient(method, path, response)
        raise self._error(method, path, response)

    def _error(self, method: str, path: str, response: httpx.Response) -> HarborError:
        status = response.status_code
        code, message = harbor_errors(response)
        text = f"Harbor {method} {API_PREFIX}{path} at {self.url}: {status} {code or response.reason_phrase}"
        if message:
            text += f": {message}"
        if status == 401:
            text += f" (Harbor rejected the credentials of user {self.username!r})"
        elif status == 403:
            text += f" (user {self.username!r} lacks the permission)"
        if status == 404:
            return HarborNotFound(text, status=status, code=code, detail=message)
        if status == 409:
            return HarborConflict(text, status=status, code=code, detail=message)
        return HarborError(text, status=status, code=code, detail=message)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        expected: tuple[int, ...] = (200,),
        by_name: bool = False,
    ) -> httpx.Response:
        """Send `method path` (relative to /api/v2.0) and return the response with an expected status.

        `by_name` tells Harbor that a project in the path is a name even if it looks like a number.
        """
        headers = {"X-Is-Resource-Name": "true"} if by_name else {}
        return self.with_retries(
            method,
            path,
            lambda: self._send(method, path, body=body, params=params, headers=headers, expected=expected),
        )

    def get(self, path: str, *, params: Mapping[str, Any] | None = None, by_name: bool = False) -> Any:
        return self.request("GET", path, params=params, by_name=by_name).json()

    def create(self, path: str, body: Any, *, by_name: bool = False) -> httpx.Response:
        return self.request("POST", path, body=body, expected=(201,), by_name=by_name)

    def put(self, path: str, body: Any, *, by_name: bool = False) -> None:
        self.request("PUT", path, body=body, by_name=by_name)

    def list_all(
        self, path: str, *, params: Mapping[str, Any] | None = None, by_name: bool = False
    ) -> list[Any]:
        """Every item of a paginated list endpoint."""
        items: list[Any] = []
        page = 1
        while True:
            chunk = self.get(
                path, params={**(params or {}), "page": page, "page_size": PAGE_SIZE}, by_name=by_name
            )
            if not isinstance(chunk, list):
                raise HarborError(
                    f"Harbor GET {API_PREFIX}{path} at {self.url}: expected a list, got {chunk!r:.80}"
                )
            items.extend(chunk)
            if len(chunk) < PAGE_SIZE:
                return items
            page += 1


def created_id(response: httpx.Response) -> int:
    """The id of a created object: the last segment of the Location header Harbor returns."""
    location = response.headers.get("Location", "")
    last = location.rstrip("/").rsplit("/", 1)[-1]
    if not last.isdigit():
        raise HarborError(f"Harbor did not return the new object's location (Location: {location!r})")
    return int(last)


@contextmanager
def connect(props: Mapping[str, Any]) -> Iterator[HarborClient]:
    """A client for the connection properties every Harbor resource carries."""
    with HarborClient(
        str(props["url"]),
        str(props["username"]),
        str(props.get("password") or ""),
        insecure=bool(props.get("insecure")),
        ca_bundle=props.get("ca_bundle") or None,
        timeout=float(props.get("timeout") or 30),
        attempts=int(props.get("attempts") or 5),
    ) as client:
        yield client
