"""The REST client base of the vCenter and Harbor providers: httpx for HTTP and TLS,
tenacity for bounded retries with exponential backoff.

What is retried: an unreachable server (connection refused, connect timeout) and a server
that says it is busy (429, 503) for every request; a timeout, a broken connection or any
other 5xx only for requests that are safe to repeat (GET, HEAD, PUT, PATCH, DELETE, or a
POST the caller marks as a read). A POST that may have reached the server is never sent
twice: a second object would be the result. A failed TLS verification is never retried.

TLS is verified against the system trust store (where a corporate CA is installed, not
certifi's bundle) or a given CA bundle, unless `insecure` is set (simulators only). Errors
name the service, the method, the path and the server, never a credential.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any, ClassVar, Self, TypedDict, Unpack

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from components.dynamic.provider import ObjectGone, ProviderError

REPEATABLE = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})
ALWAYS_RETRY_STATUS = frozenset({429, 503})


class ClientOptions(TypedDict, total=False):
    """How a client reaches its server (every key optional; defaults in `RestClient`)."""

    insecure: bool
    """No TLS verification (simulators only). Default False."""
    ca_bundle: str | None
    """PEM CA bundle (a path); None: the system trust store."""
    timeout: float
    """Seconds per request. Default 30."""
    attempts: int
    """Tries per request, the first included. Default 5."""
    backoff: float
    """First wait between tries, doubling. Default 1 s."""
    backoff_max: float
    """Longest wait between tries. Default 15 s."""


class RestError(ProviderError):
    """A request failed. `status` is the HTTP status (None when the server did not answer)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Transient(RestError):
    """A 5xx/429 answer: retried where that is safe, then re-raised as the family's error.

    `final` is the error to raise when the retries are used up."""

    def __init__(self, final: RestError) -> None:
        super().__init__(str(final), status=final.status)
        self.final = final


def tls_context(insecure: bool, ca_bundle: str | None, what: str) -> ssl.SSLContext | bool:
    """What httpx verifies the server with: False for insecure, else the system store or `ca_bundle`."""
    if insecure:
        return False
    try:
        return ssl.create_default_context(cafile=ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        raise RestError(f"cannot read the CA bundle {ca_bundle!r} for {what}: {exc}") from None


def is_tls_failure(exc: BaseException) -> bool:
    return (
        "CERTIFICATE_VERIFY_FAILED" in str(exc)
        or "certificate verify failed" in str(exc)
        or isinstance(exc.__context__, ssl.SSLCertVerificationError)
    )


class RestClient:
    """One server, bounded retries; subclasses add authentication and the API's error shape."""

    service: ClassVar[str] = "server"
    """The service in messages ("vCenter", "Harbor")."""
    error: ClassVar[type[RestError]] = RestError
    """The family's error class every failure is raised as."""
    tls_hint: ClassVar[str] = "give the CA bundle that signed its certificate"

    def __init__(
        self,
        base_url: str,
        *,
        where: str,
        auth: httpx.Auth | None = None,
        transport: httpx.BaseTransport | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        self.where = where
        """The server in messages (host or URL)."""
        timeout = options.get("timeout", 30.0)
        self.timeout = timeout
        self.attempts = max(1, options.get("attempts", 5))
        backoff = options.get("backoff", 1.0)
        self._wait = wait_exponential(multiplier=backoff, min=backoff, max=options.get("backoff_max", 15.0))
        try:
            verify = tls_context(
                options.get("insecure", False), options.get("ca_bundle"), f"{self.service} at {where}"
            )
        except RestError as exc:
            raise self.error(str(exc)) from None
        self._http = httpx.Client(
            base_url=base_url,
            auth=auth,
            verify=verify,
            timeout=timeout,
            headers={"Accept": "application/json"},
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def retryable(self, method: str, exc: BaseException) -> bool:
        if isinstance(exc, Transient):
            return exc.status in ALWAYS_RETRY_STATUS or method in REPEATABLE
        if isinstance(exc, httpx.ConnectError):
            return not is_tls_failure(exc)
        if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
            return True
        # The request may have reached the server: only repeat what is safe to repeat.
        return isinstance(exc, httpx.TimeoutException | httpx.TransportError) and method in REPEATABLE

    def with_retries(
        self, method: str, path: str, fn: Callable[[], httpx.Response], *, retry_as: str | None = None
    ) -> httpx.Response:
        """`fn()` (one HTTP exchange that raises Transient on 5xx/429) with the retries a
        `retry_as` request (default `method`) may have; failures raised as `self.error`."""
        retrying = Retrying(
            retry=retry_if_exception(lambda exc: self.retryable(retry_as or method, exc)),
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            reraise=True,
        )
        try:
            response: httpx.Response = retrying(fn)
            return response
        except Transient as exc:
            final = exc.final
            final.args = (f"{final}{_after(retrying)}",)
            raise final from None
        except httpx.ConnectError as exc:
            if is_tls_failure(exc):
                raise self.error(
                    f"TLS verification of {self.service} at {self.where} failed ({exc}); {self.tls_hint}"
                ) from None
            raise self.error(
                f"cannot connect to {self.service} at {self.where}: {exc}{_after(retrying)}"
            ) from None
        except httpx.TimeoutException:
            raise self.error(f"{self.no_answer(method, path)}{_after(retrying)}") from None
        except httpx.TransportError as exc:
            raise self.error(f"{self.label(method, path)} failed: {exc}{_after(retrying)}") from None

    def label(self, method: str, path: str) -> str:
        return f"{self.service} {method} {path} at {self.where}"

    # -- the family's API ------------------------------------------------------------------
    def _error(self, method: str, path: str, response: httpx.Response) -> RestError:
        """The family's error for an unsuccessful answer (an ObjectGone one for 404)."""
        raise NotImplementedError

    def request(self, method: str, path: str) -> Any:
        """Send `method path`; the family's error unless the server accepts it."""
        raise NotImplementedError

    def get(self, path: str) -> Any:
        """The decoded body of GET `path`."""
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------------
    def raise_if_transient(self, method: str, path: str, response: httpx.Response) -> None:
        """Raise Transient (which `with_retries` repeats) when the server failed or is busy (5xx, 429)."""
        if response.status_code >= 500 or response.status_code == 429:
            raise Transient(self._error(method, path, response))

    def find(self, path: str) -> Any | None:
        """GET `path`, or None when the server answers 404 (the object does not exist)."""
        try:
            return self.get(path)
        except ObjectGone:
            return None

    def delete(self, path: str) -> bool:
        """DELETE `path`; False when it was already gone."""
        try:
            self.request("DELETE", path)
        except ObjectGone:
            return False
        return True

    def no_answer(self, method: str, path: str) -> str:
        return f"{self.label(method, path)}: no answer within {self.timeout:g}s"


def _after(retrying: Retrying) -> str:
    tries = int(retrying.statistics.get("attempt_number", 1))
    return f" (after {tries} attempts)" if tries > 1 else ""
