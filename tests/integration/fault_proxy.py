"""A fault-injecting reverse proxy on 127.0.0.1 for tests against a plain-http server (vcsim
with -tls=false).

    with FaultProxy("http://127.0.0.1:8989") as proxy:
        proxy.inject("POST", r"/virtual-machine-classes$", status=503, times=2)
        proxy.inject("GET", r"/namespaces/instances/", delay=3.0)
        proxy.inject("POST", r"/namespaces/instances$", expire_session=True)
        ... point the client at proxy.url ...
        proxy.log   # [("POST", "/api/...", "503 injected"), ("POST", "/api/...", "200"), ...]

A held request is logged twice: "held 3s" when it is taken and "<status> (late)" once it
has been forwarded (usually after the client gave up on it).

Faults apply to the first `times` matching requests (all of them with times=None). An
injected status is answered by the proxy; a delay holds the request and then forwards it;
`expire_session` really ends the request's vCenter REST session (DELETE of the legacy
session with its token) before forwarding, so the upstream itself answers 401.
Everything else, SOAP included, is forwarded unchanged.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

SESSION_HEADER = "vmware-api-session-id"
LEGACY_SESSION_PATH = "/rest/com/vmware/cis/session"
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
}


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    times: int | None
    status: int | None = None
    body: Any = None
    delay: float = 0.0
    expire_session: bool = False
    hits: int = 0

    def take(self, method: str, path: str) -> bool:
        if method != self.method or not self.path.search(path):
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        self.hits += 1
        return True


class FaultProxy:
    """See the module doc. Thread-safe: the engine sends requests in parallel."""

    def __init__(self, upstream: str) -> None:
        target = urlsplit(upstream)
        if target.scheme != "http":
            raise ValueError("the fault proxy forwards to plain http only (start vcsim with -tls=false)")
        self.upstream_host = target.hostname or "127.0.0.1"
        self.upstream_port = target.port or 80
        self.faults: list[Fault] = []
        self.log: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def inject(
        self,
        method: str,
        path_pattern: str,
        *,
        status: int | None = None,
        body: Any = None,
        delay: float = 0.0,
        expire_session: bool = False,
        times: int | None = 1,
    ) -> Fault:
        fault = Fault(method, re.compile(path_pattern), times, status, body, delay, expire_session)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.log.clear()

    def requests(self, method: str, path_pattern: str) -> list[tuple[str, str, str]]:
        """Logged requests with this method whose path matches."""
        pattern = re.compile(path_pattern)
        with self._lock:
            return [entry for entry in self.log if entry[0] == method and pattern.search(entry[1])]

    def _fault_for(self, method: str, path: str) -> Fault | None:
        with self._lock:
            return next((f for f in self.faults if f.take(method, path)), None)

    def _record(self, method: str, path: str, outcome: str) -> None:
        with self._lock:
            self.log.append((method, path, outcome))

    def _forward(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=60)
        try:
            connection.request(method, target, body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = urlsplit(self.path).path
                fault = proxy._fault_for(self.command, path)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                headers["Host"] = f"{proxy.upstream_host}:{proxy.upstream_port}"
                note = ""
                if fault is not None and fault.status is not None:
                    payload = json.dumps(fault.body).encode() if fault.body is not None else b""
                    proxy._record(self.command, path, f"{fault.status} injected")
                    self._reply(fault.status, [("Content-Type", "application/json")], payload)
                    return
                if fault is not None and fault.delay:
                    # Logged when taken: the client has given up and moved on long before the end.
                    proxy._record(self.command, path, f"held {fault.delay:g}s")
                    time.sleep(fault.delay)
                    note = " (late)"
                if fault is not None and fault.expire_session and SESSION_HEADER in self.headers:
                    proxy._forward(
                        "DELETE", LEGACY_SESSION_PATH, {SESSION_HEADER: self.headers[SESSION_HEADER]}, b""
                    )
                    note = " after the session was ended"
                status, response_headers, payload = proxy._forward(self.command, self.path, headers, body)
                proxy._record(self.command, path, f"{status}{note}")
                # The client may have given up waiting (a delayed request): that is the point.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._reply(status, response_headers, payload)

            def _reply(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle

            def log_message(self, *_args: Any) -> None:
                pass

        return Handler
