"""The local ingress controller for real: Traefik (built by make setup) against the local
control plane, serving an Ingress over TLS on 127.0.0.1 with the Ingress's own certificate.

No pods are needed: the backend is an HTTP server this test runs on the host, published
to the cluster as a selector-less Service with a hand-written EndpointSlice. The API server
refuses loopback endpoint addresses, so the server listens on 198.18.255.254, an address of
the cluster CIDR (198.18.0.0/16) that this test puts on its own bridge `paif-ingt0` (outside
the node's 198.18.0.0/24) and removes afterwards: traffic to it never leaves the host.
Every request loop is bounded in count and time.
"""

from __future__ import annotations

import base64
import datetime
import http.server
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from localenv import ingress, node, processes
from localenv.layout import Layout
from localenv.pki import Pki
from localenv.services import Services, start_services, stop_services

pytestmark = pytest.mark.integration

NAMESPACE = "paif-ingress-test"
HOST = "app.ingress.paif.test"
OTHER_HOST = "other.ingress.paif.test"
UNCLASSED_HOST = "unclassed.ingress.paif.test"
BACKEND_BRIDGE = "paif-ingt0"
BACKEND_IP = "198.18.255.254"
ROUTE_TIMEOUT = 60.0
ROUTE_TRIES = 120


# --- the backend stand-in --------------------------------------------------------------


@dataclass
class Backend:
    """An HTTP server on BACKEND_IP that records what reaches it."""

    server: http.server.ThreadingHTTPServer
    seen: list[dict[str, str]] = field(default_factory=list)

    @property
    def port(self) -> int:
        port: int = self.server.server_address[1]
        return port


def _start_backend() -> Backend:
    seen: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(
                {
                    "path": self.path,
                    "host": self.headers.get("Host", ""),
                    "proto": self.headers.get("X-Forwarded-Proto", ""),
                }
            )
            body = f"paif backend stand-in: {self.path}\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer((BACKEND_IP, 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    return Backend(server, seen)


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=False)


@pytest.fixture(scope="module")
def backend() -> Iterator[Backend]:
    assert os.geteuid() == 0, "this test adds an address on its own bridge: run it as root"
    _ip("link", "del", BACKEND_BRIDGE)  # left by a crashed run
    for args in (
        ("link", "add", BACKEND_BRIDGE, "type", "bridge"),
        ("addr", "add", f"{BACKEND_IP}/32", "dev", BACKEND_BRIDGE),
        ("link", "set", BACKEND_BRIDGE, "up"),
    ):
        result = _ip(*args)
        assert result.returncode == 0, f"ip {' '.join(args)}: {result.stderr}"
    server = None
    try:
        server = _start_backend()
        yield server
    finally:
        if server is not None:
            server.server.shutdown()
            server.server.server_close()
        _ip("link", "del", BACKEND_BRIDGE)


# --- the control plane and Traefik --------------------------------------------------------


@dataclass
class Cluster:
    layout: Layout
    services: Services
    pki: Pki
    process: subprocess.Popen[bytes]
    traefik_log: Path

    @property
    def port(self) -> int:
        return ingress.ingress_port(self.layout.load_state())

    def api(self) -> httpx.Client:
        return ingress.admin_client(self.pki, self.services.apiserver_url)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    # Not pytest's tmp_path: PostgreSQL (started with the other services) runs as the
    # `postgres` account when we are root and must reach its directory.
    base = Path(tempfile.mkdtemp(prefix="paif-ingress-"))
    base.chmod(0o711)
    layout = Layout(base / "home")
    try:
        # The control plane without the node's components: no pod runs here, and Traefik
        # proxies from the host. (start_services imports localenv.node at call time.)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(node, "start_node", lambda *_args, **_kwargs: None)
            services = start_services(layout, log=lambda _m: None)
        pki = Pki(layout.pki_dir)
        state = layout.load_state()
        if ingress.ingress_healthy(state):
            # localenv's own start already runs it (services.py wires it in).
            entry = state["services"][ingress.NAME]
            process: Any = None
            log = Path(entry["log"])
            assert processes.alive(entry["pid"], entry.get("started"))
        else:
            ports: dict[str, int] = {}
            while len(set(ports.values())) < len(ingress.PORTS):
                ports = {name: processes.free_port() for name in ingress.PORTS}
            process, log = ingress.start_ingress(layout, ports, pki, services.apiserver_url)
        yield Cluster(layout, services, pki, process, log)
    finally:
        try:
            ingress.stop_ingress(layout)
            stop_services(layout, log=lambda _m: None)
        finally:
            processes.sweep(layout.home)
            shutil.rmtree(base, ignore_errors=True)


# --- certificates and objects ----------------------------------------------------------------


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _issue_tls(hosts: list[str]) -> tuple[str, str, str]:
    """(CA PEM, certificate PEM for `hosts`, key PEM): what a self-signed Ingress Secret holds."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "paif-ingress-test-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return _pem(ca), _pem(leaf), key_pem


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _create(api: httpx.Client, path: str, body: dict[str, Any]) -> None:
    response = api.post(path, json=body)
    assert response.status_code == 201, f"POST {path}: {response.status_code} {response.text[:500]}"


def _ingress(name: str, host: str, ingress_class: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "tls": [{"hosts": [host], "secretName": "app-tls"}],
        "rules": [
            {
                "host": host,
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "backend", "port": {"name": "http"}}},
                        }
                    ]
                },
            }
        ],
    }
    if ingress_class is not None:
        spec["ingressClassName"] = ingress_class
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name}, "spec": spec}


@dataclass(frozen=True)
class App:
    ca_pem: str


@pytest.fixture(scope="module")
def app(cluster: Cluster, backend: Backend) -> App:
    """The objects a deployed app would have, pointing at the backend stand-in. The Ingresses
    that must not be served are created first: once the served one routes, Traefik has seen them."""
    ca_pem, cert_pem, key_pem = _issue_tls([HOST])
    ns = f"/api/v1/namespaces/{NAMESPACE}"
    with cluster.api() as api:
        _create(api, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        _create(
            api,
            f"{ns}/secrets",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "app-tls"},
                "type": "kubernetes.io/tls",
                "data": {"tls.crt": _b64(cert_pem), "tls.key": _b64(key_pem), "ca.crt": _b64(ca_pem)},
            },
        )
        _create(
            api,
            f"{ns}/services",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "backend"},
                # No selector: its endpoints are ours to write.
                "spec": {"ports": [{"name": "http", "port": 80, "targetPort": backend.port, "protocol": "TCP"}]},
            },
        )
        _create(
            api,
            f"/apis/discovery.k8s.io/v1/namespaces/{NAMESPACE}/endpointslices",
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {"name": "backend-standin", "labels": {"kubernetes.io/service-name": "backend"}},
                "addressType": "IPv4",
                "endpoints": [{"addresses": [BACKEND_IP], "conditions": {"ready": True, "serving": True}}],
                "ports": [{"name": "http", "port": backend.port, "protocol": "TCP"}],
            },
        )
        _create(
            api,
            "/apis/networking.k8s.io/v1/ingressclasses",
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "IngressClass",
                "metadata": {"name": "paif-ingress-test-other"},
                "spec": {"controller": "example.com/another-controller"},
            },
        )
        networking = f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/ingresses"
        _create(api, networking, _ingress("other-class", OTHER_HOST, "paif-ingress-test-other"))
        _create(api, networking, _ingress("no-class", UNCLASSED_HOST, None))
        _create(api, networking, _ingress("served", HOST, ingress.INGRESS_CLASS))
    return App(ca_pem)


# --- requests -----------------------------------------------------------------------------------


def _get(port: int, host: str, verify: ssl.SSLContext | bool, path: str = "/") -> httpx.Response:
    """GET https://<host>:<port><path> sent to 127.0.0.1 (SNI and Host = host)."""
    with httpx.Client(verify=verify, timeout=5) as client:
        return client.get(
            f"https://127.0.0.1:{port}{path}", headers={"Host": f"{host}:{port}"}, extensions={"sni_hostname": host}
        )


def _verified(ca_pem: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=ca_pem)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _until(what: str, attempt: Any, log: Path) -> Any:
    """Call `attempt` until it returns something truthy: at most ROUTE_TRIES times within
    ROUTE_TIMEOUT seconds. Fails with the last result and Traefik's log."""
    deadline = time.monotonic() + ROUTE_TIMEOUT
    last: Any = None
    for _ in range(ROUTE_TRIES):
        try:
            last = attempt()
        except httpx.HTTPError as error:
            last = error
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    pytest.fail(f"{what}: last result {last!r}; traefik log:\n{tail}")


def _ingress_status(cluster: Cluster, name: str) -> list[dict[str, Any]]:
    with cluster.api() as api:
        response = api.get(f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/ingresses/{name}")
    response.raise_for_status()
    found: list[dict[str, Any]] = ((response.json().get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return found


# --- tests ------------------------------------------------------------------------------------


def test_ingress_is_served_over_tls_verified_against_its_secret(cluster: Cluster, app: App, backend: Backend) -> None:
    def routed() -> httpx.Response | None:
        response = _get(cluster.port, HOST, _verified(app.ca_pem), "/hello?x=1")
        return response if response.status_code == 200 else None

    response = _until(f"https://{HOST}:{cluster.port}/hello through Traefik", routed, cluster.traefik_log)
    assert response.text == "paif backend stand-in: /hello?x=1\n"
    assert backend.seen[-1] == {"path": "/hello?x=1", "host": f"{HOST}:{cluster.port}", "proto": "https"}
    # The same with curl, as the README tells users to call the app.
    ca_file = cluster.layout.home / "ingress-test-ca.crt"
    ca_file.write_text(app.ca_pem)
    result = subprocess.run(
        [
            "curl", "--silent", "--show-error", "--fail", "--max-time", "10",
            "--resolve", f"{HOST}:{cluster.port}:127.0.0.1", "--cacert", str(ca_file),
            f"https://{HOST}:{cluster.port}/curl",
        ],
        capture_output=True, text=True, timeout=20, check=False,
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (0, "paif backend stand-in: /curl\n"), result.stderr


def test_ingress_status_publishes_loopback(cluster: Cluster, app: App) -> None:
    status = _until(
        "status.loadBalancer.ingress of the served Ingress", lambda: _ingress_status(cluster, "served"), cluster.traefik_log
    )
    assert status == [{"ip": "127.0.0.1"}]


def test_ingress_of_another_class_or_none_is_not_served(cluster: Cluster, app: App) -> None:
    # Once the served Ingress routes, Traefik has read the two created before it.
    _until(
        "the served Ingress",
        lambda: _get(cluster.port, HOST, _verified(app.ca_pem)).status_code == 200,
        cluster.traefik_log,
    )
    for host, name in ((OTHER_HOST, "other-class"), (UNCLASSED_HOST, "no-class")):
        # No router: Traefik's default certificate (so not verifiable with the app's CA) and 404.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            _get(cluster.port, host, _verified(app.ca_pem))
        assert _get(cluster.port, host, verify=False).status_code == 404
        assert _ingress_status(cluster, name) == []


def test_nothing_is_served_in_plain_http(cluster: Cluster, app: App, backend: Backend) -> None:
    _until(
        "the served Ingress",
        lambda: _get(cluster.port, HOST, _verified(app.ca_pem)).status_code == 200,
        cluster.traefik_log,
    )
    seen = len(backend.seen)
    # Traefik's entrypoint tells TLS from plain HTTP by the first bytes; the Ingress's routers
    # are TLS routers (entrypoint http.tls), so plain HTTP matches none of them.
    with httpx.Client(timeout=5) as client:
        response = client.get(f"http://127.0.0.1:{cluster.port}/plain", headers={"Host": HOST})
    assert response.status_code == 404
    assert len(backend.seen) == seen


def _listening_ports(pid: int) -> set[tuple[str, int]]:
    """(address, port) of the TCP sockets process `pid` listens on, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # LISTEN
                address, port = local.split(":")
                if len(address) == 8:
                    address = ".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0))
                found.add((address, int(port, 16)))
    return found


def test_traefik_listens_on_loopback_only_and_keeps_its_token_private(cluster: Cluster) -> None:
    state = cluster.layout.load_state()
    entry = state["services"][ingress.NAME]
    ports = state["ports"]
    assert _listening_ports(entry["pid"]) == {
        ("127.0.0.1", ports[ingress.PORT]),
        ("127.0.0.1", ports[ingress.PING_PORT]),
    }
    files = ingress.IngressFiles(cluster.layout)
    token = files.token.read_text()
    assert token.count(".") == 2  # a JWT
    for path in (files.config, files.token):
        assert path.stat().st_mode & 0o777 == 0o600
    assert token not in files.config.read_text()
    assert token.encode() not in Path(f"/proc/{entry['pid']}/cmdline").read_bytes()
    assert token not in cluster.traefik_log.read_text(errors="replace")
    assert ingress.ingress_healthy(state)


# The API server's optimistic-concurrency answer to a write from a stale copy: Traefik wrote
# the Ingress status from its cache while an earlier write of its own was landing (seen once in
# CI run 28), and writes it again on its next event. Not a permission problem; the status it
# ends with is checked by the `_until` below and by test_ingress_status_publishes_loopback.
CONFLICT = "the object has been modified; please apply your changes to the latest version"


def test_traefik_is_allowed_everything_it_reads(cluster: Cluster, app: App) -> None:
    _until("the served Ingress", lambda: _ingress_status(cluster, "served"), cluster.traefik_log)
    log = cluster.traefik_log.read_text(errors="replace")
    assert "forbidden" not in log.lower(), log[-3000:]
    errors = [line for line in log.splitlines() if " ERR " in line and CONFLICT not in line]
    assert errors == [], log[-3000:]


def test_objects_apply_again_without_change(cluster: Cluster) -> None:
    with cluster.api() as api:
        before = api.get(f"/apis/networking.k8s.io/v1/ingressclasses/{ingress.INGRESS_CLASS}").json()
        ingress.apply_objects(api)
        after = api.get(f"/apis/networking.k8s.io/v1/ingressclasses/{ingress.INGRESS_CLASS}").json()
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["spec"] == {"controller": "traefik.io/ingress-controller"}
