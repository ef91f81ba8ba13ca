"""The local registry standing in for Harbor (localenv/registry.py), run for real.

Debian's docker-registry on a free loopback port in a temporary localenv home, with the
local CA's certificate and htpasswd auth; small OCI images made here with umoci are pushed
with skopeo and read back by digest. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from localenv import processes, registry
from localenv.layout import Layout
from localenv.pki import Pki

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Running:
    layout: Layout
    port: int

    @property
    def registry_port(self) -> int:
        return self.port

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def client(self, auth: tuple[str, str] | None) -> httpx.Client:
        return httpx.Client(verify=str(Pki(self.layout.pki_dir).ca_cert), auth=auth, timeout=10)

    @property
    def credentials(self) -> tuple[str, str]:
        return registry.USERNAME, registry.password(self.layout)


def _stop(layout: Layout) -> None:
    processes.sweep(layout.home)


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    # Under /tmp (not pytest's 0700 directory): the registry runs as `nobody` and must
    # reach its data directory.
    home = Path(tempfile.mkdtemp(prefix="paif-registry-"))
    layout = Layout(home)
    port = processes.free_port()
    try:
        registry.start_registry(layout, port)
        yield Running(layout, port)
    finally:
        _stop(layout)
        shutil.rmtree(home, ignore_errors=True)


def make_image(directory: Path, name: str) -> Path:
    """A one-layer OCI image with unique content, and a build manifest naming it (the
    format toolchain/images/build.py writes)."""
    layout = directory / "oci"
    if not (layout / "index.json").exists():
        subprocess.run(["umoci", "init", "--layout", str(layout)], check=True)
    content = directory / f"{name}-content"
    content.mkdir()
    (content / "hello.txt").write_text(f"{name} {time.time_ns()}\n")
    tag = f"{name}-test"
    subprocess.run(["umoci", "new", "--image", f"{layout}:{tag}"], check=True)
    subprocess.run(["umoci", "insert", "--image", f"{layout}:{tag}", str(content), "/srv/hello"], check=True)
    index = json.loads((layout / "index.json").read_text())
    digest = next(
        m["digest"]
        for m in index["manifests"]
        if m["annotations"]["org.opencontainers.image.ref.name"] == tag
    )
    manifest = directory / f"{name}.json"
    image = {
        "layout": str(layout),
        "tag": tag,
        "version": f"0.0.0-{digest[7:19]}",
        "digest": digest,
        "size": 0,
    }
    manifest.write_text(json.dumps({name: image}))
    return manifest


def test_listens_on_loopback_only(running: Running) -> None:
    listening = []
    for line in (
        Path("/proc/net/tcp").read_text().splitlines()[1:]
        + Path("/proc/net/tcp6").read_text().splitlines()[1:]
    ):
        local, state = line.split()[1], line.split()[3]
        if state == "0A" and int(local.rsplit(":", 1)[1], 16) == running.port:
            listening.append(local.rsplit(":", 1)[0])
    assert listening == ["0100007F"]


def test_anonymous_and_wrong_password_are_rejected(running: Running) -> None:
    with running.client(None) as client:
        assert client.get(f"{running.url}/v2/").status_code == 401
        assert client.get(f"{running.url}/v2/_catalog").status_code == 401
    with running.client((registry.USERNAME, "not-the-password")) as client:
        assert client.get(f"{running.url}/v2/").status_code == 401
    with running.client(("someone-else", registry.password(running.layout))) as client:
        assert client.get(f"{running.url}/v2/").status_code == 401
    with running.client(running.credentials) as client:
        response = client.get(f"{running.url}/v2/")
    assert response.status_code == 200
    assert response.headers["Docker-Distribution-Api-Version"] == "registry/2.0"


def test_tls_is_the_local_cas_certificate_for_both_names(running: Running) -> None:
    # The system trust store does not know our CA: verification must fail without it.
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{running.url}/v2/", timeout=5)
    context = ssl.create_default_context(cafile=str(Pki(running.layout.pki_dir).ca_cert))
    with (
        socket.create_connection(("127.0.0.1", running.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=registry.REGISTRY_HOST) as tls,
    ):
        cert = tls.getpeercert()
        version = tls.version()
    assert cert is not None
    names = {str(entry[1]) for entry in cert["subjectAltName"]}
    assert names == {registry.REGISTRY_HOST, "127.0.0.1"}
    assert version in {"TLSv1.2", "TLSv1.3"}


def test_push_then_pull_by_digest(running: Running, tmp_path: Path) -> None:
    manifest = make_image(tmp_path, "roundtrip")
    built = json.loads(manifest.read_text())["roundtrip"]
    messages: list[str] = []
    refs = registry.push_images(running.layout, running, manifest=manifest, log=messages.append)
    assert refs == {"roundtrip": f"registry.local.paif.test/paif/roundtrip@{built['digest']}"}
    assert len(messages) == 1 and "pushed paif/roundtrip" in messages[0]

    accept = {"Accept": ", ".join(registry.MANIFEST_TYPES)}
    with running.client(running.credentials) as client:
        response = client.get(f"{running.url}/v2/paif/roundtrip/manifests/{built['digest']}", headers=accept)
        assert response.status_code == 200
        assert "sha256:" + hashlib.sha256(response.content).hexdigest() == built["digest"]
        layer = response.json()["layers"][0]["digest"]
        blob = client.get(f"{running.url}/v2/paif/roundtrip/blobs/{layer}", follow_redirects=True)
        assert "sha256:" + hashlib.sha256(blob.content).hexdigest() == layer
        by_tag = client.head(f"{running.url}/v2/paif/roundtrip/manifests/{built['version']}", headers=accept)
        assert by_tag.headers["Docker-Content-Digest"] == built["digest"]
    with running.client(None) as client:
        assert client.get(f"{running.url}/v2/paif/roundtrip/manifests/{built['digest']}").status_code == 401

    # A real client pulls it back by digest (skopeo, credentials in an authfile).
    auth = tmp_path / "auth.json"
    auth.write_text(registry.auth_file_content(running.port, *running.credentials))
    auth.chmod(0o600)
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copyfile(Pki(running.layout.pki_dir).ca_cert, certs / "ca.crt")
    pulled = tmp_path / "pulled"
    subprocess.run(
        [
            "skopeo", "copy", "--quiet", "--preserve-digests", "--src-authfile", str(auth), "--src-cert-dir",
            str(certs), f"docker://127.0.0.1:{running.port}/paif/roundtrip@{built['digest']}", f"oci:{pulled}:x",
        ],
        check=True,
        timeout=120,
    )  # fmt: skip
    index = json.loads((pulled / "index.json").read_text())
    assert index["manifests"][0]["digest"] == built["digest"]

    # The same push again finds the tag with that digest and copies nothing.
    messages.clear()
    assert registry.push_images(running.layout, running, manifest=manifest, log=messages.append) == refs
    assert messages == []


def _cmdlines() -> list[tuple[int, bytes]]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found.append((int(entry.name), (entry / "cmdline").read_bytes()))
            except OSError:
                continue
    return found


def test_no_credential_in_any_command_line_or_log_while_pushing(running: Running, tmp_path: Path) -> None:
    manifest = make_image(tmp_path, "secretcheck")
    secret = registry.password(running.layout)
    token = registry.auth_file_content(running.port, registry.USERNAME, secret)
    needles = [secret.encode(), json.loads(token)["auths"][f"127.0.0.1:{running.port}"]["auth"].encode()]
    leaks: list[tuple[int, bytes]] = []
    skopeo_seen: list[bytes] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for pid, cmdline in _cmdlines():
                if any(n in cmdline for n in needles):
                    leaks.append((pid, cmdline))
                if cmdline.startswith(b"skopeo\0"):
                    skopeo_seen.append(cmdline)
            time.sleep(0.005)

    temp_before = set(Path(tempfile.gettempdir()).glob("paif-push-*"))
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        registry.push_images(running.layout, running, manifest=manifest, log=lambda _: None)
    finally:
        done.set()
        watcher.join()
    assert skopeo_seen, "the watcher never saw skopeo run: it proved nothing"
    assert b"--dest-authfile" in skopeo_seen[0]
    assert leaks == []
    # The authfile's private directory is gone, and the registry's log has no secret.
    assert set(Path(tempfile.gettempdir()).glob("paif-push-*")) == temp_before
    log = (running.layout.logs / "registry.log").read_bytes()
    assert b"secretcheck" in log  # the log is the right one: it recorded the push
    assert not any(n in log for n in needles)


def test_files_are_private(running: Running) -> None:
    files = registry.paths(running.layout)
    for path in (files.config, files.htpasswd, files.key):
        assert path.stat().st_mode & 0o077 == 0, path
    assert registry.password(running.layout) not in files.config.read_text()
    assert registry.password(running.layout) not in files.htpasswd.read_text()


def test_data_survives_a_restart(running: Running, tmp_path: Path) -> None:
    manifest = make_image(tmp_path, "survivor")
    digest = json.loads(manifest.read_text())["survivor"]["digest"]
    registry.push_images(running.layout, running, manifest=manifest, log=lambda _: None)
    _stop(running.layout)
    assert processes.wait_ports_free([running.port], timeout=10) == []
    registry.start_registry(running.layout, running.port)
    with running.client(running.credentials) as client:
        response = client.head(
            f"{running.url}/v2/paif/survivor/manifests/{digest}",
            headers={"Accept": ", ".join(registry.MANIFEST_TYPES)},
        )
    assert response.status_code == 200
