"""The local cluster's node: containerd + runc + the CNI bridge, kubelet, kube-proxy,
kube-router's NetworkPolicy controller, kube-scheduler and the cluster DNS (CoreDNS).

Everything it creates on the host is ours by name or by place, so `stop_node` can remove it
and `leftovers` can prove that it did:
- the bridge `paif0` (198.18.0.1/24, `ensure_bridge`) and the pods' veths on it;
- containerd with its own config, root, state and socket under `.localenv/node/` (not the
  system service); the pods' network namespaces are bind-mounted under its state directory;
- the kubelet's root directory, pod logs and the cgroup `/paif` in every cgroup v1 hierarchy
  (the kubelet's `cgroupRoot`);
- iptables chains: ours start with PAIF-; kube-proxy's, the kubelet's and kube-router's start
  with KUBE- (nothing else on this machine runs Kubernetes); ipsets of kube-router (KUBE-*);
- the kernel settings the kubelet insists on (vm.overcommit_memory, kernel.panic,
  kernel.panic_on_oops, ...): recorded before it starts, restored by `stop_node`.

The node's images (pause and CoreDNS, built by toolchain/setup-node.sh) are imported into
containerd at start: nothing is ever pulled.
"""

from __future__ import annotations

import contextlib
import importlib
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import yaml

from localenv import processes
from localenv.files import write_private
from localenv.layout import ROOT, Layout
from localenv.pki import NODE_IP, NODE_NAME, Pki, admin_tls, component_kubeconfig
from localenv.services import LocalEnvError, tool

BRIDGE = "paif0"
BRIDGE_ADDRESS = f"{NODE_IP}/24"
POD_SUBNET = "198.18.0.0/24"
POD_RANGE_START = "198.18.0.10"
CLUSTER_CIDR = "198.18.0.0/16"
SERVICE_CIDR = "198.19.0.0/24"
CLUSTER_DNS = "198.19.0.10"
CLUSTER_DOMAIN = "cluster.local"
# Names the cluster DNS answers with the node IP (host processes listening on the bridge).
HOST_NAMES = ("pais.local.paif.test", "db.local.paif.test", "registry.local.paif.test")
HOSTS_ZONE = "local.paif.test"
KUBELET_PORT = 10250
DNS_PORT = 53
"""CoreDNS listens on 53 in its pod, as in a real cluster: NetworkPolicies name port 53 and
are matched after the Service's DNAT, so a remapped target port would be denied. It runs as
non-root with the namespaced sysctl net.ipv4.ip_unprivileged_port_start=53 (no capability)."""
CGROUP_NAME = "paif"
CGROUP_ROOT = Path("/sys/fs/cgroup")
CONTAINER_LOGS = Path("/var/log/containers")  # the kubelet's symlinks (a fixed path)
NETNS_DIR = Path("/var/run/netns")
# containerd's fixed runtime directory (shim sockets): created by ours when no system
# containerd runs; removed when empty.
CONTAINERD_RUN = Path("/run/containerd")
# The bridge, node IP, iptables chains and kernel settings exist once per machine: the
# .localenv whose node holds them is recorded here (tmpfs: gone after a reboot, like they are).
OWNER_FILE = Path("/run/paif-node.owner")
SYSCTL_SNAPSHOT = Path("/run/paif-node.sysctls.json")
IMAGES = ROOT / ".tools" / "images"
CNI_BIN = Path("/usr/lib/cni")
# In the order they start (after kube-controller-manager); stopped in reverse by stop_node.
NODE_SERVICES = ("kube-scheduler", "containerd", "kubelet", "kube-proxy", "kube-router")
# Ports on 127.0.0.1 the node's components serve health on.
NODE_PORTS = ("kube-scheduler", "kubelet-healthz", "kube-proxy", "kube-proxy-metrics")
# Which of them each component listens on (the kubelet also on NODE_IP:KUBELET_PORT).
COMPONENT_PORTS: dict[str, tuple[str, ...]] = {
    "kube-scheduler": ("kube-scheduler",),
    "containerd": (),
    "kubelet": ("kubelet-healthz",),
    "kube-proxy": ("kube-proxy", "kube-proxy-metrics"),
    "kube-router": (),
}
# Kernel settings the kubelet sets (container_manager_linux.go setupKernelTunables) and the
# ones kube-proxy or kube-router could touch: recorded at start, restored at stop.
SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/route_localnet",
    "net/bridge/bridge-nf-call-iptables",
    "net/netfilter/nf_conntrack_max",
    "net/netfilter/nf_conntrack_tcp_timeout_established",
    "net/netfilter/nf_conntrack_tcp_timeout_close_wait",
)
# iptables chains and ipsets of ours, by name.
OUR_CHAIN = re.compile(r"^(PAIF-|KUBE-|CNI-)")
OUR_IPSET = re.compile(r"^(inet6:)?(KUBE-|kube-router)")
APISERVER_GUARD = "PAIF-APISERVER"
FIELD_MANAGER = "paif-localenv"
STORAGE_CLASS = "paif-local-hostpath"
READY_TIMEOUT = 120.0
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Spawn(Protocol):
    """services._Starter.spawn: start a marked process, record it in state.json."""

    def __call__(
        self, name: str, argv: Sequence[str], *, env: dict[str, str] | None = None
    ) -> tuple[subprocess.Popen[bytes], Path]: ...


@dataclass(frozen=True)
class NodePaths:
    """Where the node keeps its files under one `.localenv`."""

    home: Path

    @property
    def base(self) -> Path:
        return self.home / "node"

    @property
    def containerd_dir(self) -> Path:
        return self.base / "containerd"

    @property
    def containerd_config(self) -> Path:
        return self.containerd_dir / "config.toml"

    @property
    def containerd_root(self) -> Path:
        return self.containerd_dir / "root"

    @property
    def containerd_state(self) -> Path:
        return self.containerd_dir / "state"

    @property
    def certs_d(self) -> Path:
        return self.containerd_dir / "certs.d"

    @property
    def socket(self) -> Path:
        return self.base / "run" / "containerd.sock"

    @property
    def cni_conf_dir(self) -> Path:
        return self.base / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.base / "cni" / "ipam"

    @property
    def kubelet_dir(self) -> Path:
        return self.base / "kubelet"

    @property
    def kubelet_config(self) -> Path:
        return self.base / "kubelet-config.yaml"

    @property
    def pod_logs(self) -> Path:
        return self.base / "pod-logs"

    @property
    def resolv_conf(self) -> Path:
        return self.base / "resolv.conf"

    def kubeconfig(self, component: str) -> Path:
        return self.base / f"{component}.kubeconfig"

    @property
    def sysctl_snapshot(self) -> Path:
        """Machine-wide, like the settings: the first start records the machine's own values
        and they stay recorded until a stop restores them (even across crashed environments)."""
        return SYSCTL_SNAPSHOT


# --- small helpers -------------------------------------------------------------------------


def _run(argv: Sequence[str], *, check: bool = True, timeout: float = 60, stdin: str | None = None) -> str:
    result = subprocess.run(
        list(argv),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PATH": SBIN_PATH},
    )
    if check and result.returncode != 0:
        raise LocalEnvError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def _program(name: str) -> str:
    found = shutil.which(name, path=SBIN_PATH)
    if found is None:
        raise LocalEnvError(f"{name} not found: run make setup (Debian packages of the node)")
    return found


def _link_exists(name: str) -> bool:
    return Path(f"/sys/class/net/{name}").exists()


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name


def _read_sysctl(name: str) -> str | None:
    try:
        return _sysctl_path(name).read_text().strip()
    except OSError:
        return None


# --- ownership, bridge and the API server guard ---------------------------------------------


def owner() -> Path | None:
    """The `.localenv` whose node holds the machine-wide state, if its processes still run."""
    try:
        home = Path(OWNER_FILE.read_text().strip())
    except OSError:
        return None
    return home if processes.marked(home) else None


def claim(layout: Layout) -> None:
    """Record `layout` as the owner of the machine-wide node state; refuse when another
    `.localenv`'s node runs (one node per machine: one bridge, one node IP)."""
    current = owner()
    if current is not None and current != layout.home:
        raise LocalEnvError(
            f"the local node ({BRIDGE}, {NODE_IP}) belongs to the running local environment in {current}: "
            "stop it first (`make down` or stop_services there)"
        )
    OWNER_FILE.write_text(f"{layout.home}\n")


def _owns_machine_state(layout: Layout) -> bool:
    """Whether stop/leftovers may treat the machine-wide state as this layout's: it is the
    recorded owner, or no owner with running processes exists."""
    current = owner()
    return current is None or current == layout.home



def holds_machine_state(layout: Layout) -> bool:
    """Whether `layout`'s node holds the machine-wide state now: it is the recorded owner with
    processes running, and the bridge is there (a reboot removes it)."""
    return owner() == layout.home and _link_exists(BRIDGE)


def ensure_bridge() -> None:
    """Create the bridge `paif0` with 198.18.0.1/24, up; nothing if it is there already.

    Host processes (PostgreSQL, the PAIS stand-in) bind to 198.18.0.1, so this runs before
    they start; the pods' veths join it later (CNI bridge plugin)."""
    if not _link_exists(BRIDGE):
        _run(["ip", "link", "add", BRIDGE, "type", "bridge"])
    addresses = _run(["ip", "-o", "-4", "addr", "show", "dev", BRIDGE])
    if f" {BRIDGE_ADDRESS} " not in addresses:
        _run(["ip", "addr", "add", BRIDGE_ADDRESS, "dev", BRIDGE])
    _run(["ip", "link", "set", BRIDGE, "up"])


def guard_apiserver(port: int) -> None:
    """Accept connections to the API server's port only from loopback and our bridge.

    The API server listens on every address (pods reach it at the node IP, where the
    `kubernetes` Service points), which would otherwise include the machine's own network."""
    rules = [f"-A {APISERVER_GUARD} -i lo -j RETURN", f"-A {APISERVER_GUARD} -i {BRIDGE} -j RETURN"]
    rules.append(f"-A {APISERVER_GUARD} -j DROP")
    existing = _run(["iptables-save", "-t", "filter"])
    lines = ["*filter", f":{APISERVER_GUARD} - [0:0]", f"-F {APISERVER_GUARD}", *rules]
    for line in existing.splitlines():
        if line.startswith("-A INPUT ") and f"-j {APISERVER_GUARD}" in line:
            lines.append("-D" + line[2:])
    lines += [f"-I INPUT 1 -p tcp -m tcp --dport {port} -j {APISERVER_GUARD}", "COMMIT", ""]
    _run(["iptables-restore", "--noflush"], stdin="\n".join(lines))


# --- configuration files --------------------------------------------------------------------


def _image_ref(name: str) -> str:
    ref = IMAGES / f"{name}.ref"
    if not ref.exists() or not (IMAGES / f"{name}.tar").exists():
        raise LocalEnvError(f"node image {name} not found in {IMAGES}: run make setup")
    return ref.read_text().strip()


def _registry_toml(layout: Layout) -> str:
    """The CRI registry section of the local registry (localenv/registry.py), if it exists."""
    try:
        registry = importlib.import_module("localenv.registry")
    except ImportError:
        return ""
    render: Callable[[Layout], str] | None = getattr(registry, "containerd_registry_toml", None)
    if render is None:
        return ""
    not_running: type[Exception] = getattr(registry, "RegistryError", LocalEnvError)
    try:
        return render(layout)
    except not_running:
        return ""  # no registry in this run (its port is not in state.json)


def containerd_config(layout: Layout) -> str:
    """containerd's config: its own root, state and socket; the CRI plugin with cgroupfs,
    overlayfs, our pause image, Debian's CNI plugins and our CNI and registry config."""
    paths = NodePaths(layout.home)
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    registry = _registry_toml(layout)
    registry_section = "" if f"[{cri}.registry]" in registry else f'[{cri}.registry]\n  config_path = "{paths.certs_d}"\n'
    return f"""version = 2
root = "{paths.containerd_root}"
state = "{paths.containerd_state}"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]

[grpc]
  address = "{paths.socket}"

[debug]
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{paths.containerd_root / "opt"}"

[{cri}]
  sandbox_image = "{_image_ref("pause")}"
  # This machine forbids lowering oom_score_adj (the kubelet asks for -997 on critical pods).
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  # The pods' network namespaces under our state directory, not /var/run/netns.
  netns_mounts_under_state_dir = true

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  BinaryName = "/usr/sbin/runc"
  Root = "{paths.containerd_state / "runc"}"

[{cri}.cni]
  bin_dir = "{CNI_BIN}"
  conf_dir = "{paths.cni_conf_dir}"
  max_conf_num = 1

{registry_section}{registry}
"""


def cni_config(layout: Layout) -> dict[str, Any]:
    """The pods' network: Debian's bridge plugin on paif0 (the gateway, no masquerade: no
    traffic leaves the machine) with host-local addresses from 198.18.0.10 on."""
    paths = NodePaths(layout.home)
    return {
        "cniVersion": "1.0.0",
        "name": "paif",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(paths.cni_ipam_dir),
                    "ranges": [[{"subnet": POD_SUBNET, "rangeStart": POD_RANGE_START, "gateway": NODE_IP}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            }
        ],
    }


def kubelet_config(layout: Layout, pki: Pki, healthz_port: int) -> dict[str, Any]:
    paths = NodePaths(layout.home)
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "tlsCertFile": str(pki.kubelet_serving_cert),
        "tlsPrivateKeyFile": str(pki.kubelet_serving_key),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki.ca_cert)},
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{CGROUP_NAME}",
        "failCgroupV1": False,  # this machine has cgroup v1 (hybrid)
        "failSwapOn": False,
        "clusterDNS": [CLUSTER_DNS],
        "clusterDomain": CLUSTER_DOMAIN,
        "resolvConf": str(paths.resolv_conf),
        "containerRuntimeEndpoint": f"unix://{paths.socket}",
        "podLogsDir": str(paths.pod_logs),
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        # The machine's disk is shared with everything else: evict only when nearly full.
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "2%",
            "nodefs.inodesFree": "2%",
            "imagefs.available": "2%",
            "imagefs.inodesFree": "2%",
        },
        "imageGCHighThresholdPercent": 98,
        "imageGCLowThresholdPercent": 95,
        "shutdownGracePeriod": "0s",
        "shutdownGracePeriodCriticalPods": "0s",
        "registerNode": True,
    }


def _resolv_conf() -> str:
    # No upstream server: the cluster DNS answers cluster.local and our host names only.
    return "# paif local node: no upstream resolvers (CoreDNS never forwards)\noptions ndots:1\n"


def write_configs(layout: Layout, pki: Pki, apiserver_url: str, ports: Mapping[str, int]) -> None:
    """Write every config file of the node (idempotent)."""
    paths = NodePaths(layout.home)
    for directory in (
        paths.containerd_dir,
        paths.certs_d,
        paths.socket.parent,
        paths.cni_conf_dir,
        paths.cni_ipam_dir,
        paths.kubelet_dir,
        paths.pod_logs,
    ):
        directory.mkdir(parents=True, exist_ok=True)
    paths.base.chmod(0o700)
    write_private(paths.containerd_config, containerd_config(layout))  # may hold the registry password
    (paths.cni_conf_dir / "10-paif.conflist").write_text(json.dumps(cni_config(layout), indent=2) + "\n")
    paths.resolv_conf.write_text(_resolv_conf())
    paths.kubelet_config.write_text(yaml.safe_dump(kubelet_config(layout, pki, ports["kubelet-healthz"])))
    for component in ("kubelet", "kube-proxy", "kube-router", "kube-scheduler"):
        write_private(paths.kubeconfig(component), component_kubeconfig(pki, apiserver_url, component))


# --- the API (objects the node needs) ---------------------------------------------------------


class Api:
    """A few calls to the API server as the local admin (httpx, client certificate)."""

    def __init__(self, url: str, pki: Pki) -> None:
        context = admin_tls(pki)
        self.client = httpx.Client(base_url=url, verify=context, timeout=10)

    def close(self) -> None:
        self.client.close()

    def get(self, path: str) -> dict[str, Any] | None:
        try:
            response = self.client.get(path)
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        return body

    def apply(self, manifest: dict[str, Any]) -> None:
        """Server-side apply of one object."""
        response = self.client.patch(
            object_path(manifest),
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
            content=json.dumps(manifest),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        if response.status_code not in (200, 201):
            raise LocalEnvError(f"applying {manifest['kind']} {manifest['metadata']['name']}: {response.text[:500]}")


_PLURALS = {
    "ClusterRole": "clusterroles",
    "ClusterRoleBinding": "clusterrolebindings",
    "ServiceAccount": "serviceaccounts",
    "ConfigMap": "configmaps",
    "Service": "services",
    "Deployment": "deployments",
    "Pod": "pods",
    "NetworkPolicy": "networkpolicies",
    "Namespace": "namespaces",
    "StorageClass": "storageclasses",
}


def object_path(manifest: dict[str, Any]) -> str:
    """The REST path of `manifest`'s object."""
    api_version: str = manifest["apiVersion"]
    prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    namespace = manifest["metadata"].get("namespace")
    scope = f"/namespaces/{namespace}" if namespace else ""
    return f"{prefix}{scope}/{_PLURALS[manifest['kind']]}/{manifest['metadata']['name']}"


def rbac_manifests() -> list[dict[str, Any]]:
    """RBAC for the node's identities that the bootstrap policy does not cover."""
    rbac = "rbac.authorization.k8s.io/v1"
    return [
        {
            "apiVersion": rbac,
            "kind": "ClusterRole",
            "metadata": {"name": "paif:kube-router"},
            "rules": [
                {"apiGroups": [""], "resources": ["pods", "namespaces", "nodes"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": [""], "resources": ["services", "endpoints"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["get", "list", "watch"]},
            ],
        },
        {
            "apiVersion": rbac,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "paif:kube-router"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "paif:kube-router"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "paif:kube-router"}],
        },
        {
            # The API server's own client towards the kubelet (logs, exec, port-forward).
            "apiVersion": rbac,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "paif:kube-apiserver-kubelet-client"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:kubelet-api-admin"},
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "paif:kube-apiserver-kubelet-client"}
            ],
        },
    ]


def storage_manifests() -> list[dict[str, Any]]:
    """The default StorageClass: the controller manager's hostPath provisioner
    (--enable-hostpath-provisioner; volumes under /tmp/hostpath_pv on this machine)."""
    return [
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "kubernetes.io/host-path",
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        }
    ]


def corefile() -> str:
    """Two zones, nothing else: cluster.local (and reverse lookups) from the API, our host names
    from a `hosts` table. A name outside both is REFUSED (no server block serves it); nothing
    is ever forwarded. (`hosts` answers SERVFAIL for unknown names of its zone, so it must not
    sit in front of `kubernetes` in one block.)"""
    hosts = "\n".join(f"        {NODE_IP} {name}" for name in HOST_NAMES)
    return f"""{CLUSTER_DOMAIN}:{DNS_PORT} in-addr.arpa:{DNS_PORT} ip6.arpa:{DNS_PORT} {{
    errors
    health {{
        lameduck 2s
    }}
    ready
    log . {{
        class denial error
    }}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        pods insecure
        ttl 30
    }}
    cache 30
    loop
    reload
    loadbalance
}}
{HOSTS_ZONE}:{DNS_PORT} {{
    errors
    log . {{
        class denial error
    }}
    hosts {{
{hosts}
        ttl 30
    }}
    cache 30
    reload
}}
"""


def coredns_manifests() -> list[dict[str, Any]]:
    """CoreDNS in kube-system: no `forward` (nothing leaves the machine), non-root on port
    53 (a safe namespaced sysctl lets it bind; no capability needed)."""
    labels = {"k8s-app": "kube-dns"}
    meta = {"namespace": "kube-system", "labels": labels}
    rbac = "rbac.authorization.k8s.io/v1"
    probe_port = {"liveness": 8080, "readiness": 8181}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "coredns", **meta}},
        {
            "apiVersion": rbac,
            "kind": "ClusterRole",
            "metadata": {"name": "system:coredns", "labels": labels},
            "rules": [
                {"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"], "verbs": ["list", "watch"]},
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
            ],
        },
        {
            "apiVersion": rbac,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "system:coredns", "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:coredns"},
            "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": "kube-system"}],
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", **meta}, "data": {"Corefile": corefile()}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "coredns", **meta},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "coredns",
                        "priorityClassName": "system-cluster-critical",
                        "dnsPolicy": "Default",
                        "enableServiceLinks": False,
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": 65535,
                            "runAsGroup": 65535,
                            "seccompProfile": {"type": "RuntimeDefault"},
                            "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": str(DNS_PORT)}],
                        },
                        "containers": [
                            {
                                "name": "coredns",
                                "image": _image_ref("coredns"),
                                "imagePullPolicy": "Never",
                                "args": ["-conf", "/etc/coredns/Corefile"],
                                "ports": [
                                    {"name": "dns", "containerPort": DNS_PORT, "protocol": "UDP"},
                                    {"name": "dns-tcp", "containerPort": DNS_PORT, "protocol": "TCP"},
                                    {"name": "health", "containerPort": probe_port["liveness"], "protocol": "TCP"},
                                    {"name": "ready", "containerPort": probe_port["readiness"], "protocol": "TCP"},
                                ],
                                "livenessProbe": {
                                    "httpGet": {"path": "/health", "port": probe_port["liveness"]},
                                    "initialDelaySeconds": 10,
                                    "periodSeconds": 10,
                                    "failureThreshold": 5,
                                },
                                "readinessProbe": {
                                    "httpGet": {"path": "/ready", "port": probe_port["readiness"]},
                                    "periodSeconds": 2,
                                },
                                "resources": {
                                    "requests": {"cpu": "50m", "memory": "40Mi"},
                                    "limits": {"memory": "128Mi"},
                                },
                                "securityContext": {
                                    "allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]},
                                },
                                "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": True}],
                            }
                        ],
                        "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", **meta},
            "spec": {
                "clusterIP": CLUSTER_DNS,
                "selector": labels,
                "ports": [
                    {"name": "dns", "port": 53, "targetPort": DNS_PORT, "protocol": "UDP"},
                    {"name": "dns-tcp", "port": 53, "targetPort": DNS_PORT, "protocol": "TCP"},
                ],
            },
        },
    ]


# --- start ----------------------------------------------------------------------------------


def _cgroup_hierarchies() -> list[Path]:
    """The mounted cgroup v1 hierarchies (cpu, memory, ..., name=systemd) and the v2 one."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        separator = fields.index("-")
        if fields[separator + 1] in ("cgroup", "cgroup2"):
            mount_point = Path(fields[4])
            if mount_point.is_relative_to(CGROUP_ROOT):
                found.append(mount_point)
    return found


def _ensure_cgroups() -> None:
    """The kubelet's cgroupRoot /paif in every hierarchy (it must exist before the kubelet starts)."""
    for hierarchy in _cgroup_hierarchies():
        directory = hierarchy / CGROUP_NAME
        directory.mkdir(exist_ok=True)
        if (hierarchy / "cpuset.cpus").exists():
            for name in ("cpuset.cpus", "cpuset.mems"):
                if not (directory / name).read_text().strip():
                    (directory / name).write_text((hierarchy / name).read_text())


def _record_sysctls(paths: NodePaths) -> None:
    if paths.sysctl_snapshot.exists():
        return  # an earlier start recorded the machine's own values; keep those
    values = {name: _read_sysctl(name) for name in SYSCTLS}
    write_private(paths.sysctl_snapshot, json.dumps(values, indent=2, sort_keys=True) + "\n")


def _wait(what: str, check: Callable[[], bool], timeout: float, process: subprocess.Popen[bytes] | None, log: Path) -> None:
    processes.wait_ready(what, check, timeout, process, log, error=LocalEnvError, interval=0.5)


def _healthz(port: int, *, tls: bool) -> bool:
    scheme = "https" if tls else "http"
    try:
        # Health endpoints are served without authentication (kube-scheduler's with its own
        # self-signed certificate).
        response = httpx.get(f"{scheme}://127.0.0.1:{port}/healthz", verify=False, timeout=2)  # noqa: S501
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def ctr(layout: Layout, *args: str, timeout: float = 60, check: bool = True) -> str:
    """`ctr` against our containerd, in the CRI namespace."""
    return _run(["ctr", "--address", str(NodePaths(layout.home).socket), "-n", "k8s.io", *args], timeout=timeout, check=check)


def _containerd_up(layout: Layout) -> bool:
    if not NodePaths(layout.home).socket.exists():
        return False
    try:
        ctr(layout, "version", timeout=5)
    except (LocalEnvError, subprocess.TimeoutExpired):
        return False
    return True


def _import_images(layout: Layout) -> None:
    # busybox: the probe image tests run in pods (optional: only pause and CoreDNS are needed).
    optional = ["busybox"] if (IMAGES / "busybox.ref").exists() else []
    for name in ("pause", "coredns", *optional):
        ref = _image_ref(name)
        repository = ref.rsplit(":", 1)[0]
        ctr(layout, "images", "import", "--base-name", repository, str(IMAGES / f"{name}.tar"), timeout=120)
        if ref not in ctr(layout, "images", "list", "-q"):
            raise LocalEnvError(f"importing {IMAGES / f'{name}.tar'} did not create image {ref}")


def _condition(obj: dict[str, Any] | None, kind: str) -> bool:
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def _node_ready(api: Api) -> bool:
    return _condition(api.get(f"/api/v1/nodes/{NODE_NAME}"), "Ready")


def apply_addons(api: Api) -> None:
    """The cluster add-ons localenv owns (default StorageClass, CoreDNS); server-side apply,
    so a changed manifest reaches a node that is already running."""
    for manifest in [*storage_manifests(), *coredns_manifests()]:
        api.apply(manifest)


def refresh_addons(apiserver_url: str, pki: Pki, timeout: float = 60) -> None:
    """Re-apply the add-ons on a running node (a reused environment) and wait for DNS."""
    api = Api(apiserver_url, pki)
    try:
        apply_addons(api)
        deadline = time.monotonic() + timeout
        while not _coredns_ready(api):
            if time.monotonic() > deadline:
                raise LocalEnvError(f"CoreDNS not Ready {timeout:.0f} s after re-applying its manifests")
            time.sleep(0.5)
    finally:
        api.close()


def _coredns_ready(api: Api) -> bool:
    pods = api.get("/api/v1/namespaces/kube-system/pods?labelSelector=k8s-app%3Dkube-dns") or {}
    return any(_condition(pod, "Ready") for pod in pods.get("items") or [])


def _kube_router_ready() -> bool:
    """Its NetworkPolicy controller has installed its top-level chains (no health port:
    it would listen on every address)."""
    chains = our_chains().get("filter", [])
    return all(chain in chains for chain in ("KUBE-ROUTER-INPUT", "KUBE-ROUTER-FORWARD", "KUBE-ROUTER-OUTPUT"))


def _kubelet_port_taken() -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        try:
            return probe.connect_ex((NODE_IP, KUBELET_PORT)) == 0
        except OSError:
            return False


def component_argv(name: str, layout: Layout, ports: Mapping[str, int]) -> list[str]:
    """The command line of one of the node's components (NODE_SERVICES); its config files are
    `write_configs`'."""
    if name not in NODE_SERVICES:
        raise ValueError(f"{name} is not a node component; one of {', '.join(NODE_SERVICES)}")
    paths = NodePaths(layout.home)
    if name == "containerd":
        return [_program("containerd"), "--config", str(paths.containerd_config)]
    binary = str(tool(name))
    if name == "kube-scheduler":
        return [
            binary,
            f"--kubeconfig={paths.kubeconfig('kube-scheduler')}",
            f"--authentication-kubeconfig={paths.kubeconfig('kube-scheduler')}",
            f"--authorization-kubeconfig={paths.kubeconfig('kube-scheduler')}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['kube-scheduler']}",
            f"--cert-dir={paths.base / 'kube-scheduler'}",
            "--leader-elect=false",
            "--profiling=false",
        ]
    if name == "kubelet":
        return [
            binary,
            f"--config={paths.kubelet_config}",
            f"--kubeconfig={paths.kubeconfig('kubelet')}",
            f"--root-dir={paths.kubelet_dir}",
            f"--node-ip={NODE_IP}",
            f"--hostname-override={NODE_NAME}",
            "--v=1",
        ]
    if name == "kube-proxy":
        return [
            binary,
            f"--kubeconfig={paths.kubeconfig('kube-proxy')}",
            f"--hostname-override={NODE_NAME}",
            "--proxy-mode=iptables",
            f"--cluster-cidr={CLUSTER_CIDR}",
            f"--nodeport-addresses={NODE_IP}/32",
            # Leave the machine's conntrack and routing settings alone.
            "--conntrack-max-per-core=0",
            "--conntrack-tcp-timeout-established=0",
            "--conntrack-tcp-timeout-close-wait=0",
            "--iptables-localhost-nodeports=false",
            f"--healthz-bind-address=127.0.0.1:{ports['kube-proxy']}",
            f"--metrics-bind-address=127.0.0.1:{ports['kube-proxy-metrics']}",
            "--profiling=false",
        ]
    return [  # kube-router
        binary,
        f"--kubeconfig={paths.kubeconfig('kube-router')}",
        f"--hostname-override={NODE_NAME}",
        "--run-firewall=true",
        "--run-router=false",
        "--run-service-proxy=false",
        "--enable-ipv4=true",
        "--enable-ipv6=false",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--health-port=0",
        "--metrics-port=0",
        "--v=1",
    ]


def _spawn_component(
    name: str, layout: Layout, spawn: Spawn, ports: Mapping[str, int]
) -> tuple[subprocess.Popen[bytes], Path]:
    env = None if name == "kube-scheduler" else {"PATH": SBIN_PATH}
    return spawn(name, component_argv(name, layout, ports), env=env)


def start_node(
    layout: Layout,
    spawn: Spawn,
    ports: Mapping[str, int],
    pki: Pki,
    apiserver_url: str,
    *,
    log: Callable[[str], None] = print,
    timeout: float = READY_TIMEOUT,
) -> None:
    """Start the node's components (recorded through `spawn`) and wait until the Node
    `paif-node` and the cluster DNS are Ready. Needs the bridge (`ensure_bridge`), the API
    server and the controller manager (node CIDR allocation) running."""
    started = time.monotonic()
    if _kubelet_port_taken():
        raise LocalEnvError(
            f"another kubelet already serves on {NODE_IP}:{KUBELET_PORT} (a local node of another "
            ".localenv?): stop it first with `make down` there"
        )
    for name in ("kube-scheduler", "kubelet", "kube-proxy", "kube-router"):
        tool(name)
    for program in ("containerd", "containerd-shim-runc-v2", "runc", "ctr", "iptables", "ipset", "conntrack"):
        _program(program)
    if not (CNI_BIN / "bridge").exists():
        raise LocalEnvError(f"CNI plugins not found in {CNI_BIN}: run make setup")
    paths = NodePaths(layout.home)
    write_configs(layout, pki, apiserver_url, ports)
    _ensure_cgroups()
    _record_sysctls(paths)

    api = Api(apiserver_url, pki)
    try:
        for manifest in rbac_manifests():
            api.apply(manifest)

        scheduler, scheduler_log = _spawn_component("kube-scheduler", layout, spawn, ports)
        containerd, containerd_log = _spawn_component("containerd", layout, spawn, ports)
        _wait("containerd", lambda: _containerd_up(layout), 30, containerd, containerd_log)
        _import_images(layout)

        kubelet, kubelet_log = _spawn_component("kubelet", layout, spawn, ports)
        proxy, proxy_log = _spawn_component("kube-proxy", layout, spawn, ports)
        _wait("kube-scheduler", lambda: _healthz(ports["kube-scheduler"], tls=True), 60, scheduler, scheduler_log)
        _wait("kubelet", lambda: _healthz(ports["kubelet-healthz"], tls=False), 60, kubelet, kubelet_log)
        _wait("kube-proxy", lambda: _healthz(ports["kube-proxy"], tls=False), 60, proxy, proxy_log)
        _wait(f"Node {NODE_NAME} Ready", lambda: _node_ready(api), timeout, kubelet, kubelet_log)
        # kube-router reads its own Node object at start: after the kubelet registered it.
        router, router_log = _spawn_component("kube-router", layout, spawn, ports)
        _wait("kube-router", _kube_router_ready, 60, router, router_log)

        apply_addons(api)
        _wait("CoreDNS pod Ready", lambda: _coredns_ready(api), timeout, kubelet, kubelet_log)
    finally:
        api.close()
    log(f"node {NODE_NAME} Ready with cluster DNS in {time.monotonic() - started:.1f} s")


def restart_component(
    name: str,
    layout: Layout,
    spawn: Spawn,
    ports: Mapping[str, int],
    pki: Pki,
    *,
    apiserver_url: str,
    timeout: float = READY_TIMEOUT,
) -> None:
    """Start one node component again after it died, the rest of the node running (what a
    node's service manager does): its config files, data and the pods stay. A new containerd
    reconnects to the running shims (containers keep running); a new kubelet adopts the
    running pods. Waits until it serves (the kubelet: and the Node is Ready)."""
    process, process_log = _spawn_component(name, layout, spawn, ports)
    api = Api(apiserver_url, pki)
    try:
        checks: dict[str, Callable[[], bool]] = {
            "kube-scheduler": lambda: _healthz(ports["kube-scheduler"], tls=True),
            "containerd": lambda: _containerd_up(layout),
            "kubelet": lambda: _healthz(ports["kubelet-healthz"], tls=False) and _node_ready(api),
            "kube-proxy": lambda: _healthz(ports["kube-proxy"], tls=False),
            "kube-router": _kube_router_ready,
        }
        _wait(name, checks[name], timeout, process, process_log)
    finally:
        api.close()


def node_health(apiserver_url: str, pki: Pki) -> bool:
    """Whether the Node is Ready (the processes' liveness is services.health's part)."""
    api = Api(apiserver_url, pki)
    try:
        return _node_ready(api)
    finally:
        api.close()


# --- stop -----------------------------------------------------------------------------------


def _stop_recorded(state: Mapping[str, Any], name: str, timeout: float = 20) -> bool:
    entry = (state.get("services") or {}).get(name)
    if not entry or not processes.alive(entry["pid"], entry.get("started")):
        return False
    processes.stop(entry["pid"], entry.get("started"), signal.SIGTERM, timeout=timeout)
    return True


def _remove_containers(layout: Layout) -> int:
    """Kill and delete every task and container in containerd's CRI namespace."""
    listed = ctr(layout, "containers", "list", "-q", check=False, timeout=20).split()
    for container in listed:
        ctr(layout, "tasks", "kill", "--signal", "SIGKILL", container, check=False, timeout=20)
    deadline = time.monotonic() + 20
    for container in listed:
        while time.monotonic() < deadline:
            ctr(layout, "tasks", "delete", container, check=False, timeout=20)
            if container not in ctr(layout, "tasks", "list", "-q", check=False, timeout=20).split():
                break
            time.sleep(0.2)
        ctr(layout, "containers", "delete", container, check=False, timeout=20)
    return len(listed)


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or below `path`, deepest first (from /proc/self/mountinfo)."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = Path(line.split()[4].encode().decode("unicode_escape"))
        if point == path or point.is_relative_to(path):
            found.append(point)
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def _unmount_all(path: Path) -> list[str]:
    done = []
    for _ in range(5):  # mounts can be stacked; bounded
        points = mounts_under(path)
        if not points:
            break
        for point in points:
            result = subprocess.run(["umount", str(point)], capture_output=True, text=True, check=False, timeout=30)
            if result.returncode != 0:
                subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False, timeout=30)
            done.append(str(point))
    return done


def _iptables_save(binary: str) -> dict[str, list[str]]:
    """Per table, the lines of `<binary>-save`."""
    try:
        output = _run([f"{binary}-save"], check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    tables: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        if line.startswith("*"):
            current = line[1:]
            tables[current] = []
        elif current is not None and line and not line.startswith("#") and line != "COMMIT":
            tables[current].append(line)
    return tables


def our_chains(binary: str = "iptables") -> dict[str, list[str]]:
    """Per table, the chains of ours that exist."""
    found: dict[str, list[str]] = {}
    for table, lines in _iptables_save(binary).items():
        chains = [line[1:].split()[0] for line in lines if line.startswith(":") and OUR_CHAIN.match(line[1:])]
        if chains:
            found[table] = chains
    return found


def remove_chains(binary: str = "iptables") -> list[str]:
    """Delete every chain of ours and every rule jumping to one, one atomic restore per table.

    kube-router's own `--cleanup-config` is not used: in v2.1.0 its NetworkPolicy cleanup runs
    on an empty controller and removes nothing, then it flushes every IPVS service on the
    machine and panics in the service proxy's cleanup (seen here: nil pointer in
    deleteHairpinIptablesRules). kube-proxy's `--cleanup` runs first (stop_node)."""
    removed = []
    for table, lines in _iptables_save(binary).items():
        chains = {line[1:].split()[0] for line in lines if line.startswith(":") and OUR_CHAIN.match(line[1:])}
        if not chains:
            continue
        commands = [f"*{table}"]
        for line in lines:
            if not line.startswith("-A "):
                continue
            chain = line.split()[1]
            target = re.search(r" -[jg] (\S+)", line)
            if chain not in chains and target and target.group(1) in chains:
                commands.append("-D" + line[2:])
        commands += [f"-F {chain}" for chain in sorted(chains)]
        commands += [f"-X {chain}" for chain in sorted(chains)]
        commands += ["COMMIT", ""]
        _run([f"{binary}-restore", "--noflush"], stdin="\n".join(commands), check=False)
        removed += [f"{binary} {table} {chain}" for chain in sorted(chains)]
    return removed


def our_ipsets() -> list[str]:
    try:
        names = _run(["ipset", "list", "-n"], check=False, timeout=30).split()
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [name for name in names if OUR_IPSET.match(name)]


def _bridge_ports() -> list[str]:
    directory = Path(f"/sys/class/net/{BRIDGE}/brif")
    return sorted(entry.name for entry in directory.iterdir()) if directory.exists() else []


def _our_cgroups() -> list[Path]:
    return [hierarchy / CGROUP_NAME for hierarchy in _cgroup_hierarchies() if (hierarchy / CGROUP_NAME).exists()]


def _remove_cgroup(directory: Path) -> None:
    """rmdir a cgroup and its children, deepest first (cgroup files cannot be unlinked)."""
    children = sorted((p for p in directory.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
    for child in [*children, directory]:
        with contextlib.suppress(OSError):
            child.rmdir()


def _container_log_links(paths: NodePaths) -> list[Path]:
    if not CONTAINER_LOGS.is_dir():
        return []
    found = []
    for link in CONTAINER_LOGS.iterdir():
        if link.is_symlink() and Path(os.readlink(link)).is_relative_to(paths.pod_logs):
            found.append(link)
    return found


def _netns_files(paths: NodePaths) -> list[Path]:
    """Network namespaces our containerd made: under its state directory, and any listed in
    /var/run/netns that a pod of ours still has (they are bind mounts of its processes')."""
    found = list((paths.containerd_state).rglob("cni-*")) if paths.containerd_state.exists() else []
    if NETNS_DIR.is_dir():
        ours = set(mounts_under(paths.base))
        found += [entry for entry in NETNS_DIR.glob("cni-*") if entry in ours]
    return found


def _changed_sysctls(paths: NodePaths) -> dict[str, tuple[str | None, str]]:
    try:
        recorded: dict[str, str | None] = json.loads(paths.sysctl_snapshot.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return {
        name: (current, value)
        for name, value in recorded.items()
        if value is not None and (current := _read_sysctl(name)) != value
    }


def _restore_sysctls(paths: NodePaths) -> list[str]:
    restored = []
    for name, (current, value) in _changed_sysctls(paths).items():
        with contextlib.suppress(OSError):
            _sysctl_path(name).write_text(value)
            restored.append(f"{name.replace('/', '.')} {current} -> {value}")
    if not _changed_sysctls(paths):
        paths.sysctl_snapshot.unlink(missing_ok=True)
    return restored


def stop_node(layout: Layout, state: Mapping[str, Any] | None = None) -> list[str]:
    """Stop the node and remove everything of it from the host: its containers, processes,
    mounts, network namespaces, veths and bridge, iptables chains and ipsets, cgroups, the
    kubelet's log links, and the kernel settings the kubelet changed. Deletes nothing from the
    API (the stack's `down` does). Returns what it found, for the log."""
    paths = NodePaths(layout.home)
    state = layout.load_state() if state is None else state
    found: list[str] = []
    # The kubelet first, so nothing restarts what follows.
    if _stop_recorded(state, "kubelet"):
        found.append("kubelet")
    containerd_running = (state.get("services") or {}).get("containerd")
    if containerd_running and processes.alive(containerd_running["pid"], containerd_running.get("started")):
        count = _remove_containers(layout)
        found.append(f"containerd ({count} containers)")
        _stop_recorded(state, "containerd")
    for name in ("kube-router", "kube-proxy", "kube-scheduler"):
        if _stop_recorded(state, name):
            found.append(name)
    # containerd's shims carry our marker; the pods' processes live in our cgroups (both
    # outlive a containerd that was killed).
    stray = _node_processes(layout)
    _kill(stray)
    found += [f"node process {pid}" for pid in stray]
    if _owns_machine_state(layout) and (_node_started(state) or _bridge_ports() or our_chains()):
        proxy = shutil.which("kube-proxy", path=str(ROOT / ".tools" / "bin"))
        if proxy:
            # kube-proxy's own cleanup of its iptables (and nftables) rules.
            subprocess.run([proxy, "--cleanup", "--proxy-mode=iptables"], capture_output=True, check=False, timeout=60)
    unmounted = _unmount_all(layout.home)
    if unmounted:
        found.append(f"{len(unmounted)} mounts")
    for netns in _netns_files(paths):
        with contextlib.suppress(OSError):
            netns.unlink()
    if paths.base.exists() and not mounts_under(paths.base):
        shutil.rmtree(paths.base, ignore_errors=True)
    if not _owns_machine_state(layout):
        return found  # the bridge, chains and settings are another running environment's
    found += _remove_machine_state(paths)
    OWNER_FILE.unlink(missing_ok=True)
    return found


def _remove_machine_state(paths: NodePaths) -> list[str]:
    found = []
    for port in _bridge_ports():
        _run(["ip", "link", "delete", port], check=False)
    if _link_exists(BRIDGE):
        _run(["ip", "link", "delete", BRIDGE], check=False)
        found.append(f"bridge {BRIDGE}")
    for binary in ("iptables", "ip6tables"):
        chains = remove_chains(binary)
        if chains:
            found.append(f"{len(chains)} {binary} chains")
    for name in our_ipsets():
        _run(["ipset", "destroy", name], check=False)
    for directory in _our_cgroups():
        _remove_cgroup(directory)
    for link in _container_log_links(paths):
        link.unlink(missing_ok=True)
    for directory in (CONTAINERD_RUN / "s", CONTAINERD_RUN / "fifo", CONTAINERD_RUN / "runc", CONTAINERD_RUN):
        with contextlib.suppress(OSError):
            directory.rmdir()  # only when empty: a system containerd's files stay
    restored = _restore_sysctls(paths)
    if restored:
        found.append("sysctls restored: " + ", ".join(restored))
    return found


NODE_PROGRAMS = frozenset(
    {"containerd", "containerd-shim-runc-v2", "runc", "kubelet", "kube-proxy", "kube-router", "kube-scheduler", "ctr"}
)


def _cgroup_processes() -> list[int]:
    pids: set[int] = set()
    for directory in _our_cgroups():
        for procs in directory.rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                pids.update(int(line) for line in procs.read_text().split())
    return sorted(pids)


def _node_processes(layout: Layout) -> list[int]:
    """The node's processes still running: node programs carrying our marker (not the
    control plane's, which services.py stops), and every process in our cgroups (pods)."""
    found = set(_cgroup_processes()) if _owns_machine_state(layout) else set()
    for pid in processes.marked(layout.home):
        with contextlib.suppress(OSError):
            if Path(os.readlink(f"/proc/{pid}/exe")).name.split(" ")[0] in NODE_PROGRAMS:
                found.add(pid)
    return sorted(found)


def _kill(pids: Sequence[int]) -> None:
    for pid in pids:
        processes.signal_pid(pid, signal.SIGKILL)
    survivors = processes.wait_gone(pids, 10)
    if survivors:
        raise LocalEnvError(f"node processes {survivors} survived SIGKILL")


def _node_started(state: Mapping[str, Any]) -> bool:
    recorded = state.get("services") or {}
    return any(name in recorded for name in NODE_SERVICES)


def leftovers(layout: Layout) -> list[str]:
    """Anything of the node still on the host (empty after `stop_node`): processes, mounts,
    network namespaces, veths, the bridge, iptables chains, ipsets, cgroups, kubelet log links,
    unrestored kernel settings."""
    paths = NodePaths(layout.home)
    pods = _cgroup_processes() if _owns_machine_state(layout) else []
    found = [f"process {pid}" for pid in sorted({*processes.marked(layout.home), *pods})]
    found += [f"mount {point}" for point in mounts_under(layout.home)]
    found += [f"network namespace {netns}" for netns in _netns_files(paths)]
    if not _owns_machine_state(layout):
        return found
    found += [f"veth {port} on {BRIDGE}" for port in _bridge_ports()]
    if _link_exists(BRIDGE):
        found.append(f"bridge {BRIDGE}")
    for binary in ("iptables", "ip6tables"):
        for table, chains in our_chains(binary).items():
            found += [f"{binary} chain {table}/{chain}" for chain in chains]
    found += [f"ipset {name}" for name in our_ipsets()]
    found += [f"cgroup {directory}" for directory in _our_cgroups()]
    found += [f"log link {link}" for link in _container_log_links(paths)]
    found += [
        f"sysctl {name.replace('/', '.')} = {current} (was {value})"
        for name, (current, value) in _changed_sysctls(paths).items()
    ]
    return found


def pod_ip_in_range(address: str) -> bool:
    """Whether `address` is a pod address of this node (tests use it to stay in our network)."""
    return ipaddress.ip_address(address) in ipaddress.ip_network(POD_SUBNET)
