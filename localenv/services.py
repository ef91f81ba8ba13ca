"""The local targets: vcsim, PostgreSQL, etcd + kube-apiserver (with our CRDs), on 127.0.0.1.

`start_services` reuses a healthy set started earlier (so a second `make up` sees the same
endpoints and changes nothing). When some of its services died while the others kept running
(a crash), it starts those again alone, on their ports, with their data (`_restart_crashed`:
what a service manager would do; the pods, containers and every other service keep running);
one that runs but has stopped answering (hung) is killed and started again the same way.
Otherwise, or when that fails, it cleans up what a crashed run left behind (marked processes,
taken ports; the data directories stay) and starts a fresh set, preferring the ports used
last time so the stack's config stays the same. `stop_services` stops them all.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.conninfo import make_conninfo

from localenv import crds, ingress, pais, processes
from localenv import registry as local_registry
from localenv.etcd import apiserver_etcd_args, etcd_certs, etcd_healthy, etcd_tls_args
from localenv.files import write_private
from localenv.layout import ROOT, Layout
from localenv.pki import Pki, admin_tls, ensure_pki, kubeconfig

TOOLS = ROOT / ".tools" / "bin"
DEFAULT_VCENTER_USER = "administrator@vsphere.local"
DEFAULT_DB_SUPERUSER = "pgadmin"
DEFAULT_PAIS_CLIENT_ID = "chat-backend-local"
SERVICE_CIDR = "198.19.0.0/24"
NODE_IP = "198.18.0.1"
"""The local node's address on its bridge (RFC 2544 benchmarking range: no real machine uses it)."""
POD_NETWORK = "198.18.0.0/16"
# In the order they start; stopped in reverse.
# The node's components (localenv/node.py NODE_SERVICES) start after the controller manager.
SERVICES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "containerd",
    "kubelet",
    "kube-proxy",
    "kube-router",
    "vcsim",
    "postgres",
    "registry",
    "traefik",
    "pais",
)
PORTS = (
    "etcd",
    "etcd-peer",
    "kube-apiserver",
    "kube-controller-manager",
    "vcsim",
    "postgres",
    # localenv/node.py NODE_PORTS: health endpoints of the node's components on 127.0.0.1.
    "kube-scheduler",
    "kubelet-healthz",
    "kube-proxy",
    "kube-proxy-metrics",
    "registry",
    *ingress.PORTS,
    "pais",
)
# The ports (names in PORTS) each service listens on; the node's: localenv/node.py COMPONENT_PORTS.
SERVICE_PORTS: dict[str, tuple[str, ...]] = {
    "etcd": ("etcd", "etcd-peer"),
    "kube-apiserver": ("kube-apiserver",),
    "kube-controller-manager": ("kube-controller-manager",),
    "vcsim": ("vcsim",),
    "postgres": ("postgres",),
    "registry": ("registry",),
    "traefik": ingress.PORTS,
    "pais": ("pais",),
}
RESTART_TIMEOUT = 120.0
"""How long the set may take to be healthy again after crashed services were started alone."""
HUNG_GRACE = 15.0
"""How long a running service may go without answering before it counts as hung (stopped and
started again alone): a service that is only slow answers within it."""
# No statement text in the server log: a client may send a password in one (ours send SCRAM
# verifiers, as psql's \password does; a hand-typed ALTER ROLE does not). Not even a piece of
# one: a client's syntax error quotes the token it stopped at, so client errors (which the
# client sees anyway) stay out too; server events (LOG: start, stop, failed logins) stay in.
POSTGRES_NO_STATEMENT_LOG = {
    "log_statement": "none",
    "log_min_error_statement": "panic",
    "log_min_duration_statement": "-1",
    "log_min_messages": "log",
}


class LocalEnvError(RuntimeError):
    """A local service is missing, did not come up, or would not stop."""


@dataclass(frozen=True)
class Services:
    """Endpoints and credentials of a running set (what the stack's config needs)."""

    vcsim_port: int
    vcenter_username: str
    vcenter_password: str = field(repr=False)
    postgres_port: int
    db_superuser: str
    db_password: str = field(repr=False)
    apiserver_port: int
    kubeconfig_path: str
    vgpu_profiles: tuple[str, ...]
    registry_port: int
    ingress_port: int
    """Where the ingress controller serves HTTPS on 127.0.0.1."""
    pais_port: int
    """The PAIS stand-in's loopback listener (pods use the node address, port 443)."""
    pais_client_id: str

    @property
    def vcenter_host(self) -> str:
        return f"127.0.0.1:{self.vcsim_port}"

    @property
    def apiserver_url(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def kubeconfig(self) -> str:
        return Path(self.kubeconfig_path).read_text()

    def db_dsn(self, dbname: str = "postgres") -> str:
        return make_conninfo(
            host="127.0.0.1",
            port=self.postgres_port,
            user=self.db_superuser,
            password=self.db_password,
            dbname=dbname,
            sslmode="disable",
            connect_timeout=5,
        )


def tool(name: str) -> Path:
    path = TOOLS / name
    if not path.exists():
        raise LocalEnvError(f"{name} not found in {TOOLS}: run make setup")
    return path


def _server_account() -> pwd.struct_passwd | None:
    """The account PostgreSQL runs as when we are root (it refuses root); None otherwise."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise LocalEnvError("running as root and neither a 'postgres' nor a 'nobody' account exists")


def _wait(what: str, check: Callable[[], bool], timeout: float, process: subprocess.Popen[bytes], log: Path) -> None:
    processes.wait_ready(what, check, timeout, process, log, error=LocalEnvError, interval=0.1)


def _apiserver_ready(port: int, pki: Pki) -> bool:
    try:
        response = httpx.get(f"https://127.0.0.1:{port}/readyz", verify=admin_tls(pki), timeout=2)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def _controller_manager_healthy(port: int) -> bool:
    # /healthz is served without authentication; the certificate is its own self-signed one.
    try:
        response = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=False, timeout=2)  # noqa: S501
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def _vcsim_ready(port: int, log: Path) -> bool:
    # Our launcher prints the GOVC_URL line once it serves.
    return "GOVC_URL=" in processes.log_tail(log, 100_000) and processes.port_open(port)


def _postgres_ready(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True



def apiserver_command(
    pki: Pki,
    etcd_port: int,
    port: int,
    *,
    service_cidr: str,
    bind: str = "127.0.0.1",
    advertise: str = "127.0.0.1",
) -> list[str]:
    """kube-apiserver and the flags every one we start shares: etcd over TLS with client
    certificates, serving TLS from our PKI, client-certificate auth, service-account keys, no
    profiling. The caller adds its authorization mode and anything else."""
    return [
        str(tool("kube-apiserver")),
        *apiserver_etcd_args(pki, etcd_certs(pki), etcd_port),
        f"--bind-address={bind}",
        f"--advertise-address={advertise}",
        f"--secure-port={port}",
        f"--tls-cert-file={pki.serving_cert}",
        f"--tls-private-key-file={pki.serving_key}",
        f"--client-ca-file={pki.ca_cert}",
        "--service-account-issuer=https://kubernetes.default.svc",
        f"--service-account-key-file={pki.service_account_pub}",
        f"--service-account-signing-key-file={pki.service_account_key}",
        f"--service-cluster-ip-range={service_cidr}",
        "--profiling=false",
    ]

class _Starter:
    """Starts one fresh set, recording each process in state.json as soon as it exists."""

    def __init__(self, layout: Layout, state: dict[str, Any], ports: dict[str, int], *, fresh: bool = True) -> None:
        self.layout = layout
        self.state = state
        self.ports = ports
        if fresh:
            self.state["services"] = {}
        self.state["ports"] = ports

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        account: pwd.struct_passwd | None = None,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.layout.logs / f"{name}.log"
        process = processes.spawn(argv, home=self.layout.home, log=log, account=account, cwd=cwd, env=env)
        self.state["services"][name] = {
            "pid": process.pid,
            "started": processes.start_time(process.pid),
            "port": self.ports.get(name),
            "log": str(log),
        }
        self.layout.save_state(self.state)
        return process, log

    def etcd(self, pki: Pki) -> tuple[subprocess.Popen[bytes], Path]:
        """etcd over TLS with client certificates only (localenv/etcd.py), peer URL included:
        a data directory written by an earlier plain-HTTP etcd is reused as it is."""
        client = f"https://127.0.0.1:{self.ports['etcd']}"
        peer = f"https://127.0.0.1:{self.ports['etcd-peer']}"
        # An existing data directory is the cluster's state: it is reused, never re-created.
        self.layout.etcd_dir.mkdir(mode=0o700, exist_ok=True)
        return self.spawn(
            "etcd",
            [
                str(tool("etcd")),
                "--name=paif-local",
                f"--data-dir={self.layout.etcd_dir}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=paif-local={peer}",
                *etcd_tls_args(pki, etcd_certs(pki)),
                "--log-level=warn",
            ],
        )

    def apiserver(self, pki: Pki) -> tuple[subprocess.Popen[bytes], Path]:
        return self.spawn(
            "kube-apiserver",
            [
                # Every address, guarded by node.guard_apiserver (loopback and our bridge
                # only): pods reach the API server at the node IP, which the `kubernetes`
                # Service points to (Endpoints may not be loopback addresses).
                *apiserver_command(
                    pki,
                    self.ports["etcd"],
                    self.ports["kube-apiserver"],
                    service_cidr=SERVICE_CIDR,
                    bind="0.0.0.0",  # noqa: S104 - guarded, see above
                    advertise=NODE_IP,
                ),
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                f"--kubelet-client-certificate={pki.client_cert('apiserver-kubelet-client')}",
                f"--kubelet-client-key={pki.client_key('apiserver-kubelet-client')}",
                f"--kubelet-certificate-authority={pki.ca_cert}",
                "--kubelet-preferred-address-types=InternalIP",
            ],
        )

    def controller_manager(self, pki: Pki, kubeconfig_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
        """Garbage collection (pulumi-kubernetes deletes in the foreground, which only the
        garbage collector completes) and namespace deletion, as in a real control plane."""
        return self.spawn(
            "kube-controller-manager",
            [
                str(tool("kube-controller-manager")),
                f"--kubeconfig={kubeconfig_path}",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.ports['kube-controller-manager']}",
                f"--cert-dir={self.layout.home / 'controller-manager'}",
                "--leader-elect=false",
                f"--service-account-private-key-file={pki.service_account_key}",
                f"--root-ca-file={pki.ca_cert}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # The node's pod CIDR (198.18.0.0/24) and the hostPath provisioner behind the
                # default StorageClass paif-local-hostpath.
                "--allocate-node-cidrs",
                f"--cluster-cidr={POD_NETWORK}",
                "--node-cidr-mask-size=24",
                "--enable-hostpath-provisioner",
                "--profiling=false",
            ],
        )

    def vcsim(self, username: str, password: str, vgpu_profiles: Sequence[str]) -> tuple[subprocess.Popen[bytes], Path]:
        argv = [str(tool("vcsim")), "-l", f"127.0.0.1:{self.ports['vcsim']}", "-username", username]
        if vgpu_profiles:
            argv += ["-vgpu-profiles", ",".join(vgpu_profiles)]
        # The password in the environment: not in `ps` and not in the log.
        return self.spawn("vcsim", argv, env={"VCSIM_PASSWORD": password})

    def postgres(self, superuser: str, password: str) -> tuple[subprocess.Popen[bytes], Path]:
        """PostgreSQL on its data directory: created by initdb the first time, reused on every
        later start (a restart, a crash, a changed setting never loses rows)."""
        account = _server_account()
        base = self.layout.postgres_dir
        base.mkdir(mode=0o700, exist_ok=True)
        data = base / "data"
        owner_file = base / "superuser"
        if (data / "PG_VERSION").exists():
            existing = owner_file.read_text().strip() if owner_file.exists() else superuser
            if existing != superuser:
                raise LocalEnvError(
                    f"paif:database.adminUsername is '{superuser}' but the local PostgreSQL data in {data} "
                    f"belongs to superuser '{existing}'; set it back to '{existing}', or run `make clean` "
                    "to delete the local data and start over"
                )
        else:
            self._initdb(account, base, data, superuser, password)
            owner_file.write_text(superuser + "\n")
        _remove_stale_lock(data)
        hba = base / "pg_hba.conf"
        # Password logins over TCP only: from this machine and from the local node's pods.
        write_private(
            hba,
            "".join(f"host all all {network} scram-sha-256\n" for network in ("127.0.0.1/32", POD_NETWORK)),
        )
        if account is not None:
            os.chown(base, account.pw_uid, account.pw_gid)
            os.chown(hba, account.pw_uid, account.pw_gid)
        options = {
            # The node's bridge address: pods reach the database there (db.local.paif.test).
            "listen_addresses": f"127.0.0.1,{NODE_IP}",
            "port": str(self.ports["postgres"]),
            "unix_socket_directories": "",
            "password_encryption": "scram-sha-256",
            "hba_file": str(hba),
            **POSTGRES_NO_STATEMENT_LOG,
        }
        argv = [str(tool("postgres")), "-D", str(data)]
        for name, value in options.items():
            argv += ["-c", f"{name}={value}"]
        return self.spawn("postgres", argv, account=account, cwd=base)

    def registry(self) -> tuple[subprocess.Popen[bytes], Path]:
        """The OCI registry standing in for Harbor (TLS, basic auth; data kept)."""
        argv = local_registry.prepare(self.layout, self.ports["registry"])
        return self.spawn(
            "registry", argv, account=local_registry.account(), cwd=local_registry.paths(self.layout).directory
        )

    def pais(self, pki: Pki, client_id: str) -> tuple[subprocess.Popen[bytes], Path]:
        """The PAIS stand-in on the node address (port 443) and a loopback port."""
        argv = pais.argv(
            self.layout,
            pki,
            node_ip=NODE_IP,
            port=self.ports["pais"],
            client_id=client_id,
            client_secret=self.layout.secret("pais_client_secret"),
        )
        return self.spawn("pais", argv, cwd=ROOT)

    def _initdb(self, account: pwd.struct_passwd | None, base: Path, data: Path, superuser: str, password: str) -> None:
        password_file = base / "superuser-password"
        write_private(password_file, password + "\n")
        if account is not None:
            os.chown(base, account.pw_uid, account.pw_gid)
            os.chown(password_file, account.pw_uid, account.pw_gid)
        try:
            result = subprocess.run(
                [
                    str(tool("initdb")),
                    "-D",
                    str(data),
                    "-U",
                    superuser,
                    f"--pwfile={password_file}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
                cwd=base,
                user=account.pw_uid if account else None,
                group=account.pw_gid if account else None,
                extra_groups=[] if account else None,
            )
        finally:
            password_file.unlink()
        if result.returncode != 0:
            reachable = (
                "" if account is None else f" (as {account.pw_name}: every parent of {base} must be traversable)"
            )
            raise LocalEnvError(f"initdb failed{reachable}: {result.stderr.strip() or result.stdout.strip()}")


def _remove_stale_lock(data: Path) -> None:
    """Remove `postmaster.pid` when the postmaster it names is dead, a zombie included.

    A SIGKILLed postmaster whose parent is gone stays a zombie until the machine's init
    reaps it, and PostgreSQL takes the zombie's pid for a running server ("lock file
    postmaster.pid already exists"). Its shared memory is still checked by the new server
    (it refuses while a process is attached), so this never lets two servers share a
    data directory."""
    lock = data / "postmaster.pid"
    try:
        pid = int(lock.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    if processes.start_time(pid) is None:
        lock.unlink(missing_ok=True)


def _choose_ports(previous: dict[str, int]) -> dict[str, int]:
    """Last run's ports where they are free (stable endpoints), fresh free ones otherwise."""
    chosen: dict[str, int] = {}
    for name in PORTS:
        port = previous.get(name)
        if port is None or port in chosen.values() or not processes.port_free(port):
            port = processes.free_port()
            while port in chosen.values():
                port = processes.free_port()
        chosen[name] = port
    return chosen


def _settings(
    vcenter_username: str, db_superuser: str, vgpu_profiles: Sequence[str], pais_client_id: str
) -> dict[str, Any]:
    return {
        "vcenter_username": vcenter_username,
        "db_superuser": db_superuser,
        "vgpu_profiles": sorted(vgpu_profiles),
        "pais_client_id": pais_client_id,
    }


def _services_from(layout: Layout, state: dict[str, Any]) -> Services:
    ports = state["ports"]
    settings = state["settings"]
    return Services(
        vcsim_port=ports["vcsim"],
        vcenter_username=settings["vcenter_username"],
        vcenter_password=layout.secret("vcenter_password"),
        postgres_port=ports["postgres"],
        db_superuser=settings["db_superuser"],
        db_password=layout.secret("db_superuser_password"),
        apiserver_port=ports["kube-apiserver"],
        kubeconfig_path=str(layout.kubeconfig),
        vgpu_profiles=tuple(settings["vgpu_profiles"]),
        registry_port=ports["registry"],
        ingress_port=ports[ingress.PORT],
        pais_port=ports["pais"],
        pais_client_id=settings.get("pais_client_id", DEFAULT_PAIS_CLIENT_ID),
    )


def health(layout: Layout, state: dict[str, Any] | None = None) -> dict[str, bool]:
    """Whether each recorded service runs (as the recorded process) and answers."""
    state = layout.load_state() if state is None else state
    recorded: dict[str, Any] = state.get("services") or {}
    result = {}
    for name in SERVICES:
        entry = recorded.get(name)
        result[name] = entry is not None and processes.alive(entry["pid"], entry.get("started"))
    if not all(result.values()) or "settings" not in state:
        return result
    services = _services_from(layout, state)
    pki = Pki(layout.pki_dir)
    result["etcd"] = etcd_healthy(state["ports"]["etcd"], pki)
    result["kube-apiserver"] = _apiserver_ready(services.apiserver_port, pki)
    result["kube-controller-manager"] = _controller_manager_healthy(state["ports"]["kube-controller-manager"])
    result["vcsim"] = processes.port_open(services.vcsim_port)
    result["postgres"] = _postgres_ready(services.db_dsn())
    from localenv import node  # here: node imports this module

    result["kubelet"] = node.node_health(services.apiserver_url, pki)
    result["registry"] = local_registry.registry_healthy(layout, services.registry_port)
    result["traefik"] = ingress.ingress_healthy(state)
    result["pais"] = pais.healthy(pki, services.pais_port)
    return result


def _clean(layout: Layout, state: dict[str, Any]) -> list[str]:
    """Stop whatever an earlier run left running and free its ports; the data directories
    stay (the next start reuses them). Returns what was found, for the log."""
    from localenv import node  # here: node imports this module

    # The node first: its containers, mounts, network and iptables state (and its processes).
    found = node.stop_node(layout, state)
    recorded: dict[str, Any] = state.get("services") or {}
    for name in reversed(SERVICES):
        entry = recorded.get(name)
        if entry and processes.alive(entry["pid"], entry.get("started")):
            found.append(f"{name} (pid {entry['pid']})")
            # SIGINT is PostgreSQL's fast shutdown; SIGTERM would wait for clients.
            sig = signal.SIGINT if name == "postgres" else signal.SIGTERM
            processes.stop(entry["pid"], entry.get("started"), sig)
        elif entry:
            processes.wait_gone([entry["pid"]], 0)
    found += [f"stray process {pid}" for pid in processes.sweep(layout.home)]
    ports = [port for port in (state.get("ports") or {}).values() if isinstance(port, int)]
    taken = processes.wait_ports_free(ports, timeout=10)
    if taken:
        found.append(f"ports still taken by other programs: {taken}")
    # Data directories are kept: only `make clean` (`python -m localenv clean`) deletes data.
    state["services"] = {}
    layout.save_state(state)
    return found


def start_services(
    layout: Layout | None = None,
    *,
    vcenter_username: str = DEFAULT_VCENTER_USER,
    db_superuser: str = DEFAULT_DB_SUPERUSER,
    vgpu_profiles: Sequence[str] = (),
    pais_client_id: str = DEFAULT_PAIS_CLIENT_ID,
    log: Callable[[str], None] = print,
) -> Services:
    """Make sure the local targets run and answer; return their endpoints.

    A healthy set started earlier with the same settings is reused as is. Otherwise
    leftovers are cleaned up and a fresh set is started (etcd, kube-apiserver with our
    CRDs Established, vcsim whose hosts advertise `vgpu_profiles`, PostgreSQL whose
    superuser is `db_superuser`).
    """
    layout = layout or Layout()
    layout.prepare()
    state = layout.load_state()
    settings = _settings(vcenter_username, db_superuser, vgpu_profiles, pais_client_id)
    healthy = bool(state.get("services")) and all(health(layout, state).values())
    if not healthy:
        try:
            healthy = _restart_crashed(layout, state, settings, log)
        except Exception as error:  # any failure: the fresh set below
            log(f"starting the crashed service(s) alone failed, restarting every service: {error}")
    if healthy and _only_vgpu_profiles_differ(state.get("settings") or {}, settings):
        # vcsim alone advertises the profiles: restart it, keep everything else (and its data).
        state["settings"] = settings
        _restart_vcsim(layout, state, log)
        layout.save_state(state)
    if healthy and state.get("settings") == settings:
        services = _services_from(layout, state)
        crds.apply(services.kubeconfig_path)
        from localenv import node  # here: node imports this module

        node.refresh_addons(services.apiserver_url, Pki(layout.pki_dir))
        log(f"local services already running (API server {services.apiserver_url})")
        return services

    leftovers = _clean(layout, state)
    if leftovers:
        log(f"cleaned up after an earlier run: {', '.join(leftovers)}")
    started = time.monotonic()
    state["settings"] = settings
    starter = _Starter(layout, state, _choose_ports(state.get("ports") or {}))
    services = _services_from(layout, state)
    pki = ensure_pki(layout.pki_dir)
    from localenv import node  # here: node imports this module

    try:
        # The bridge before anything binds to the node IP (PostgreSQL), the API server's
        # guard before it listens.
        node.claim(layout)
        node.ensure_bridge()
        node.guard_apiserver(starter.ports["kube-apiserver"])
        _launch("etcd", starter, pki, services).wait()
        # The API server and the targets start together; the API server is awaited last
        # (it takes longest), then the controller manager, which needs its kubeconfig.
        apiserver, *targets = [
            _launch(name, starter, pki, services)
            for name in ("kube-apiserver", "vcsim", "postgres", "registry", "pais")
        ]
        for pending in (*targets, apiserver):
            pending.wait()
        write_private(layout.kubeconfig, kubeconfig(pki, services.apiserver_url))
        manager = _launch("kube-controller-manager", starter, pki, services)
        crds.apply(services.kubeconfig_path)
        manager.wait()
        ingress.start_ingress(layout, starter.ports, pki, services.apiserver_url, spawn=starter.spawn, record_in=state)
        node.start_node(layout, starter.spawn, starter.ports, pki, services.apiserver_url, log=log)
    except BaseException:
        _clean(layout, state)
        raise
    log(
        f"local services up in {time.monotonic() - started:.1f} s: "
        + json.dumps({name: port for name, port in starter.ports.items() if name != "etcd-peer"})
    )
    return services


def _restart_crashed(
    layout: Layout, state: dict[str, Any], settings: dict[str, Any], log: Callable[[str], None]
) -> bool:
    """Start again, alone, the recorded services that died while the others kept running (a
    crash of one service), on their ports with their config and data, and wait until the
    whole set is healthy. When every process runs but some do not answer, the first of those
    in start order (the others may only wait on it) counts as hung once it has not answered
    for HUNG_GRACE: it is SIGKILLed (it answers no graceful stop; PostgreSQL and etcd recover
    from their logs) and started again alone like a crashed one. True when the set is healthy
    again; False when this does not apply (nothing started): the settings changed, everything
    died (a reboot), the node's bridge is gone, or a dead service's port is taken (it must
    move: the caller starts a fresh set). Raises when a restart fails (the caller then
    restarts everything).

    What outlived the dead process is ended first (PostgreSQL's backends keep its shared
    memory, a new postmaster would refuse to start), except containerd's: its shims keep the
    pods' containers running, and the new containerd reconnects to them."""
    from localenv import node  # here: node imports this module

    recorded: dict[str, Any] = state.get("services") or {}
    if state.get("settings") != settings or set(recorded) != set(SERVICES):
        return False
    dead = [name for name in SERVICES if not processes.alive(recorded[name]["pid"], recorded[name].get("started"))]
    if len(dead) == len(SERVICES) or not node.holds_machine_state(layout):
        return False
    if not dead:
        hung = _hung(layout, state)
        if hung is None:
            return True
        entry = recorded[hung]
        log(
            f"{hung} (pid {entry['pid']}) runs but has not answered for {HUNG_GRACE:.0f} s: "
            "stopping it to start it again alone"
        )
        processes.signal_pid(entry["pid"], signal.SIGKILL)
        if processes.wait_gone([entry["pid"]], 10):
            raise LocalEnvError(f"{hung} (pid {entry['pid']}) survived SIGKILL")
        dead = [hung]
    for name in dead:
        if name != "containerd":
            program = tool("postgres") if name == "postgres" else None
            left = processes.left_behind(layout.home, recorded[name]["pid"], program)
            for pid in left:
                processes.signal_pid(pid, signal.SIGKILL)
            if processes.wait_gone(left, 10):
                raise LocalEnvError(f"what {name} left running survived SIGKILL: {left}")
        processes.wait_gone([recorded[name]["pid"]], 0)  # reap it if it was our child
    ports = state["ports"]
    wanted = [ports[port] for name in dead for port in {**SERVICE_PORTS, **node.COMPONENT_PORTS}[name]]
    taken = processes.wait_ports_free(wanted, timeout=3)
    if taken:
        log(f"{', '.join(dead)} died and port(s) {taken} are taken now: starting a fresh set")
        return False
    started = time.monotonic()
    log(
        "crashed: "
        + ", ".join(f"{name} (pid {recorded[name]['pid']})" for name in dead)
        + "; starting it alone, every other service keeps running"
    )
    starter = _Starter(layout, state, ports, fresh=False)
    pki = Pki(layout.pki_dir)
    services = _services_from(layout, state)
    for name in dead:  # in start order: what a later one needs comes first
        _start_alone(name, starter, pki, services)
    deadline = time.monotonic() + RESTART_TIMEOUT
    while not all((now := health(layout, state)).values()):
        gone = [name for name in SERVICES if not processes.alive(recorded[name]["pid"], recorded[name].get("started"))]
        if gone:
            raise LocalEnvError(f"{', '.join(gone)} exited after {', '.join(dead)} started again")
        if time.monotonic() > deadline:
            unhealthy = [name for name, ok in now.items() if not ok]
            raise LocalEnvError(
                f"after starting {', '.join(dead)} again: {', '.join(unhealthy)} not healthy "
                f"within {RESTART_TIMEOUT:.0f} s"
            )
        time.sleep(0.5)
    log(f"{', '.join(dead)} started again in {time.monotonic() - started:.1f} s, with the data")
    return True


def _hung(layout: Layout, state: dict[str, Any]) -> str | None:
    """The first service in start order that has not answered once in HUNG_GRACE while its
    process runs (when each answered at some check but never all at once: the first that did
    not answer the last check); None when the whole set answered at some check in that time."""
    silent = set(SERVICES)
    deadline = time.monotonic() + HUNG_GRACE
    while True:
        now = health(layout, state)
        failing = {name for name, ok in now.items() if not ok}
        if not failing:
            return None
        silent &= failing
        if time.monotonic() > deadline:
            return next(name for name in SERVICES if name in (silent or failing))
        time.sleep(1)


@dataclass(frozen=True)
class _Pending:
    """A service just started: what waiting for it needs."""

    what: str
    process: subprocess.Popen[bytes]
    log: Path
    ready: Callable[[], bool]
    timeout: float

    def wait(self) -> None:
        _wait(self.what, self.ready, self.timeout, self.process, self.log)


def _launch(name: str, starter: _Starter, pki: Pki, services: Services) -> _Pending:
    """Start `name` (a control-plane service or a target; Traefik and the node's components
    are started by localenv/ingress.py and localenv/node.py) on its port with its data: the
    same start and ready check for a fresh set and for a crashed service started alone."""
    ports, layout = starter.ports, starter.layout
    start: dict[str, Callable[[], tuple[subprocess.Popen[bytes], Path]]] = {
        "etcd": lambda: starter.etcd(pki),
        "kube-apiserver": lambda: starter.apiserver(pki),
        "kube-controller-manager": lambda: starter.controller_manager(pki, layout.kubeconfig),
        "vcsim": lambda: starter.vcsim(services.vcenter_username, services.vcenter_password, services.vgpu_profiles),
        "postgres": lambda: starter.postgres(services.db_superuser, services.db_password),
        "registry": starter.registry,
        "pais": lambda: starter.pais(pki, services.pais_client_id),
    }
    if name not in start:
        raise ValueError(f"{name} is not started by _launch; one of {', '.join(start)}")
    process, log = start[name]()
    ready: dict[str, tuple[str, Callable[[], bool], float]] = {
        "etcd": ("etcd", lambda: etcd_healthy(ports["etcd"], pki), 30),
        "kube-apiserver": ("kube-apiserver", lambda: _apiserver_ready(services.apiserver_port, pki), 90),
        "kube-controller-manager": (
            "kube-controller-manager",
            lambda: _controller_manager_healthy(ports["kube-controller-manager"]),
            60,
        ),
        "vcsim": ("vcsim", lambda: _vcsim_ready(services.vcsim_port, log), 30),
        "postgres": ("PostgreSQL", lambda: _postgres_ready(services.db_dsn()), 60),
        "registry": ("registry", lambda: local_registry.registry_healthy(layout, services.registry_port), 30),
        "pais": ("PAIS stand-in", lambda: pais.healthy(pki, services.pais_port), 30),
    }
    what, check, timeout = ready[name]
    return _Pending(what, process, log, check, timeout)


def _start_alone(name: str, starter: _Starter, pki: Pki, services: Services) -> None:
    """Start service `name` on its recorded port while the rest of the set runs."""
    from localenv import node  # here: node imports this module

    if name in node.NODE_SERVICES:
        node.restart_component(
            name, starter.layout, starter.spawn, starter.ports, pki, apiserver_url=services.apiserver_url
        )
    elif name == ingress.NAME:
        ingress.start_ingress(
            starter.layout, starter.ports, pki, services.apiserver_url, spawn=starter.spawn, record_in=starter.state
        )
    else:
        _launch(name, starter, pki, services).wait()


def _only_vgpu_profiles_differ(previous: dict[str, Any], settings: dict[str, Any]) -> bool:
    def rest(values: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in values.items() if k != "vgpu_profiles"}

    return previous != settings and rest(previous) == rest(settings)


def _restart_vcsim(layout: Layout, state: dict[str, Any], log: Callable[[str], None]) -> None:
    """Restart vcsim on its port with the vGPU profiles of state's settings. Its inventory is
    in memory: the next `pulumi up --refresh` finds the namespace and VM classes gone and
    creates them again."""
    entry = state["services"]["vcsim"]
    processes.stop(entry["pid"], entry.get("started"), signal.SIGTERM)
    processes.wait_ports_free([entry["port"]], timeout=10)
    services = _services_from(layout, state)
    _launch("vcsim", _Starter(layout, state, state["ports"], fresh=False), Pki(layout.pki_dir), services).wait()
    profiles = ", ".join(services.vgpu_profiles) or "none"
    log(f"vcsim restarted to advertise vGPU profiles {profiles}; nothing else restarted")


def stop_services(layout: Layout | None = None, *, log: Callable[[str], None] = print) -> None:
    """Stop every local service; nothing of ours keeps running. The data directories stay
    (only `make clean` deletes them); ports and credentials are remembered for the next start."""
    layout = layout or Layout()
    if not layout.home.exists():
        return
    stopped = _clean(layout, layout.load_state())
    log(f"stopped: {', '.join(stopped)}" if stopped else "no local services were running")


def describe(layout: Layout | None = None) -> dict[str, Any]:
    """What `python -m localenv status` prints: each service's pid, port and health."""
    layout = layout or Layout()
    state = layout.load_state()
    healthy = health(layout, state)
    recorded: dict[str, Any] = state.get("services") or {}
    return {
        name: {**recorded[name], "healthy": healthy[name]} if name in recorded else {"healthy": False}
        for name in SERVICES
    }
