"""Pre-apply check of the sizes of the disks the program keeps: the uploads volume
(`paif:app.uploadsVolumeSize`), the database's disk (`paif:database.storageSpace`) and the
DLVM's boot disk (`paif:dlvm.bootDiskSize`).

A PersistentVolumeClaim never shrinks, and it grows only when its StorageClass has
`allowVolumeExpansion: true` (the API server's PersistentVolumeClaimResize admission). The
kubernetes provider diffs a new size as an update, so a change the API server refuses
("field can not be less than previous value", "only dynamically provisioned pvc can be
resized and the storageclass that provisions the pvc must support resize", "spec is
immutable") failed mid-`up`, and on every later `up` until the config was put back.

This check runs before the program registers any resource, in the preview and in the `up`:
it reads the live claim and its StorageClass and refuses a size the API server would refuse,
naming the key, the deployed and the given size and what is allowed. A larger size on a class
that allows expansion goes through: the provider patches the claim in place and the volume
grows (online for vSphere CSI).

The database's disk (the PostgresCluster's `spec.storageSpace`) and the DLVM's boot disk (the
VirtualMachine's `spec.advanced.bootDiskCapacity`) are vSphere disks on the Supervisor: they
may grow, never shrink. The kubernetes provider patches either in place, and the API server
takes a smaller value (nothing in a CRD's schema compares it with the old one), so a smaller
size was accepted and left to DSM or VM Service to fail on, or to ignore, after `up` had
reported success. The check reads the live object through the Supervisor kubeconfig and refuses
a smaller size the same way, every problem in one message.

How it reads: one GET of the claim and one of its class, through the kubeconfig the app's
kubernetes provider gets (`paif:supervisorKubeconfig` where the app runs on the Supervisor's
API server, `paif:workloadKubeconfig` on the VKS cluster; the ambient `KUBECONFIG` or
~/.kube/config when the key is unset, as the provider does). It cannot look, and does
nothing, when there is no kubeconfig (a pull-request preview without credentials), when
the workload kubeconfig is read from the cluster during the run (prod without
`paif:workloadKubeconfig`), when the kubeconfig authenticates through an exec plugin, or when
the cluster does not answer (a warning says so); the API server's own refusal is then what
the run reports. A client certificate from the kubeconfig is loaded from a 0600 file in a
private temporary directory that is removed as soon as it is loaded (Python's ssl module
reads certificates only from files).
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import httpx
import pulumi
import yaml
from pulumi.runtime.config import get_config
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.settings import get_monitor

from components.crds.postgres_cluster import API_VERSION as POSTGRES_API
from components.crds.virtual_machine import API_VERSION as VM_API
from infra.config import NAMESPACE, ConfigError, Settings

SIZE_KEY = f"{NAMESPACE}:app.uploadsVolumeSize"
DATABASE_DISK_KEY = f"{NAMESPACE}:database.storageSpace"
BOOT_DISK_KEY = f"{NAMESPACE}:dlvm.bootDiskSize"
_BINARY = {
    suffix: Decimal(2 ** (10 * power)) for power, suffix in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"), 1)
}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal(10**3),
}
_DECIMAL |= {
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
}
TIMEOUT_SECONDS = 10.0


class CannotLook(Exception):
    """The live claim cannot be read (no usable kubeconfig, no answer): nothing to compare with."""


def quantity(value: str) -> Decimal:
    """A Kubernetes quantity ("10Gi", "500M", "1.5e9") as a number of bytes."""
    text = value.strip()
    number, factor = text, Decimal(1)
    for suffix, multiple in (*_BINARY.items(), *_DECIMAL.items()):
        if suffix and text.endswith(suffix):
            number, factor = text[: -len(suffix)], multiple
            break
    try:
        return Decimal(number) * factor
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a Kubernetes quantity") from None


@dataclass(frozen=True)
class LiveClaim:
    """What the API server has of the claim."""

    size: str
    """spec.resources.requests.storage as deployed."""
    storage_class: str | None
    """spec.storageClassName (None: a claim bound to a volume by hand)."""
    allows_expansion: bool
    """The class exists and has allowVolumeExpansion: true."""


def resize_problem(live: LiveClaim | None, wanted: str) -> str | None:
    """Why the API server would refuse `wanted` as the claim's new size; None when it accepts it
    (no claim yet, the same size, or a larger one on a class that allows expansion)."""
    if live is None or quantity(wanted) == quantity(live.size):
        return None
    deployed = f"given {wanted}, deployed {live.size}"
    if quantity(wanted) < quantity(live.size):
        allowed = f"{live.size} or more" if live.allows_expansion else live.size
        return (
            f"{SIZE_KEY}: {deployed}; a PersistentVolumeClaim never shrinks (the files in it would not fit). "
            f"Allowed: {allowed}"
        )
    if live.allows_expansion:
        return None
    if live.storage_class is None:
        why = "the claim has no StorageClass (a volume bound by hand)"
    else:
        why = f"its StorageClass {live.storage_class!r} does not allow expansion (allowVolumeExpansion is not true)"
    return (
        f"{SIZE_KEY}: {deployed}; the claim cannot grow: {why}. Allowed: {live.size}, or a StorageClass with "
        "allowVolumeExpansion: true"
    )


@dataclass(frozen=True)
class SupervisorDisk:
    """A disk the program sizes on the Supervisor: a vSphere disk, which grows but never shrinks."""

    key: str
    """The config key that sizes it."""
    what: str
    """What it is, for the message."""
    path: str
    """Its object's API path."""
    field: tuple[str, ...]
    """Where the object keeps the size."""
    size: str
    """The size the config asks for."""


def shrink_problem(disk: SupervisorDisk, deployed: str | None) -> str | None:
    """Why `disk.size` cannot replace the `deployed` size; None when it can (nothing deployed or
    no size recorded, the same size or a larger one)."""
    if deployed is None or quantity(disk.size) >= quantity(deployed):
        return None
    return (
        f"{disk.key}: given {disk.size}, deployed {deployed}; {disk.what} never shrinks (vSphere cannot make "
        f"a disk smaller, and what is on it would not fit). Allowed: {deployed} or more"
    )


def supervisor_disks(settings: Settings) -> list[SupervisorDisk]:
    """The database's disk, and the DLVM's boot disk where the app runs on one."""
    cfg = settings.config
    namespace = cfg.vsphere.namespace.name
    db = cfg.database
    disks = [
        SupervisorDisk(
            key=DATABASE_DISK_KEY,
            what=f"the database's disk (PostgresCluster {db.cluster_name})",
            path=f"/apis/{POSTGRES_API}/namespaces/{namespace}/postgresclusters/{db.cluster_name}",
            field=("spec", "storageSpace"),
            size=str(db.storage_space),
        )
    ]
    if settings.profile.app_platform == "dlvm" and cfg.dlvm is not None:
        disks.append(
            SupervisorDisk(
                key=BOOT_DISK_KEY,
                what=f"the DLVM's boot disk (VirtualMachine {cfg.dlvm.name})",
                path=f"/apis/{VM_API}/namespaces/{namespace}/virtualmachines/{cfg.dlvm.name}",
                field=("spec", "advanced", "bootDiskCapacity"),
                size=str(cfg.dlvm.boot_disk_size),
            )
        )
    return disks


def _current(kubeconfig: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The current context's cluster and user entries."""

    def named(section: str, name: Any) -> dict[str, Any]:
        for entry in kubeconfig.get(section) or []:
            if entry.get("name") == name:
                return dict(entry.get(section[:-1]) or {})
        raise CannotLook(f"the kubeconfig has no {section[:-1]} {name!r}")

    context = named("contexts", kubeconfig.get("current-context"))
    return named("clusters", context.get("cluster")), named("users", context.get("user"))


def _pem(entry: dict[str, Any], key: str) -> bytes | None:
    if entry.get(f"{key}-data"):
        return base64.b64decode(entry[f"{key}-data"])
    if entry.get(key):
        return Path(str(entry[key])).expanduser().read_bytes()
    return None


def client(kubeconfig_text: str) -> httpx.Client:
    """An httpx client for the kubeconfig's current context (token or client certificate)."""
    try:
        kubeconfig = yaml.safe_load(kubeconfig_text)
    except yaml.YAMLError:
        raise CannotLook("the kubeconfig is not YAML") from None
    if not isinstance(kubeconfig, dict):
        raise CannotLook("the kubeconfig is not a mapping")
    cluster, user = _current(kubeconfig)
    if user.get("exec") or user.get("auth-provider"):
        raise CannotLook("the kubeconfig authenticates through a plugin")
    context = ssl.create_default_context()
    ca = _pem(cluster, "certificate-authority")
    if cluster.get("insecure-skip-tls-verify"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif ca is not None:
        context.load_verify_locations(cadata=ca.decode())
    certificate, key = _pem(user, "client-certificate"), _pem(user, "client-key")
    if certificate is not None and key is not None:
        with tempfile.TemporaryDirectory(prefix="paif-kube-") as private:
            path = Path(private) / "client.pem"
            path.touch(mode=0o600)
            path.write_bytes(certificate + b"\n" + key)
            context.load_cert_chain(path)
    headers = {"Authorization": f"Bearer {user['token']}"} if user.get("token") else {}
    return httpx.Client(
        base_url=str(cluster.get("server")), verify=context, headers=headers, timeout=TIMEOUT_SECONDS
    )


def read_claim(kubeconfig_text: str, namespace: str, name: str) -> LiveClaim | None:
    """The live claim and its class's expansion flag; None when there is no such claim."""
    with client(kubeconfig_text) as http:
        try:
            claim = http.get(f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{name}")
            if claim.status_code == httpx.codes.NOT_FOUND:
                return None
            claim.raise_for_status()
            spec = claim.json().get("spec") or {}
            storage_class = spec.get("storageClassName") or None
            allows = False
            if storage_class is not None:
                found = http.get(f"/apis/storage.k8s.io/v1/storageclasses/{storage_class}")
                if found.status_code != httpx.codes.NOT_FOUND:
                    found.raise_for_status()
                    allows = found.json().get("allowVolumeExpansion") is True
        except httpx.HTTPError as exc:
            raise CannotLook(f"{type(exc).__name__}: {exc}") from None
    size = str(((spec.get("resources") or {}).get("requests") or {}).get("storage") or "0")
    return LiveClaim(size=size, storage_class=storage_class, allows_expansion=allows)


def read_size(kubeconfig_text: str, disk: SupervisorDisk) -> str | None:
    """The size the live object records; None when there is no such object or it records none."""
    with client(kubeconfig_text) as http:
        try:
            found = http.get(disk.path)
            if found.status_code == httpx.codes.NOT_FOUND:
                return None
            found.raise_for_status()
            value: Any = found.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise CannotLook(f"{type(exc).__name__}: {exc}") from None
    for step in disk.field:
        value = value.get(step) if isinstance(value, dict) else None
    return None if value is None or value == "" else str(value)


def _kubeconfig(key: str) -> str | None:
    """The kubeconfig the app's provider gets: the secret key's value (the runtime holds it
    decrypted), else the ambient one."""
    given = get_config(f"{NAMESPACE}:{key}")
    if isinstance(given, str) and given.strip():
        return given
    ambient = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or str(Path.home() / ".kube" / "config")
    path = Path(ambient)
    return path.read_text() if path.is_file() else None


def _uploads_problem(settings: Settings) -> str | None:
    """Why the API server would refuse the uploads claim's size; None when it would not, or
    when there is no claim or nothing to compare with."""
    app, profile = settings.config.app, settings.profile
    if not app.uploads_volume_size or profile.app_platform == "dlvm":
        return None  # no claim on a DLVM
    key = "supervisorKubeconfig" if profile.app_platform == "local-kubernetes" else "workloadKubeconfig"
    kubeconfig = _kubeconfig(key)
    if kubeconfig is None:
        return None
    try:
        live = read_claim(kubeconfig, app.namespace, f"{app.name}-uploads")
    except (CannotLook, OSError, ssl.SSLError, ValueError) as exc:
        pulumi.log.warn(
            f"{SIZE_KEY}: the deployed uploads claim could not be read ({exc}); its size is not checked"
        )
        return None
    return resize_problem(live, str(app.uploads_volume_size))


def _supervisor_disk_problems(settings: Settings) -> list[str]:
    kubeconfig = _kubeconfig("supervisorKubeconfig")
    if kubeconfig is None:
        return []
    problems = []
    for disk in supervisor_disks(settings):
        try:
            deployed = read_size(kubeconfig, disk)
        except (CannotLook, OSError, ssl.SSLError, ValueError) as exc:
            pulumi.log.warn(f"{disk.key}: {disk.what} could not be read ({exc}); its size is not checked")
            continue
        try:
            problem = shrink_problem(disk, deployed)
        except ValueError:
            pulumi.log.warn(f"{disk.key}: {disk.what} records a size that is no quantity; its size is not checked")
            continue
        if problem is not None:
            problems.append(problem)
    return problems


def check_volume_sizes(settings: Settings) -> None:
    """Refuse, before any resource is registered, a disk size that cannot replace the deployed
    one: every such problem in one message."""
    if isinstance(get_monitor(), MockMonitor):
        return  # under Pulumi's mocks (unit tests) no cluster to ask
    uploads = _uploads_problem(settings)
    problems = [*([uploads] if uploads else []), *_supervisor_disk_problems(settings)]
    if problems:
        raise ConfigError.listing(problems)
