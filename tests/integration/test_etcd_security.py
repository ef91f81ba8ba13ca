"""The local etcd as a real control plane runs it: TLS with client certificates only, Secrets
encrypted at rest by the API server, and a data directory from the plain-HTTP days reused.

etcd is started by the local environment's own starter (localenv/services.py `_Starter.etcd`);
the API server with the etcd flags the starter gives it (`apiserver_etcd_args`) and no more.
"""

from __future__ import annotations

import base64
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from localenv import processes
from localenv.etcd import ENCRYPTED_PREFIX, apiserver_etcd_args, client_tls, etcd_certs, etcd_healthy
from localenv.layout import Layout
from localenv.pki import Pki, ensure_pki
from localenv.services import _Starter, apiserver_command, tool

pytestmark = pytest.mark.integration


def wait_for(what: str, check: Any, timeout: float, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{what} exited: {log.read_text()[-3000:]}"
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not ready after {timeout} s: {log.read_text()[-3000:]}")


def etcd_get(port: int, key: str, tls: ssl.SSLContext | None) -> bytes | None:
    """The raw value stored at `key` (etcd's JSON gateway), None when absent."""
    response = httpx.post(
        f"https://127.0.0.1:{port}/v3/kv/range",
        json={"key": base64.b64encode(key.encode()).decode()},
        verify=tls if tls is not None else ssl.create_default_context(),
        timeout=5,
    )
    response.raise_for_status()
    kvs = response.json().get("kvs") or []
    return base64.b64decode(kvs[0]["value"]) if kvs else None


@pytest.fixture
def layout(tmp_path: Path) -> Iterator[Layout]:
    layout = Layout(tmp_path / "home")
    layout.prepare()
    try:
        yield layout
    finally:
        processes.sweep(layout.home)


def start_etcd(layout: Layout, pki: Pki) -> tuple[subprocess.Popen[bytes], int]:
    ports = {"etcd": processes.free_port(), "etcd-peer": processes.free_port()}
    process, log = _Starter(layout, {}, ports).etcd(pki)
    wait_for("etcd", lambda: etcd_healthy(ports["etcd"], pki), 30, process, log)
    return process, ports["etcd"]


def test_etcd_answers_only_clients_with_a_certificate_from_the_local_ca(layout: Layout) -> None:
    pki = ensure_pki(layout.pki_dir)
    _, port = start_etcd(layout, pki)
    certs = etcd_certs(pki)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
    no_client_cert = ssl.create_default_context(cafile=str(pki.ca_cert))
    with pytest.raises(httpx.HTTPError):
        etcd_get(port, "/registry/secrets/default/anything", no_client_cert)
    assert (
        etcd_get(port, "/registry/secrets/default/anything", client_tls(pki, certs.apiserver_client)) is None
    )


def test_a_plain_http_data_directory_is_reused_over_tls(layout: Layout) -> None:
    """A data directory written before etcd used TLS (peer URL http://) keeps its data."""
    pki = ensure_pki(layout.pki_dir)
    port, peer = processes.free_port(), processes.free_port()
    layout.etcd_dir.mkdir(mode=0o700)
    client_url, peer_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{peer}"
    log = layout.logs / "etcd-plain.log"
    plain = processes.spawn(
        [
            str(tool("etcd")),
            "--name=paif-local",
            f"--data-dir={layout.etcd_dir}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=paif-local={peer_url}",
        ],
        home=layout.home,
        log=log,
    )

    def plain_healthy() -> bool:
        try:
            return httpx.get(f"{client_url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for("plain etcd", plain_healthy, 30, plain, log)
    key, value = (
        base64.b64encode(b"/kept/across/the/switch").decode(),
        base64.b64encode(b"data is sacred").decode(),
    )
    httpx.post(f"{client_url}/v3/kv/put", json={"key": key, "value": value}, timeout=5).raise_for_status()
    processes.stop(plain.pid, processes.start_time(plain.pid))

    _, tls_port = start_etcd(layout, pki)
    tls = client_tls(pki, etcd_certs(pki).apiserver_client)
    assert etcd_get(tls_port, "/kept/across/the/switch", tls) == b"data is sacred"


def test_secrets_reach_etcd_encrypted_and_the_key_is_kept(layout: Layout) -> None:
    pki = ensure_pki(layout.pki_dir)
    _, etcd_port = start_etcd(layout, pki)
    certs = etcd_certs(pki)
    api_port = processes.free_port()
    log = layout.logs / "kube-apiserver.log"
    apiserver = processes.spawn(
        [*apiserver_command(pki, etcd_port, api_port, service_cidr="198.19.0.0/24"), "--authorization-mode=RBAC"],
        home=layout.home,
        log=log,
    )
    admin = client_tls(pki, (pki.admin_cert, pki.admin_key))
    api = f"https://127.0.0.1:{api_port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{api}/readyz", verify=admin, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for("kube-apiserver", ready, 120, apiserver, log)
    plaintext = "s3cret-" + base64.b16encode(pki.ca_cert.read_bytes()[-8:]).decode()
    created = httpx.post(
        f"{api}/api/v1/namespaces/default/secrets",
        json={
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "probe"},
            "stringData": {"password": plaintext},
        },
        verify=admin,
        timeout=10,
    )
    assert created.status_code == 201, created.text

    stored = etcd_get(etcd_port, "/registry/secrets/default/probe", client_tls(pki, certs.apiserver_client))
    assert stored is not None and stored.startswith(ENCRYPTED_PREFIX), stored[:40] if stored else stored
    assert plaintext.encode() not in stored and base64.b64encode(plaintext.encode()) not in stored
    no_client_cert = ssl.create_default_context(cafile=str(pki.ca_cert))
    with pytest.raises(httpx.HTTPError):
        etcd_get(etcd_port, "/registry/secrets/default/probe", no_client_cert)

    # The API server decrypts it; the key file is private and the same after a restart's setup.
    read = httpx.get(f"{api}/api/v1/namespaces/default/secrets/probe", verify=admin, timeout=10).json()
    assert base64.b64decode(read["data"]["password"]).decode() == plaintext
    key_file = pki.directory / "secrets-encryption.key"
    key = key_file.read_bytes()
    assert key_file.stat().st_mode & 0o777 == 0o600
    apiserver_etcd_args(pki, etcd_certs(pki), etcd_port)
    assert key_file.read_bytes() == key
    assert (pki.directory / "encryption-config.yaml").stat().st_mode & 0o777 == 0o600
