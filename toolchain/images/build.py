"""Build the app's container images from Debian and PyPI packages only (run by
toolchain/setup-images.sh as root; nothing is pulled from any image registry).

    base           debootstrap --variant=minbase of the pinned Debian suite, from the mirror
                   this machine's apt is configured with; docs, man pages and apt lists
                   stripped; an `app` account (uid/gid 10001)
    python         base + Debian's python3 + /opt/venv with the wheels of
                   app-requirements.lock (pip --require-hashes, no index: PyPI's files only)
    chat-backend   python + app/__init__.py and app/backend at /srv/app, run as
                   `python -m app.backend` by uid 10001
    nginx          base + Debian's nginx
    chat-frontend  nginx + app/frontend at /srv/app/frontend, run by uid 10001

Each image lives as a tag `<name>-<key>` in one OCI layout under ~/.cache/paif/images/oci
(umoci: it builds layers straight from a directory tree without a daemon, storage driver or
user namespaces, which is all this needs; skopeo later copies the layout to the registry).
A key is a hash of everything that goes into the image: the parent's key, this script and
setup-images.sh, the Debian suite, the lock, the app sources. A second run with the same
inputs only finds the tags and rewrites .tools/images.json (well under a second).

`.tools/images.json` maps each app image to its layout, tag, version tag for the registry
(`<project version>-<key>`) and manifest digest; localenv/registry.py pushes from it.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import inspect
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LOCK_FILE = HERE / "app-requirements.lock"
APP_UID = 10001
APP_IMAGES = ("chat-backend", "chat-frontend")
# Files that never go into an image (nor into its key).
IGNORED_PARTS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
IGNORED_SUFFIXES = (".pyc", ".pyo")
PATH = "/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Package managers inside images keep no documentation, man pages or translations
# (copyright files stay: they are the licences of what the image ships).
DPKG_NODOC = """\
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/lintian/*
"""
APT_CONF = 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\nAcquire::Languages "none";\n'

PYTHON_SCRIPT = """\
apt-get update -qq
apt-get install -y -qq python3 python3-venv >/dev/null
python3 -m venv /opt/venv
/opt/venv/bin/python -m pip install --quiet --no-index --find-links /tmp/paif-wheels \\
    --require-hashes --only-binary=:all: -r /tmp/paif-wheels/requirements.lock
/opt/venv/bin/python -m pip uninstall --quiet -y pip setuptools
apt-get purge -y -qq python3-venv python3-pip-whl python3-setuptools-whl >/dev/null
apt-get autoremove -y -qq >/dev/null
/usr/bin/python3 -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version'
/opt/venv/bin/python -c 'import fastapi, uvicorn, httpx, psycopg, psycopg_pool, prometheus_client, pydantic'
"""
NGINX_SCRIPT = """\
apt-get update -qq
apt-get install -y -qq nginx >/dev/null
rm -f /etc/nginx/sites-enabled/default
nginx -v
"""


class BuildError(RuntimeError):
    """A build step failed; the message says which and shows its output."""


# --- pure pieces (unit-tested) -------------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines of a shell file such as toolchain/versions.env."""
    values = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip('"')
    return values


def _deb822_stanzas(text: str) -> Iterator[dict[str, str]]:
    stanza: dict[str, str] = {}
    last = ""
    for raw in [*text.splitlines(), ""]:
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if stanza:
                yield stanza
            stanza, last = {}, ""
        elif raw[0].isspace() and last:
            stanza[last] += " " + raw.strip()
        else:
            key, _, value = raw.partition(":")
            last = key.strip().lower()
            stanza[last] = value.strip()


def debian_mirror(apt_dir: Path, suite: str) -> str:
    """The first `deb` URI this machine's apt uses for `suite` with the main component
    (from sources.list and sources.list.d/*.list / *.sources)."""
    candidates: list[Path] = []
    if (apt_dir / "sources.list").is_file():
        candidates.append(apt_dir / "sources.list")
    parts = apt_dir / "sources.list.d"
    if parts.is_dir():
        candidates += sorted(p for p in parts.iterdir() if p.suffix in {".list", ".sources"})
    for path in candidates:
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            for stanza in _deb822_stanzas(text):
                if stanza.get("enabled", "yes").lower() == "no":
                    continue
                if "deb" not in stanza.get("types", "").split():
                    continue
                if (
                    suite in stanza.get("suites", "").split()
                    and "main" in stanza.get("components", "").split()
                ):
                    return stanza.get("uris", "").split()[0].rstrip("/")
        else:
            for line in text.splitlines():
                words = line.split("#", 1)[0].split()
                if not words or words[0] != "deb":
                    continue
                words = words[1:]
                if words and words[0].startswith("["):
                    while words and not words[0].endswith("]"):
                        words = words[1:]
                    words = words[1:]
                if len(words) >= 3 and words[1] == suite and "main" in words[2:]:
                    return words[0].rstrip("/")
    raise BuildError(f"no `deb` source for Debian {suite} main in {apt_dir}/sources.list(.d)")


def _ignored(relative: Path) -> bool:
    return any(part in IGNORED_PARTS for part in relative.parts) or relative.name.endswith(IGNORED_SUFFIXES)


def source_files(root: Path, entries: Sequence[str]) -> list[tuple[str, Path]]:
    """(path inside the image tree, file on disk) for every file under `entries` of `root`,
    sorted, without caches and bytecode."""
    files: list[tuple[str, Path]] = []
    for entry in entries:
        path = root / entry
        if path.is_file():
            files.append((entry, path))
        elif path.is_dir():
            for file in path.rglob("*"):
                relative = file.relative_to(root)
                if (file.is_file() or file.is_symlink()) and not _ignored(relative):
                    files.append((relative.as_posix(), file))
        else:
            raise BuildError(f"{path} does not exist")
    return sorted(files)


def tree_hash(files: Sequence[tuple[str, Path]]) -> str:
    """A hash of names, executable bits and contents (not times or owners)."""
    digest = hashlib.sha256()
    for name, path in files:
        if path.is_symlink():
            kind, data = "l", os.readlink(path).encode()
        else:
            kind = "x" if path.stat().st_mode & stat.S_IXUSR else "f"
            data = path.read_bytes()
        digest.update(f"{name}\0{kind}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def key(*parts: str) -> str:
    """A 16-hex-digit cache key of the ordered parts."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def lock_pins_hash(lock_text: str) -> str | None:
    for line in lock_text.splitlines():
        if line.startswith("# pins-sha256:"):
            return line.split(":", 1)[1].strip()
    return None


def app_pins_hash(pyproject: Path) -> str:
    """The hash lock.py records for the `app` group (same formula)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    pins: list[str] = project["optional-dependencies"]["app"]
    return hashlib.sha256("".join(f"{pin}\n" for pin in sorted(pins)).encode()).hexdigest()


@dataclass(frozen=True)
class Inputs:
    """What the images are made of; `keys()` turns it into one cache key per image."""

    suite: str
    scripts: str  # hash of this file and setup-images.sh
    lock: str  # the lock file's text
    backend: str  # tree hash of app/__init__.py + app/backend
    frontend: str  # tree hash of app/frontend

    def keys(self) -> dict[str, str]:
        base = key("base", self.suite, self.scripts)
        python = key("python", base, self.lock)
        nginx = key("nginx", base)
        return {
            "base": base,
            "python": python,
            "nginx": nginx,
            "chat-backend": key("chat-backend", python, self.backend),
            "chat-frontend": key("chat-frontend", nginx, self.frontend),
        }


BACKEND_SOURCES = ("__init__.py", "backend")
FRONTEND_SOURCES = ("frontend",)


def collect_inputs(root: Path, app: Path) -> Inputs:
    versions = read_env_file(root / "toolchain" / "versions.env")
    lock_text = LOCK_FILE.read_text()
    if lock_pins_hash(lock_text) != app_pins_hash(root / "pyproject.toml"):
        raise BuildError(
            "toolchain/images/app-requirements.lock was made from other `app` pins than "
            "pyproject.toml's: run `.venv/bin/python toolchain/images/lock.py` and commit the lock"
        )
    scripts = hashlib.sha256(
        Path(__file__).read_bytes() + (root / "toolchain" / "setup-images.sh").read_bytes()
    ).hexdigest()
    return Inputs(
        suite=versions["IMAGE_DEBIAN_SUITE"],
        scripts=scripts,
        lock=lock_text,
        backend=tree_hash(source_files(app, BACKEND_SOURCES)),
        frontend=tree_hash(source_files(app, FRONTEND_SOURCES)),
    )


# --- build steps ----------------------------------------------------------------------------


class Builder:
    def __init__(self, cache: Path, app: Path, mirror: str, suite: str) -> None:
        self.cache = cache
        self.layout = cache / "oci"
        self.app = app
        self.mirror = mirror
        self.suite = suite
        self.log = cache / "build.log"

    def run(self, argv: Sequence[str | Path], *, what: str, env: dict[str, str] | None = None) -> str:
        started = time.monotonic()
        result = subprocess.run(
            [str(a) for a in argv], capture_output=True, text=True, env=env, check=False, timeout=1800
        )
        with self.log.open("a") as log:
            log.write(f"$ {' '.join(str(a) for a in argv)}\n{result.stdout}{result.stderr}\n")
        if result.returncode != 0:
            output = (result.stdout + result.stderr)[-4000:]
            raise BuildError(f"{what} failed (exit {result.returncode}); see {self.log}:\n{output}")
        elapsed = time.monotonic() - started
        if elapsed > 5:
            print(f"    {what}: {elapsed:.0f} s", flush=True)
        return result.stdout

    def umoci(self, *args: str | Path, what: str) -> str:
        return self.run(["umoci", *args], what=f"umoci {what}")

    def tags(self) -> set[str]:
        if not (self.layout / "index.json").exists():
            return set()
        return set(self.umoci("ls", "--layout", self.layout, what="ls").split())

    def digest(self, tag: str) -> str:
        index = json.loads((self.layout / "index.json").read_text())
        for manifest in index["manifests"]:
            if manifest.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
                digest: str = manifest["digest"]
                return digest
        raise BuildError(f"tag {tag} not in {self.layout}")

    def size(self, digest: str) -> int:
        """Bytes of the manifest's config and (compressed) layers: what a pull transfers."""
        manifest = json.loads((self.layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_text())
        return int(manifest["config"]["size"]) + sum(int(layer["size"]) for layer in manifest["layers"])

    # base: debootstrap minbase -> rootfs tarball (cached) -> one-layer image
    def rootfs_tarball(self) -> Path:
        tarball = self.cache / f"rootfs-{self.suite}-{rootfs_key(self.suite)}.tar"
        if tarball.exists():
            return tarball
        with tempfile.TemporaryDirectory(dir=self.cache, prefix="rootfs-") as tmp:
            target = Path(tmp) / "rootfs"
            print(
                f"    debootstrap --variant=minbase {self.suite} from {self.mirror} (cold: ~2-3 min)",
                flush=True,
            )
            self.run(
                ["debootstrap", "--variant=minbase", "--components=main", self.suite, target, self.mirror],
                what="debootstrap",
            )
            configure_base(target)
            strip(target)
            self.run(
                [
                    "tar", "--sort=name", "--numeric-owner", "--xattrs", "-C", target, "-cf", f"{tarball}.tmp",
                    "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*", ".",
                ],
                what="tar rootfs",
            )  # fmt: skip
            Path(f"{tarball}.tmp").rename(tarball)
        return tarball

    def base_image(self, tag: str, tarball: Path) -> None:
        self.umoci("new", "--image", f"{self.layout}:{tag}", what="new")
        self.umoci(
            "raw", "add-layer", "--image", f"{self.layout}:{tag}",
            "--history.created_by", f"debootstrap --variant=minbase {self.suite} (toolchain/images/build.py)",
            tarball, what="add-layer",
        )  # fmt: skip

    def chroot_image(self, parent: str, tag: str, script: str, *, stage: Path | None = None) -> None:
        """Unpack `parent`, run `script` in it (apt from the same mirror; no daemon starts),
        strip it and repack it as `tag` (umoci diffs the tree: one new layer)."""
        with tempfile.TemporaryDirectory(dir=self.cache, prefix="bundle-") as tmp:
            bundle = Path(tmp) / "bundle"
            self.umoci("unpack", "--image", f"{self.layout}:{parent}", bundle, what="unpack")
            rootfs = bundle / "rootfs"
            if stage is not None:
                shutil.copytree(stage, rootfs / "tmp" / "paif-wheels")
            policy = rootfs / "usr" / "sbin" / "policy-rc.d"
            policy.write_text("#!/bin/sh\n# no service starts inside an image build\nexit 101\n")
            policy.chmod(0o755)
            resolv = rootfs / "etc" / "resolv.conf"
            resolv.unlink(missing_ok=True)
            shutil.copyfile("/etc/resolv.conf", resolv)
            # The image has an empty /dev (the runtime provides one); maintainer scripts
            # need these few nodes while they run, and they do not stay in the layer.
            nodes = []
            for name, minor in (("null", 3), ("zero", 5), ("random", 8), ("urandom", 9)):
                node = rootfs / "dev" / name
                if not node.exists():
                    os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
                    node.chmod(0o666)
                    nodes.append(node)
            env = {
                "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                "DEBIAN_FRONTEND": "noninteractive",
                "LC_ALL": "C.UTF-8",
            }
            try:
                self.run(
                    ["chroot", rootfs, "/bin/sh", "-euc", f"umask 022\n{script}"],
                    what=f"build {tag}",
                    env=env,
                )
            finally:
                policy.unlink(missing_ok=True)
                resolv.write_text("")
                for node in nodes:
                    node.unlink()
            strip(rootfs)
            self.umoci(
                "repack", "--image", f"{self.layout}:{tag}", "--history.created_by", f"toolchain/images/build.py: {tag}",
                bundle, what="repack",
            )  # fmt: skip

    def app_image(
        self, parent: str, tag: str, files: Sequence[tuple[str, Path]], config: Sequence[str]
    ) -> None:
        """`parent` + the files at /srv/app (root-owned, world-readable) + the run config."""
        with tempfile.TemporaryDirectory(dir=self.cache, prefix="app-") as tmp:
            stage = Path(tmp) / "app"
            stage_files(files, stage)
            self.umoci(
                "insert", "--image", f"{self.layout}:{parent}", "--tag", tag,
                "--history.created_by", "toolchain/images/build.py: app sources", stage, "/srv/app",
                what="insert",
            )  # fmt: skip
        self.umoci("config", "--image", f"{self.layout}:{tag}", *config, what="config")

    def wheelhouse(self, lock_key: str) -> Path:
        """The lock's wheels, downloaded once (pip checks every hash)."""
        wheels = self.cache / f"wheels-{lock_key}"
        if not wheels.exists():
            tmp = Path(tempfile.mkdtemp(dir=self.cache, prefix="wheels-"))
            self.run(
                [
                    sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes",
                    "--only-binary=:all:", "--implementation=cp", "--python-version=3.11",
                    "--platform=manylinux_2_28_x86_64", "--platform=manylinux_2_17_x86_64",
                    "--platform=manylinux2014_x86_64", "--platform=any",
                    "-r", LOCK_FILE, "-d", tmp,
                ],
                what="pip download (app wheels)",
            )  # fmt: skip
            shutil.copyfile(LOCK_FILE, tmp / "requirements.lock")
            tmp.chmod(0o755)
            tmp.rename(wheels)
        return wheels

    def drop_old(self, keep: dict[str, str]) -> None:
        """Remove tags of earlier builds (`<name>-<other key>`) and their blobs."""
        wanted = {f"{name}-{k}" for name, k in keep.items()}
        stale = [t for t in self.tags() if t not in wanted and any(t.startswith(f"{n}-") for n in keep)]
        for tag in stale:
            self.umoci("rm", "--image", f"{self.layout}:{tag}", what="rm")
        if stale:
            self.umoci("gc", "--layout", self.layout, what="gc")
        for old in self.cache.glob("rootfs-*.tar"):
            if old.name != f"rootfs-{self.suite}-{rootfs_key(self.suite)}.tar":
                old.unlink()
        for old in self.cache.glob("wheels-*"):
            if old.is_dir() and old.name != f"wheels-{key('wheels', LOCK_FILE.read_text())}":
                shutil.rmtree(old)


def rootfs_key(suite: str) -> str:
    """The rootfs tarball's key: the suite and the code that makes the tarball (so editing
    another part of this script rebuilds the images, but not the 3-minute debootstrap)."""
    recipe = "".join(inspect.getsource(f) for f in (Builder.rootfs_tarball, configure_base, strip, _remove))
    return key("rootfs", suite, recipe, DPKG_NODOC, APT_CONF, str(APP_UID))


def configure_base(rootfs: Path) -> None:
    """What every image shares: no host name or resolver of the build machine, docs kept
    out by dpkg, no recommends, and the unprivileged account the apps run as."""
    (rootfs / "etc" / "hostname").write_text("localhost\n")
    resolv = rootfs / "etc" / "resolv.conf"
    resolv.unlink(missing_ok=True)
    resolv.write_text("")
    (rootfs / "etc" / "dpkg" / "dpkg.cfg.d" / "01-paif-nodoc").write_text(DPKG_NODOC)
    (rootfs / "etc" / "apt" / "apt.conf.d" / "01-paif").write_text(APT_CONF)
    with (rootfs / "etc" / "passwd").open("a") as passwd:
        passwd.write(f"app:x:{APP_UID}:{APP_UID}:paif app:/nonexistent:/usr/sbin/nologin\n")
    with (rootfs / "etc" / "group").open("a") as group:
        group.write(f"app:x:{APP_UID}:\n")


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def strip(rootfs: Path) -> None:
    """Drop what a running container never reads: apt lists and caches, log files, docs
    (but the copyright files), man pages, translations, temporary files."""
    for pattern in (
        "var/lib/apt/lists/*",
        "var/cache/apt/*",
        "var/cache/debconf/*-old",
        "var/lib/dpkg/*-old",
        "usr/share/man/*",
        "usr/share/info/*",
        "usr/share/lintian/*",
        "tmp/*",
        "var/tmp/*",
    ):
        for path in rootfs.glob(pattern):
            _remove(path)
    for directory in ("var/lib/apt/lists/partial", "var/cache/apt/archives/partial"):
        (rootfs / directory).mkdir(parents=True, exist_ok=True)
    # Log files go, their directories stay (nginx opens /var/log/nginx/error.log before it
    # reads its configuration).
    for path in rootfs.glob("var/log/**/*"):
        if path.is_file() or path.is_symlink():
            path.unlink()
    for path in rootfs.glob("usr/share/locale/*"):
        if path.name != "locale.alias":
            _remove(path)
    doc = rootfs / "usr" / "share" / "doc"
    for package in doc.iterdir() if doc.is_dir() else ():
        if package.is_dir() and not package.is_symlink():
            for entry in package.iterdir():
                if entry.name != "copyright":
                    _remove(entry)
        elif not package.is_symlink():
            _remove(package)


def stage_files(files: Sequence[tuple[str, Path]], stage: Path) -> None:
    """Copy the files under `stage` owned by root, readable by everyone (0644/0755), so
    uid 10001 reads them and cannot change them."""
    stage.mkdir(mode=0o755)
    for name, source in files:
        target = stage / name
        target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
            continue
        shutil.copyfile(source, target)
        target.chmod(0o755 if source.stat().st_mode & stat.S_IXUSR else 0o644)
    for path in [stage, *stage.rglob("*")]:
        if not path.is_symlink():
            os.chown(path, 0, 0)
            if path.is_dir():
                path.chmod(0o755)


def _config_args(
    entrypoint: Sequence[str], *, workdir: str, env: dict[str, str], port: int, version: str, name: str
) -> list[str]:
    args = ["--config.user", f"{APP_UID}:{APP_UID}", "--config.workingdir", workdir, "--clear=config.cmd"]
    args += ["--clear=config.entrypoint"]
    for word in entrypoint:
        args += ["--config.entrypoint", word]
    for variable, value in env.items():
        args += ["--config.env", f"{variable}={value}"]
    args += ["--config.exposedports", f"{port}/tcp"]
    args += ["--config.label", f"org.opencontainers.image.version={version}"]
    args += ["--config.label", f"org.opencontainers.image.title={name}"]
    args += ["--config.label", "org.opencontainers.image.source=paif-iac app/"]
    return args


def backend_config(version: str) -> list[str]:
    return _config_args(
        ["/opt/venv/bin/python", "-m", "app.backend"],
        workdir="/srv",
        # HOME: the writable emptyDir (the root file system is read-only).
        env={"PATH": PATH, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "HOME": "/tmp"},  # noqa: S108
        port=8000,
        version=version,
        name="chat-backend",
    )


def frontend_config(version: str, app: Path) -> list[str]:
    entrypoint = app / "frontend" / "entrypoint.sh"
    if not entrypoint.is_file():
        raise BuildError(
            f"{entrypoint} missing: the frontend image runs it (it renders the nginx config into /tmp)"
        )
    return _config_args(
        ["/bin/sh", "/srv/app/frontend/entrypoint.sh"],
        workdir="/srv/app/frontend",
        env={"PATH": PATH, "HOME": "/tmp"},  # noqa: S108
        port=8080,
        version=version,
        name="chat-frontend",
    )


@contextlib.contextmanager
def locked(cache: Path) -> Iterator[None]:
    with (cache / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def project_version(root: Path) -> str:
    version: str = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    return version


def build(cache: Path, app: Path, manifest: Path, apt_dir: Path) -> dict[str, dict[str, object]]:
    cache.mkdir(parents=True, exist_ok=True)
    inputs = collect_inputs(ROOT, app)
    keys = inputs.keys()
    version = project_version(ROOT)
    with locked(cache):
        builder = Builder(cache, app, mirror="", suite=inputs.suite)
        have = builder.tags()
        wanted = {name: f"{name}-{keys[name]}" for name in keys}
        if not all(wanted[name] in have for name in APP_IMAGES):
            builder.mirror = debian_mirror(apt_dir, inputs.suite)
            builder.log.write_text("")
            if not (builder.layout / "index.json").exists():
                builder.run(["umoci", "init", "--layout", builder.layout], what="umoci init")
            if wanted["base"] not in have:
                builder.base_image(wanted["base"], builder.rootfs_tarball())
            if wanted["python"] not in have:
                wheels = builder.wheelhouse(key("wheels", inputs.lock))
                builder.chroot_image(wanted["base"], wanted["python"], PYTHON_SCRIPT, stage=wheels)
            if wanted["nginx"] not in have:
                builder.chroot_image(wanted["base"], wanted["nginx"], NGINX_SCRIPT)
            if wanted["chat-backend"] not in have:
                builder.app_image(
                    wanted["python"],
                    wanted["chat-backend"],
                    source_files(app, BACKEND_SOURCES),
                    backend_config(f"{version}-{keys['chat-backend']}"),
                )
            if wanted["chat-frontend"] not in have:
                builder.app_image(
                    wanted["nginx"],
                    wanted["chat-frontend"],
                    source_files(app, FRONTEND_SOURCES),
                    frontend_config(f"{version}-{keys['chat-frontend']}", app),
                )
            builder.drop_old(keys)
        images: dict[str, dict[str, object]] = {}
        for name in APP_IMAGES:
            digest = builder.digest(wanted[name])
            images[name] = {
                "layout": str(builder.layout),
                "tag": wanted[name],
                "version": f"{version}-{keys[name]}",
                "digest": digest,
                "size": builder.size(digest),
            }
    text = json.dumps(images, indent=2, sort_keys=True) + "\n"
    if not manifest.exists() or manifest.read_text() != text:
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text(text)
    return images


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("PAIF_CACHE", Path.home() / ".cache" / "paif")) / "images",
    )
    parser.add_argument("--app", type=Path, default=ROOT / "app")
    parser.add_argument("--manifest", type=Path, default=ROOT / ".tools" / "images.json")
    parser.add_argument("--apt-dir", type=Path, default=Path("/etc/apt"))
    args = parser.parse_args(argv)
    try:
        images = build(args.cache, args.app, args.manifest, args.apt_dir)
    except BuildError as exc:
        print(f"image build failed: {exc}", file=sys.stderr)
        return 1
    for name, image in images.items():
        size = int(str(image["size"])) / 2**20
        print(f"    {name}:{image['version']} {image['digest']} ({size:.1f} MiB compressed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
