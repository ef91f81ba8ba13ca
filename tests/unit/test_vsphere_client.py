"""The vCenter REST client against in-process fakes: httpx.MockTransport scripts for
sessions, retries and errors, and a real HTTPS server (self-signed certificate) for TLS."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from components.vsphere.client import (
    LEGACY_SESSION_PATH,
    SESSION_HEADER,
    SESSION_PATH,
    Endpoint,
    VcenterClient,
    VcenterError,
    VcenterNotFound,
    parse_error,
)

PASSWORD = "vc-pw-5521"
NAMESPACES = "/api/vcenter/namespaces/instances"
Handler = Callable[[httpx.Request], httpx.Response]


class ScriptedVcenter:
    """A MockTransport handler: logins per `session` style, then `answers` per path, in order."""

    def __init__(self, *, session: str = "api", answers: dict[str, list[Any]] | None = None) -> None:
        self.session = session
        self.answers = answers or {}
        self.requests: list[httpx.Request] = []
        self.tokens: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path in (SESSION_PATH, LEGACY_SESSION_PATH) and request.method == "POST":
            return self._login(request, path)
        if path in (SESSION_PATH, LEGACY_SESSION_PATH) and request.method == "DELETE":
            return httpx.Response(200 if path == LEGACY_SESSION_PATH else 204)
        if request.headers.get(SESSION_HEADER) not in self.tokens:
            return httpx.Response(401)
        script = self.answers.get(f"{request.method} {path}", [])
        answer = script.pop(0) if len(script) > 1 else (script[0] if script else httpx.Response(404))
        if isinstance(answer, Exception):
            raise answer
        assert isinstance(answer, httpx.Response)
        return answer

    def _login(self, request: httpx.Request, path: str) -> httpx.Response:
        if path == SESSION_PATH and self.session == "legacy":
            return httpx.Response(404, text="404 page not found")
        expected = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return httpx.Response(401, json={"error_type": "UNAUTHENTICATED", "messages": []})
        token = f"token-{len(self.tokens) + 1}"
        self.tokens.append(token)
        if path == SESSION_PATH:
            return httpx.Response(201, json=token)
        return httpx.Response(
            200, json={"value": token}, headers={"Set-Cookie": f"{SESSION_HEADER}={token}; Path=/"}
        )

    def expire_sessions(self) -> None:
        self.tokens.clear()

    def seen(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]


def client_for(
    fake: Handler, *, password: str = PASSWORD, attempts: int = 3, timeout: float = 5.0
) -> VcenterClient:
    endpoint = Endpoint(
        host="vc.test", username="admin", password=password, attempts=attempts, timeout=timeout
    )
    return VcenterClient(endpoint, backoff=0.001, backoff_max=0.002, transport=httpx.MockTransport(fake))


def test_logs_in_on_api_session_and_sends_the_token_header() -> None:
    fake = ScriptedVcenter(answers={f"GET {NAMESPACES}": [httpx.Response(200, json=[])]})
    with client_for(fake) as client:
        assert client.get(NAMESPACES) == []
        assert client.session_path == SESSION_PATH
        assert not client.legacy_api()
    assert fake.seen() == [f"POST {SESSION_PATH}", f"GET {NAMESPACES}", f"DELETE {SESSION_PATH}"]
    assert fake.requests[1].headers[SESSION_HEADER] == "token-1"
    assert fake.requests[2].headers[SESSION_HEADER] == "token-1", "close() logs the session out"


def test_falls_back_to_the_legacy_session_path_on_404() -> None:
    fake = ScriptedVcenter(session="legacy", answers={f"GET {NAMESPACES}": [httpx.Response(200, json=[])]})
    with client_for(fake) as client:
        client.get(NAMESPACES)
        assert client.legacy_api()
        assert client.request_count == 3
    assert fake.seen() == [
        f"POST {SESSION_PATH}",
        f"POST {LEGACY_SESSION_PATH}",
        f"GET {NAMESPACES}",
        f"DELETE {LEGACY_SESSION_PATH}",
    ]
    # The header, not the cookie the legacy login sets, carries the session.
    assert "cookie" not in fake.requests[2].headers


def test_an_expired_session_is_renewed_once_and_the_request_repeated() -> None:
    fake = ScriptedVcenter(answers={f"GET {NAMESPACES}": [httpx.Response(200, json=["ns"])]})
    with client_for(fake) as client:
        client.login()
        fake.expire_sessions()
        assert client.get(NAMESPACES) == ["ns"]
        assert client.calls == [
            f"POST {SESSION_PATH} 201",
            f"GET {NAMESPACES} 401",
            f"POST {SESSION_PATH} 201",
            f"GET {NAMESPACES} 200",
        ]


def test_a_session_rejected_again_after_relogin_fails_without_looping() -> None:
    def always_unauthorized(request: httpx.Request) -> httpx.Response:
        if request.url.path == SESSION_PATH:
            return httpx.Response(201, json="token")
        return httpx.Response(
            401, json={"error_type": "UNAUTHENTICATED", "messages": [{"default_message": "expired"}]}
        )

    client = client_for(always_unauthorized)
    with pytest.raises(VcenterError) as caught:
        client.get(NAMESPACES)
    assert caught.value.status == 401
    assert caught.value.error_type == "UNAUTHENTICATED"
    assert "expired" in str(caught.value) and "rejected too" in str(caught.value)
    assert sum(call.startswith(f"POST {SESSION_PATH} ") for call in client.calls) == 2
    assert client.request_count == 4


def test_a_refused_login_names_the_user_and_never_the_password() -> None:
    fake = ScriptedVcenter()
    client = client_for(fake, password="wrong-pw-7781", attempts=5)
    with pytest.raises(VcenterError) as caught:
        client.get(NAMESPACES)
    assert caught.value.status == 401
    assert "refused the login of user 'admin'" in str(caught.value)
    assert "wrong-pw-7781" not in str(caught.value)
    assert client.request_count == 1, "a refused login is not retried"


def test_503_is_retried_with_a_bound_and_then_reported() -> None:
    busy = httpx.Response(
        503, json={"error_type": "SERVICE_UNAVAILABLE", "messages": [{"default_message": "busy"}]}
    )
    fake = ScriptedVcenter(answers={f"GET {NAMESPACES}": [busy]})
    client = client_for(fake, attempts=4)
    with pytest.raises(VcenterError) as caught:
        client.get(NAMESPACES)
    assert caught.value.status == 503
    assert "SERVICE_UNAVAILABLE: busy" in str(caught.value) and "after 4 attempts" in str(caught.value)
    assert fake.seen().count(f"GET {NAMESPACES}") == 4


def test_transient_failures_are_retried_until_the_request_succeeds() -> None:
    fake = ScriptedVcenter(
        answers={
            f"GET {NAMESPACES}": [
                httpx.Response(503),
                httpx.ReadTimeout("slow"),
                httpx.Response(500),
                httpx.Response(200, json=["ns"]),
            ]
        }
    )
    with client_for(fake, attempts=4) as client:
        assert client.get(NAMESPACES) == ["ns"]
    assert fake.seen().count(f"GET {NAMESPACES}") == 4


@pytest.mark.parametrize(
    ("failure", "attempts_seen"),
    [
        (httpx.Response(503), 3),
        (httpx.Response(500), 1),
        (httpx.ReadTimeout("slow"), 1),
        (httpx.ConnectError("refused"), 3),
    ],
)
def test_a_post_is_only_repeated_when_it_cannot_have_taken_effect(failure: Any, attempts_seen: int) -> None:
    fake = ScriptedVcenter(answers={f"POST {NAMESPACES}": [failure]})
    with pytest.raises(VcenterError):
        client_for(fake, attempts=3).post(NAMESPACES, {"namespace": "ns"})
    assert fake.seen().count(f"POST {NAMESPACES}") == attempts_seen


def test_a_find_posted_as_repeatable_is_retried_after_a_timeout() -> None:
    fake = ScriptedVcenter(
        answers={
            "POST /api/content/library": [httpx.ReadTimeout("slow"), httpx.Response(200, json=["lib-1"])]
        }
    )
    client = client_for(fake)
    assert client.request(
        "POST", "/api/content/library", body={"name": "x"}, params={"action": "find"}, repeatable=True
    ) == ["lib-1"]


def test_a_permanent_4xx_fails_at_once_with_vcenters_message() -> None:
    invalid = httpx.Response(
        400,
        json={
            "error_type": "INVALID_ARGUMENT",
            "messages": [
                {"id": "vcenter.wcp.vmclass.invalid", "default_message": "cpu_count must be at least 1."}
            ],
        },
    )
    fake = ScriptedVcenter(
        answers={"POST /api/vcenter/namespace-management/virtual-machine-classes": [invalid]}
    )
    client = client_for(fake, attempts=5)
    with pytest.raises(VcenterError) as caught:
        client.post("/api/vcenter/namespace-management/virtual-machine-classes", {"id": "c", "cpu_count": 0})
    error = caught.value
    assert (error.status, error.error_type, error.messages) == (
        400,
        "INVALID_ARGUMENT",
        ("cpu_count must be at least 1.",),
    )
    assert "400 INVALID_ARGUMENT: cpu_count must be at least 1." in str(error)
    assert client.request_count == 2, "one login, one request: no retries"


def test_404_is_not_found_and_find_and_delete_say_so() -> None:
    missing = httpx.Response(404, json={"error_type": "NOT_FOUND", "messages": []})
    fake = ScriptedVcenter(
        answers={f"GET {NAMESPACES}/gone": [missing], f"DELETE {NAMESPACES}/gone": [missing]}
    )
    client = client_for(fake)
    assert client.find(f"{NAMESPACES}/gone") is None
    assert client.delete(f"{NAMESPACES}/gone") is False
    with pytest.raises(VcenterNotFound):
        client.get(f"{NAMESPACES}/gone")


def test_a_2xx_is_success_whatever_its_body_says() -> None:
    # vcsim answers a successful namespace PATCH with 200 and a NOT_FOUND body.
    quirk = httpx.Response(200, text='{"error_type":"NOT_FOUND", "messages":[]}')
    fake = ScriptedVcenter(answers={f"PATCH {NAMESPACES}/ns": [quirk]})
    client_for(fake).patch(f"{NAMESPACES}/ns", {"vm_service_spec": {}})


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"error_type": "NOT_FOUND", "messages": [{"default_message": "Namespace ns not found."}]},
            ("NOT_FOUND", ("Namespace ns not found.",)),
        ),
        (
            {
                "type": "com.vmware.vapi.std.errors.already_exists",
                "value": {"messages": [{"default_message": "exists"}]},
            },
            ("ALREADY_EXISTS", ("exists",)),
        ),
        (
            {"type": "com.vmware.vapi.std.errors.error", "value": {"error_type": "ERROR", "messages": []}},
            ("ERROR", ()),
        ),
        ("plain text", ("", ("plain text",))),
    ],
)
def test_both_vcenter_error_shapes_are_parsed(body: Any, expected: tuple[str, tuple[str, ...]]) -> None:
    response = httpx.Response(400, text=body if isinstance(body, str) else json.dumps(body))
    assert parse_error(response) == expected


def test_an_empty_password_or_plain_http_without_insecure_is_refused() -> None:
    with pytest.raises(VcenterError, match="no password for vCenter user 'admin'"):
        VcenterClient(Endpoint(host="vc.test", username="admin", password=""))
    with pytest.raises(VcenterError, match="only for the simulator"):
        VcenterClient(Endpoint(host="vc.test", username="admin", password="x", protocol="http"))


def test_tls_verification_is_on_by_default() -> None:
    default = Endpoint(host="vc.test", username="admin", password="x").ssl_context()
    assert default is not None and default.verify_mode == ssl.CERT_REQUIRED and default.check_hostname
    insecure = Endpoint(host="vc.test", username="admin", password="x", insecure=True).ssl_context()
    assert insecure is not None and insecure.verify_mode == ssl.CERT_NONE
    assert Endpoint(host="vc.test:8989", username="a", password="x", protocol="http").port == 8989
    assert Endpoint(host="vc.test", username="a", password="x").port == 443


# -- a real HTTPS server ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def tls_vcenter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 with a fresh self-signed certificate; (host:port, CA file)."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )

    class Legacy(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            status, body = (
                (404, b"404 page not found") if self.path == SESSION_PATH else (200, b'{"value":"t"}')
            )
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"[]")

        def do_DELETE(self) -> None:
            self.do_GET()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Legacy)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", cert_file
    finally:
        server.shutdown()
        server.server_close()


def test_tls_is_verified_unless_told_otherwise(tls_vcenter: tuple[str, Path]) -> None:
    host, ca_file = tls_vcenter
    untrusted = VcenterClient(Endpoint(host=host, username="admin", password="x", attempts=3), backoff=0.001)
    with pytest.raises(VcenterError, match=r"TLS verification of vCenter at .* failed") as caught:
        untrusted.get(NAMESPACES)
    assert untrusted.request_count == 1, "a certificate failure is not retried"
    assert "caBundle" in str(caught.value)
    with VcenterClient(
        Endpoint(host=host, username="admin", password="x", ca_bundle=str(ca_file))
    ) as trusted:
        assert trusted.get(NAMESPACES) == []
    with VcenterClient(Endpoint(host=host, username="admin", password="x", insecure=True)) as simulator:
        assert simulator.get(NAMESPACES) == []
