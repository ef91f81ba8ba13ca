"""The local cluster's ingress controller: Traefik as a host process on 127.0.0.1.

Traefik (built by toolchain/setup-ingress.sh) watches the local API server with its
Kubernetes Ingress provider and serves every Ingress of class `traefik` over HTTPS on
127.0.0.1:<ingress port>, writing `status.loadBalancer.ingress[0].ip = 127.0.0.1` on each so
the stack's Ingress await completes. It proxies to the Service's endpoints (pod IPs on the
node's bridge) itself: no in-cluster Service of its own.

Everything it needs on the API server is applied here, idempotently, with the admin client
certificate: namespace `paif-ingress`, ServiceAccount `traefik`, a ClusterRole/Binding for
what the Ingress provider reads and writes, and the IngressClass `traefik` (controller
traefik.io/ingress-controller). Traefik authenticates as that ServiceAccount with a token from
the TokenRequest API; the token goes to a 0600 file that the 0600 static configuration names
(never argv, never the log). The static configuration turns off the version check and the
usage statistics (both would call the internet) and exposes neither dashboard nor API: the
only listeners are the HTTPS entrypoint and a ping entrypoint for the health check, both on
127.0.0.1.
"""

from __future__ import annotations

import datetime
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from localenv import processes
from localenv.files import write_private
from localenv.layout import ROOT, Layout
from localenv.pki import Pki, admin_tls

TOOL = ROOT / ".tools" / "bin" / "traefik"
NAME = "traefik"
# Port names in state.json: the HTTPS entrypoint and the ping (health) entrypoint.
PORT = "traefik"
PING_PORT = "traefik-ping"
PORTS = (PORT, PING_PORT)
NAMESPACE = "paif-ingress"
SERVICE_ACCOUNT = "traefik"
INGRESS_CLASS = "traefik"
CONTROLLER = "traefik.io/ingress-controller"
PUBLISHED_IP = "127.0.0.1"
ROLE = "paif-traefik-ingress"
FIELD_MANAGER = "paif-localenv"
# Traefik reads its token once, at start. A week covers any working session; `ingress_healthy`
# reports a token with less than TOKEN_RENEW_BEFORE left as unhealthy, so the next start
# restarts Traefik with a fresh one.
TOKEN_SECONDS = 7 * 24 * 3600
TOKEN_RENEW_BEFORE = datetime.timedelta(hours=1)
START_TIMEOUT = 30.0

Spawn = Callable[[str, Sequence[str]], tuple[subprocess.Popen[bytes], Path]]


class IngressError(RuntimeError):
    """Traefik is not built, did not come up, or the API server refused its objects."""


@dataclass(frozen=True)
class IngressFiles:
    """Where Traefik's files live under one `.localenv`."""

    layout: Layout

    @property
    def directory(self) -> Path:
        return self.layout.home / "ingress"

    @property
    def config(self) -> Path:
        return self.directory / "traefik.yml"

    @property
    def token(self) -> Path:
        return self.directory / "token"

    @property
    def log(self) -> Path:
        return self.layout.logs / f"{NAME}.log"

    @property
    def access_log(self) -> Path:
        return self.layout.logs / f"{NAME}-access.log"


# What Traefik's Kubernetes Ingress provider (v3.6, pkg/provider/kubernetes/ingress) lists,
# watches and writes: Ingresses and their status, IngressClasses, Services, EndpointSlices,
# Secrets (TLS certificates) and Nodes (its cluster-scope informer, for NodePort services).
# Endpoints are listed for older releases that read them instead of EndpointSlices.
CLUSTER_ROLE_RULES: list[dict[str, list[str]]] = [
    {"apiGroups": [""], "resources": ["services", "endpoints", "secrets", "nodes"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
    {
        "apiGroups": ["networking.k8s.io"],
        "resources": ["ingresses", "ingressclasses"],
        "verbs": ["get", "list", "watch"],
    },
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses/status"], "verbs": ["update"]},
]


def manifests() -> list[dict[str, Any]]:
    """The objects Traefik needs on the API server, in the order they are applied."""
    labels = {"app.kubernetes.io/managed-by": FIELD_MANAGER, "app.kubernetes.io/name": "traefik"}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": labels}},
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": SERVICE_ACCOUNT, "namespace": NAMESPACE, "labels": labels},
            # Traefik runs on the host and asks for its token itself: nothing to mount.
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": ROLE, "labels": labels},
            "rules": CLUSTER_ROLE_RULES,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": ROLE, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ROLE},
            "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}],
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {"name": INGRESS_CLASS, "labels": labels},
            "spec": {"controller": CONTROLLER},
        },
    ]


def _path(manifest: Mapping[str, Any]) -> str:
    """The REST path of one object of `manifests()`."""
    group_version: str = manifest["apiVersion"]
    base = f"/api/{group_version}" if "/" not in group_version else f"/apis/{group_version}"
    plural = {
        "Namespace": "namespaces",
        "ServiceAccount": "serviceaccounts",
        "ClusterRole": "clusterroles",
        "ClusterRoleBinding": "clusterrolebindings",
        "IngressClass": "ingressclasses",
    }[manifest["kind"]]
    metadata = manifest["metadata"]
    namespace = f"/namespaces/{metadata['namespace']}" if "namespace" in metadata else ""
    return f"{base}{namespace}/{plural}/{metadata['name']}"


def admin_client(pki: Pki, apiserver_url: str, timeout: float = 10) -> httpx.Client:
    """An HTTP client for the local API server as the admin user (client certificate)."""
    return httpx.Client(base_url=apiserver_url, verify=admin_tls(pki), timeout=timeout)


def _raise_for(response: httpx.Response, what: str) -> None:
    if response.is_error:
        raise IngressError(f"{what}: HTTP {response.status_code}: {response.text[:500]}")


def apply_objects(client: httpx.Client) -> list[str]:
    """Server-side apply every object of `manifests()` (idempotent); returns kind/name of each."""
    applied = []
    for manifest in manifests():
        response = client.patch(
            _path(manifest),
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
            headers={"Content-Type": "application/apply-patch+yaml"},
            # JSON is YAML.
            json=manifest,
        )
        name = f"{manifest['kind']}/{manifest['metadata']['name']}"
        _raise_for(response, f"applying {name}")
        applied.append(name)
    return applied


def request_token(client: httpx.Client, seconds: int = TOKEN_SECONDS) -> tuple[str, datetime.datetime]:
    """A token for ServiceAccount `traefik` (TokenRequest API) and when it expires."""
    response = client.post(
        f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{SERVICE_ACCOUNT}/token",
        json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": seconds}},
    )
    _raise_for(response, f"requesting a token for {NAMESPACE}/{SERVICE_ACCOUNT}")
    status = response.json()["status"]
    expires = datetime.datetime.fromisoformat(status["expirationTimestamp"].replace("Z", "+00:00"))
    return status["token"], expires


def static_config(
    files: IngressFiles, ports: Mapping[str, int], pki: Pki, apiserver_url: str
) -> dict[str, Any]:
    """Traefik's static configuration (all of it: a config file excludes flags and env)."""
    return {
        # Both would call out to the internet.
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "entryPoints": {
            "websecure": {
                "address": f"127.0.0.1:{ports[PORT]}",
                # Routers without an explicit entrypoint (every Ingress) attach here only,
                # not to the ping entrypoint.
                "asDefault": True,
                # TLS on every router of this entrypoint: nothing is served in plain HTTP.
                "http": {"tls": {}},
            },
            "ping": {"address": f"127.0.0.1:{ports[PING_PORT]}"},
        },
        # No `api` section: no dashboard, no API. Ping answers on its own entrypoint only.
        "ping": {"entryPoint": "ping"},
        "log": {"level": "INFO", "noColor": True},
        "accessLog": {"filePath": str(files.access_log)},
        "providers": {
            "kubernetesIngress": {
                "endpoint": apiserver_url,
                # A path: Traefik reads the file (types.FileOrContent), the token stays off argv.
                "token": str(files.token),
                "certAuthFilePath": str(pki.ca_cert),
                "ingressClass": INGRESS_CLASS,
                "ingressEndpoint": {"ip": PUBLISHED_IP},
            }
        },
    }


def ingress_port(state: Mapping[str, Any]) -> int:
    """The HTTPS port of the ingress controller, from state.json (or its loaded dict)."""
    try:
        port: int = state["ports"][PORT]
    except KeyError as error:
        raise IngressError("no ingress port recorded: the local environment is not up") from error
    return port


def _ping(port: int) -> bool:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/ping", timeout=2)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and response.text.strip() == "OK"


def _serves_tls(port: int) -> bool:
    """Whether the HTTPS entrypoint completes a TLS handshake and answers HTTP. The default
    certificate is Traefik's own for a request matching no Ingress: not verified here."""
    try:
        response = httpx.get(f"https://127.0.0.1:{port}/", verify=False, timeout=2)  # noqa: S501
    except httpx.HTTPError:
        return False
    return response.status_code < 500


def _record(layout: Layout, ports: Mapping[str, int]) -> Spawn:
    """The default `spawn`: start marked (crash recovery sweeps it) and record the process in
    state.json as localenv/services.py records its own."""

    def spawn(name: str, argv: Sequence[str]) -> tuple[subprocess.Popen[bytes], Path]:
        log = layout.logs / f"{name}.log"
        process = processes.spawn(argv, home=layout.home, log=log)
        state = layout.load_state()
        state.setdefault("services", {})[name] = {
            "pid": process.pid,
            "started": processes.start_time(process.pid),
            "port": ports[name],
            "log": str(log),
        }
        state.setdefault("ports", {}).update({key: ports[key] for key in PORTS})
        layout.save_state(state)
        return process, log

    return spawn


def start_ingress(
    layout: Layout,
    ports: Mapping[str, int],
    pki: Pki,
    apiserver_url: str,
    *,
    spawn: Spawn | None = None,
    timeout: float = START_TIMEOUT,
    record_in: dict[str, Any] | None = None,
) -> tuple[subprocess.Popen[bytes], Path]:
    """Apply Traefik's objects, write its token and static configuration, start it and wait
    until it answers ping and TLS; returns the process and its log.

    `ports` holds PORT and PING_PORT (chosen and remembered by the caller). `spawn(name, argv)`
    starts and records the process (localenv/services.py passes its starter's); by default it
    is recorded in `layout`'s state.json under NAME. The token's expiry is recorded there too
    (state["ingress"]["token_expires"]), for `ingress_healthy`: in `record_in` when given
    (the caller's in-memory state, saved here), else in state.json.
    """
    if not TOOL.exists():
        raise IngressError(f"traefik not found in {TOOL.parent}: run make setup")
    files = IngressFiles(layout)
    files.directory.mkdir(mode=0o700, exist_ok=True)
    files.directory.chmod(0o700)
    with admin_client(pki, apiserver_url) as client:
        apply_objects(client)
        token, expires = request_token(client)
    write_private(files.token, token)
    write_private(files.config, yaml.safe_dump(static_config(files, ports, pki, apiserver_url), sort_keys=False))
    spawn = spawn or _record(layout, ports)
    process, log = spawn(NAME, [str(TOOL), f"--configFile={files.config}"])
    # Into the caller's state when it keeps one in memory (services' starter saves its own
    # copy after every process it starts, which would drop an entry written behind it).
    state = layout.load_state() if record_in is None else record_in
    state["ingress"] = {"token_expires": expires.isoformat()}
    layout.save_state(state)
    processes.wait_ready(
        "traefik",
        lambda: _ping(ports[PING_PORT]) and _serves_tls(ports[PORT]),
        timeout,
        process,
        log,
        error=IngressError,
    )
    return process, log


def ingress_healthy(state: Mapping[str, Any], now: datetime.datetime | None = None) -> bool:
    """Whether the recorded Traefik runs, answers ping and TLS, and its token is not about
    to expire (it reads the token only at start)."""
    entry = (state.get("services") or {}).get(NAME)
    if entry is None or not processes.alive(entry["pid"], entry.get("started")):
        return False
    expires = (state.get("ingress") or {}).get("token_expires")
    now = now or datetime.datetime.now(datetime.UTC)
    if expires is None or datetime.datetime.fromisoformat(expires) - TOKEN_RENEW_BEFORE <= now:
        return False
    ports = state.get("ports") or {}
    return PORT in ports and PING_PORT in ports and _ping(ports[PING_PORT]) and _serves_tls(ports[PORT])


def stop_ingress(layout: Layout) -> bool:
    """Stop the recorded Traefik (if it runs) and remove its token. Returns whether it ran."""
    state = layout.load_state()
    entry = (state.get("services") or {}).pop(NAME, None)
    ran = entry is not None and processes.alive(entry["pid"], entry.get("started"))
    if entry is not None:
        processes.stop(entry["pid"], entry.get("started"))
        layout.save_state(state)
    IngressFiles(layout).token.unlink(missing_ok=True)
    return ran
