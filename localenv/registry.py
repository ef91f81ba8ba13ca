"""The local OCI registry standing in for Harbor, and how images get into it and out of it.

Debian's `docker-registry` (distribution v2; toolchain/setup-images.sh takes the binary out
of its package) listens on 127.0.0.1:<port> with TLS from the local CA (a certificate for
127.0.0.1 and registry.local.paif.test) and htpasswd basic auth. Its data lives in
`.localenv/registry/data` and survives restarts; only `make clean` removes it.

Image references use the host `registry.local.paif.test`; containerd maps that name to
https://127.0.0.1:<port> through `<home>/node/containerd/certs.d/registry.local.paif.test/
hosts.toml` (`write_containerd_hosts`) and pulls with the credentials of
`containerd_registry_toml` (containerd 1.6: with `config_path` set, the CRI plugin looks up
`registry.configs."<host>".auth` by the host it actually contacts, i.e. the mirror
`127.0.0.1:<port>`, not by the image's registry name).

The password is generated once into `.localenv/secrets.json`; it never appears on a command
line or in a log. skopeo gets it in an --authfile (0600, in a private temporary directory
removed after the push).
"""

from __future__ import annotations

import base64
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from localenv import processes
from localenv.files import write_private
from localenv.layout import ROOT, Layout
from localenv.pki import Pki, ensure_pki, issue_leaf

REGISTRY_HOST = "registry.local.paif.test"
PROJECT = "paif"
USERNAME = "paif"
# Names of entries in .localenv/secrets.json, not secrets.
PASSWORD_SECRET = "registry_password"  # noqa: S105
HTTP_SECRET = "registry_http_secret"  # noqa: S105
SERVICE = "registry"
CERT_NAME = "registry"
IMAGES_MANIFEST = ROOT / ".tools" / "images.json"
TOOLS = ROOT / ".tools" / "bin"
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


class RegistryError(RuntimeError):
    """The registry did not start, refused us, or a push failed."""


class HasRegistryPort(Protocol):
    """What `push_images` needs from the running services."""

    @property
    def registry_port(self) -> int: ...


@dataclass(frozen=True)
class RegistryPaths:
    """The files of the registry under `.localenv/registry`."""

    directory: Path

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def config(self) -> Path:
        return self.directory / "config.yml"

    @property
    def htpasswd(self) -> Path:
        return self.directory / "htpasswd"

    @property
    def cert(self) -> Path:
        return self.directory / "tls.crt"

    @property
    def key(self) -> Path:
        return self.directory / "tls.key"


def paths(layout: Layout) -> RegistryPaths:
    return RegistryPaths(layout.home / "registry")


def password(layout: Layout) -> str:
    return layout.secret(PASSWORD_SECRET)


def registry_port(layout: Layout) -> int:
    """The port localenv chose for the registry (state.json)."""
    port = (layout.load_state().get("ports") or {}).get(SERVICE)
    if not isinstance(port, int):
        raise RegistryError(f"no registry port in {layout.state_file}: start the local services first")
    return port


def _binary() -> Path:
    path = TOOLS / "docker-registry"
    if not path.exists():
        raise RegistryError(f"docker-registry not found in {TOOLS}: run make setup")
    return path


def account() -> pwd.struct_passwd | None:
    """The registry needs no privilege: as root we run it as `nobody`."""
    if os.geteuid() != 0:
        return None
    return pwd.getpwnam("nobody")


def htpasswd_line(user: str, secret: str) -> str:
    """`user:<bcrypt hash>` (the registry accepts bcrypt only), from apache2-utils' htpasswd
    with the password on its standard input, never in its argv."""
    result = subprocess.run(
        ["htpasswd", "-niBC", "10", user],
        input=f"{secret}\n",
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    line = result.stdout.strip()
    if result.returncode != 0 or not line.startswith(f"{user}:$2"):
        raise RegistryError(f"htpasswd failed (exit {result.returncode}): {result.stderr.strip()}")
    return line


def _htpasswd_current(path: Path, user: str, secret: str) -> bool:
    """Whether `path` already holds a bcrypt hash of `secret` for `user` (checked by the
    registry's own rule: a request with these credentials is accepted)."""
    if not path.exists():
        return False
    result = subprocess.run(
        ["htpasswd", "-vi", str(path), user],
        input=f"{secret}\n",
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return result.returncode == 0


def config_yaml(layout: Layout, port: int) -> str:
    """The registry's configuration (JSON is YAML): 127.0.0.1 only, TLS, htpasswd."""
    files = paths(layout)
    document = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(files.data)},
            "delete": {"enabled": True},
            "maintenance": {
                "uploadpurging": {"enabled": True, "age": "168h", "interval": "24h", "dryrun": False}
            },
        },
        "http": {
            "addr": f"127.0.0.1:{port}",
            "secret": layout.secret(HTTP_SECRET),
            "tls": {"certificate": str(files.cert), "key": str(files.key), "minimumtls": "tls1.2"},
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        },
        "auth": {"htpasswd": {"realm": "paif-local-registry", "path": str(files.htpasswd)}},
        "health": {"storagedriver": {"enabled": True, "interval": "10s", "threshold": 3}},
    }
    return json.dumps(document, indent=2) + "\n"


def prepare(layout: Layout, port: int) -> list[str]:
    """Write the registry's certificate, htpasswd and configuration, and containerd's
    hosts.toml for it; return the registry's argv.

    The certificate and key are copies of the ones the local CA issued (the registry runs
    as `nobody`, which cannot enter the CA's directory)."""
    layout.prepare()
    files = paths(layout)
    files.directory.mkdir(mode=0o700, exist_ok=True)
    files.data.mkdir(mode=0o700, exist_ok=True)
    pki = ensure_pki(layout.pki_dir)
    cert, key = issue_leaf(
        pki, CERT_NAME, common_name=REGISTRY_HOST, dns_names=(REGISTRY_HOST,), ips=("127.0.0.1",), server=True
    )
    write_private(files.cert, cert.read_bytes())
    write_private(files.key, key.read_bytes())
    secret = password(layout)
    if not _htpasswd_current(files.htpasswd, USERNAME, secret):
        write_private(files.htpasswd, htpasswd_line(USERNAME, secret) + "\n")
    write_private(files.config, config_yaml(layout, port))
    write_containerd_hosts(layout, port)
    owner = account()
    if owner is not None:
        for path in [files.directory, *files.directory.rglob("*")]:
            os.chown(path, owner.pw_uid, owner.pw_gid, follow_symlinks=False)
    return [str(_binary()), "serve", str(files.config)]


def _client(layout: Layout, auth: tuple[str, str] | None) -> httpx.Client:
    return httpx.Client(verify=str(Pki(layout.pki_dir).ca_cert), auth=auth, timeout=5)


def probe(layout: Layout, port: int, auth: tuple[str, str] | None) -> int | None:
    """The status of GET /v2/ with these credentials (None: no TLS answer)."""
    try:
        with _client(layout, auth) as client:
            return client.get(f"https://127.0.0.1:{port}/v2/").status_code
    except httpx.HTTPError:
        return None


def registry_healthy(layout: Layout, port: int) -> bool:
    """The registry answers over TLS verified by the local CA and accepts our credentials."""
    return probe(layout, port, (USERNAME, password(layout))) == 200


def start_registry(layout: Layout, port: int, *, timeout: float = 30) -> subprocess.Popen[bytes]:
    """Start the registry on 127.0.0.1:`port` as a marked localenv process (log in
    `.localenv/logs/registry.log`) and wait until it is healthy.

    localenv's service starter spawns `prepare(layout, port)` itself and waits with
    `registry_healthy`; this is the same for callers outside it (tests)."""
    argv = prepare(layout, port)
    log = layout.logs / f"{SERVICE}.log"
    process = processes.spawn(
        argv, home=layout.home, log=log, account=account(), cwd=paths(layout).directory
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RegistryError(
                f"docker-registry exited with {process.returncode}; its log ({log}):\n{_tail(log)}"
            )
        if registry_healthy(layout, port):
            return process
        time.sleep(0.1)
    processes.stop(process.pid, processes.start_time(process.pid))
    raise RegistryError(f"docker-registry not healthy after {timeout:.0f} s; its log ({log}):\n{_tail(log)}")


def _tail(path: Path, limit: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


# --- pushing --------------------------------------------------------------------------------


def load_images(manifest: Path = IMAGES_MANIFEST) -> dict[str, dict[str, object]]:
    """What toolchain/images/build.py built: name -> layout, tag, version, digest."""
    try:
        images: dict[str, dict[str, object]] = json.loads(manifest.read_text())
    except FileNotFoundError as exc:
        raise RegistryError(f"{manifest} missing: run make setup (it builds the app images)") from exc
    return images


def image_ref(name: str, digest: str) -> str:
    return f"{REGISTRY_HOST}/{PROJECT}/{name}@{digest}"


def auth_file_content(port: int, user: str, secret: str) -> str:
    token = base64.b64encode(f"{user}:{secret}".encode()).decode()
    return json.dumps({"auths": {f"127.0.0.1:{port}": {"auth": token}}})


@contextmanager
def _skopeo_files(layout: Layout, port: int) -> Iterator[tuple[Path, Path]]:
    """A private directory with the authfile (0600) and a cert dir holding the local CA;
    removed afterwards whatever happens."""
    with tempfile.TemporaryDirectory(prefix="paif-push-") as tmp:
        directory = Path(tmp)
        directory.chmod(0o700)
        auth = directory / "auth.json"
        write_private(auth, auth_file_content(port, USERNAME, password(layout)))
        certs = directory / "certs"
        certs.mkdir(mode=0o700)
        shutil.copyfile(Pki(layout.pki_dir).ca_cert, certs / "ca.crt")
        yield auth, certs


def remote_digest(layout: Layout, port: int, name: str, reference: str) -> str | None:
    """The digest the registry has for `paif/<name>:<reference>` (None if it has none)."""
    with _client(layout, (USERNAME, password(layout))) as client:
        response = client.head(
            f"https://127.0.0.1:{port}/v2/{PROJECT}/{name}/manifests/{reference}",
            headers={"Accept": ", ".join(MANIFEST_TYPES)},
        )
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise RegistryError(f"HEAD manifest {PROJECT}/{name}:{reference}: HTTP {response.status_code}")
    digest: str | None = response.headers.get("Docker-Content-Digest")
    return digest


def _skopeo_env(home: Path) -> dict[str, str]:
    # A HOME of its own: skopeo reads no one's ~/.docker or containers config but ours.
    keep = ("PATH", "LANG", "LC_ALL")
    return {**{k: v for k, v in os.environ.items() if k in keep}, "HOME": str(home)}


def _copy(auth: Path, certs: Path, port: int, name: str, image: dict[str, object], *, reference: str) -> str:
    """skopeo copy of one built image to `paif/<name>:<reference>`; returns the pushed digest
    (checked to be the built one)."""
    digest_file = auth.parent / f"{name}.digest"
    result = subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--preserve-digests",
            "--dest-authfile",
            str(auth),
            "--dest-cert-dir",
            str(certs),
            "--dest-tls-verify=true",
            "--digestfile",
            str(digest_file),
            f"oci:{image['layout']}:{image['tag']}",
            f"docker://127.0.0.1:{port}/{PROJECT}/{name}:{reference}",
        ],
        capture_output=True,
        text=True,
        env=_skopeo_env(auth.parent),
        check=False,
        timeout=600,
    )
    if result.returncode != 0:
        raise RegistryError(f"skopeo copy {name} failed: {result.stderr.strip()[-2000:]}")
    pushed = digest_file.read_text().strip()
    if pushed != image["digest"]:
        raise RegistryError(f"{name}: pushed digest {pushed} differs from the built {image['digest']}")
    return pushed


def retag(layout: Layout, key: str, tag: str, *, manifest: Path = IMAGES_MANIFEST) -> str:
    """Push the built app image `key` (frontend/backend) under another tag as well; returns
    its reference by that tag (what a release of a new version looks like to the stack)."""
    names = {value: name for name, value in APP_IMAGE_KEYS.items()}
    name = names[key]
    image = load_images(manifest)[name]
    port = registry_port(layout)
    with _skopeo_files(layout, port) as (auth, certs):
        _copy(auth, certs, port, name, image, reference=tag)
    return f"{REGISTRY_HOST}/{PROJECT}/{name}:{tag}"


def push_images(
    layout: Layout,
    services: HasRegistryPort,
    *,
    manifest: Path = IMAGES_MANIFEST,
    log: Callable[[str], None] = print,
) -> dict[str, str]:
    """Push every image of `manifest` to the registry as `paif/<name>:<version>` (version =
    `<project version>-<content key>`, so a tag never moves) unless the registry already
    has that tag with that digest. Returns {name: registry.local.paif.test/paif/<name>@sha256:…}."""
    port = services.registry_port
    images = load_images(manifest)
    refs: dict[str, str] = {}
    pending: dict[str, dict[str, object]] = {}
    for name, image in images.items():
        digest = str(image["digest"])
        if remote_digest(layout, port, name, str(image["version"])) == digest:
            refs[name] = image_ref(name, digest)
        else:
            pending[name] = image
    if pending:
        with _skopeo_files(layout, port) as (auth, certs):
            for name, image in pending.items():
                started = time.monotonic()
                pushed = _copy(auth, certs, port, name, image, reference=str(image["version"]))
                log(f"pushed {PROJECT}/{name}:{image['version']} in {time.monotonic() - started:.1f} s")
                refs[name] = image_ref(name, pushed)
    return refs


# The app images by the names the stack's config uses (localenv/stack.py).
APP_IMAGE_KEYS = {"chat-frontend": "frontend", "chat-backend": "backend"}


@dataclass(frozen=True)
class _Port:
    registry_port: int


def push_app_images(
    layout: Layout, *, manifest: Path = IMAGES_MANIFEST, log: Callable[[str], None] = print
) -> dict[str, str]:
    """`push_images` to the running local registry (its port from state.json), keyed as the
    stack's config wants them: {"frontend": ref, "backend": ref}."""
    refs = push_images(layout, _Port(registry_port(layout)), manifest=manifest, log=log)
    missing = set(APP_IMAGE_KEYS) - set(refs)
    if missing:
        raise RegistryError(f"{manifest} has no {sorted(missing)}: run make setup")
    return {APP_IMAGE_KEYS[name]: ref for name, ref in refs.items() if name in APP_IMAGE_KEYS}


# --- containerd -----------------------------------------------------------------------------


def containerd_certs_dir(layout: Layout) -> Path:
    return layout.home / "node" / "containerd" / "certs.d"


def hosts_toml(layout: Layout, port: int) -> str:
    """containerd's hosts.toml for registry.local.paif.test: every request goes to the local
    registry. `server` names 127.0.0.1 too, so containerd never falls back to resolving
    registry.local.paif.test through the machine's resolver."""
    ca = Pki(layout.pki_dir).ca_cert
    mirror = f"https://127.0.0.1:{port}"
    return (
        f"# {REGISTRY_HOST} is the local registry (localenv/registry.py); written by localenv.\n"
        f'server = "{mirror}"\n'
        f'ca = "{ca}"\n'
        "\n"
        f'[host."{mirror}"]\n'
        '  capabilities = ["pull", "resolve"]\n'
        f'  ca = "{ca}"\n'
    )


def write_containerd_hosts(layout: Layout, port: int | None = None) -> Path:
    """Write `<home>/node/containerd/certs.d/registry.local.paif.test/hosts.toml`."""
    port = registry_port(layout) if port is None else port
    path = containerd_certs_dir(layout) / REGISTRY_HOST / "hosts.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = hosts_toml(layout, port)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a TOML basic string for these characters


def containerd_registry_toml(layout: Layout, port: int | None = None) -> str:
    """The CRI plugin's `registry` section for containerd 1.6 (config version 2): hosts.toml
    files under our certs.d, and the basic-auth credentials for the host containerd
    contacts, 127.0.0.1:<port>. It holds the password: the node writes its containerd
    config 0600. No other `[plugins."io.containerd.grpc.v1.cri".registry]` table may exist
    in that file."""
    port = registry_port(layout) if port is None else port
    section = 'plugins."io.containerd.grpc.v1.cri".registry'
    return (
        f"[{section}]\n"
        f"  config_path = {_toml_string(str(containerd_certs_dir(layout)))}\n"
        "\n"
        f'[{section}.configs."127.0.0.1:{port}".auth]\n'
        f"  username = {_toml_string(USERNAME)}\n"
        f"  password = {_toml_string(password(layout))}\n"
    )
