"""The local node's generated configuration: containerd, CNI, kubelet, CoreDNS, RBAC, and the
iptables cleanup, checked without starting anything."""

from __future__ import annotations

import datetime
import ipaddress
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from localenv import node
from localenv.layout import Layout
from localenv.pki import ensure_pki
from localenv.services import LocalEnvError


@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Layout:
    images = tmp_path / "images"
    images.mkdir()
    for name, ref in (("pause", "registry.local.paif.test/paif/pause:3.10.1"), ("coredns", "registry.local.paif.test/paif/coredns:1.14.7")):
        (images / f"{name}.ref").write_text(ref + "\n")
        (images / f"{name}.tar").write_bytes(b"")
    monkeypatch.setattr(node, "IMAGES", images)
    monkeypatch.setattr(node, "_registry_toml", lambda _layout: "")
    return Layout(tmp_path / "le")


def test_containerd_config_is_ours_and_valid_toml(layout: Layout) -> None:
    config = tomllib.loads(node.containerd_config(layout))
    paths = node.NodePaths(layout.home)
    assert config["root"] == str(paths.containerd_root) and config["state"] == str(paths.containerd_state)
    assert config["grpc"]["address"] == str(paths.socket)
    assert len(str(paths.socket)) < 100
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["restrict_oom_score_adj"] is True
    assert cri["sandbox_image"] == "registry.local.paif.test/paif/pause:3.10.1"
    assert cri["containerd"]["snapshotter"] == "overlayfs"
    options = cri["containerd"]["runtimes"]["runc"]["options"]
    assert options["SystemdCgroup"] is False
    assert Path(options["Root"]).is_relative_to(layout.home)
    assert cri["cni"] == {"bin_dir": "/usr/lib/cni", "conf_dir": str(paths.cni_conf_dir), "max_conf_num": 1}
    assert cri["registry"]["config_path"] == str(paths.certs_d)
    assert cri["netns_mounts_under_state_dir"] is True


def test_containerd_config_includes_the_registry_section(layout: Layout, monkeypatch: pytest.MonkeyPatch) -> None:
    fragment = '[plugins."io.containerd.grpc.v1.cri".registry.configs."registry.local.paif.test".auth]\n  username = "u"\n'
    monkeypatch.setattr(node, "_registry_toml", lambda _layout: fragment)
    cri = tomllib.loads(node.containerd_config(layout))["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["registry"]["configs"]["registry.local.paif.test"]["auth"]["username"] == "u"
    assert cri["registry"]["config_path"] == str(node.NodePaths(layout.home).certs_d)


def test_containerd_config_takes_the_registry_section_as_is(layout: Layout, monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry's own fragment (localenv/registry.py) with its table header and config_path."""
    monkeypatch.undo()
    from localenv import registry

    layout.prepare()
    fragment = registry.containerd_registry_toml(layout, port=5000)
    monkeypatch.setattr(node, "_registry_toml", lambda _layout: fragment)
    images = layout.home.parent / "images"
    monkeypatch.setattr(node, "IMAGES", images)
    cri = tomllib.loads(node.containerd_config(layout))["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["registry"]["config_path"] == str(node.NodePaths(layout.home).certs_d)
    assert "127.0.0.1:5000" in cri["registry"]["configs"]


def test_no_registry_section_when_the_registry_does_not_run(layout: Layout, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()
    images = layout.home.parent / "images"
    monkeypatch.setattr(node, "IMAGES", images)
    assert node._registry_toml(layout) == ""
    cri = tomllib.loads(node.containerd_config(layout))["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["registry"] == {"config_path": str(node.NodePaths(layout.home).certs_d)}


def test_containerd_config_needs_the_node_images(layout: Layout, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(node, "IMAGES", tmp_path / "missing")
    with pytest.raises(LocalEnvError, match="make setup"):
        node.containerd_config(layout)


def test_cni_bridge_keeps_traffic_on_our_bridge(layout: Layout) -> None:
    (bridge,) = node.cni_config(layout)["plugins"]
    assert bridge["type"] == "bridge" and bridge["bridge"] == "paif0"
    assert bridge["isGateway"] is True and bridge["ipMasq"] is False
    (range_,) = bridge["ipam"]["ranges"][0]
    assert range_ == {"subnet": "198.18.0.0/24", "rangeStart": "198.18.0.10", "gateway": "198.18.0.1"}
    assert Path(bridge["ipam"]["dataDir"]).is_relative_to(layout.home)


def test_kubelet_config(layout: Layout, tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path / "pki")
    config = node.kubelet_config(layout, pki, 12345)
    assert config["cgroupDriver"] == "cgroupfs" and config["failSwapOn"] is False
    assert config["clusterDNS"] == ["198.19.0.10"] and config["clusterDomain"] == "cluster.local"
    assert config["readOnlyPort"] == 0
    assert (config["healthzBindAddress"], config["healthzPort"]) == ("127.0.0.1", 12345)
    assert config["address"] == "198.18.0.1"
    assert config["authentication"]["anonymous"]["enabled"] is False
    assert config["authentication"]["webhook"]["enabled"] is True
    assert config["authorization"]["mode"] == "Webhook"
    assert Path(config["resolvConf"]).is_relative_to(layout.home)
    assert config["containerRuntimeEndpoint"] == f"unix://{node.NodePaths(layout.home).socket}"


def test_resolv_conf_has_no_upstream_server() -> None:
    assert "nameserver" not in node._resolv_conf()


def test_corefile_answers_our_names_and_never_forwards() -> None:
    corefile = node.corefile()
    assert "forward" not in corefile
    assert corefile.startswith("cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {")
    assert "\nlocal.paif.test:53 {" in corefile
    assert ".:" not in corefile  # no catch-all zone: other names are refused
    assert "kubernetes cluster.local in-addr.arpa ip6.arpa" in corefile
    for name in node.HOST_NAMES:
        assert f"198.18.0.1 {name}" in corefile


def _by_kind(manifests: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [m for m in manifests if m["kind"] == kind]
    return found


def test_coredns_runs_unprivileged_behind_port_53(layout: Layout) -> None:
    manifests = node.coredns_manifests()
    service = _by_kind(manifests, "Service")
    assert service["spec"]["clusterIP"] == "198.19.0.10"
    assert {(p["port"], p["targetPort"], p["protocol"]) for p in service["spec"]["ports"]} == {
        (53, 53, "UDP"),
        (53, 53, "TCP"),
    }
    pod = _by_kind(manifests, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["imagePullPolicy"] == "Never"
    assert container["image"] == "registry.local.paif.test/paif/coredns:1.14.7"
    assert _by_kind(manifests, "ConfigMap")["data"]["Corefile"] == node.corefile()


def test_object_paths() -> None:
    assert node.object_path({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a", "namespace": "b"}}) == (
        "/api/v1/namespaces/b/services/a"
    )
    assert node.object_path(
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "x"}}
    ) == ("/apis/rbac.authorization.k8s.io/v1/clusterroles/x")


def test_kube_router_may_read_what_network_policies_need() -> None:
    role = node.rbac_manifests()[0]
    allowed = {(g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert {("", "pods"), ("", "namespaces"), ("", "nodes"), ("networking.k8s.io", "networkpolicies")} <= allowed
    assert all(set(rule["verbs"]) <= {"get", "list", "watch"} for rule in role["rules"])


def test_node_certificates(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path / "pki")
    kubelet = x509.load_pem_x509_certificate(pki.client_cert("kubelet").read_bytes())
    assert kubelet.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:paif-node"
    assert kubelet.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:nodes"
    proxy = x509.load_pem_x509_certificate(pki.client_cert("kube-proxy").read_bytes())
    assert proxy.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:kube-proxy"
    serving = x509.load_pem_x509_certificate(pki.kubelet_serving_cert.read_bytes())
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("198.18.0.1") in sans.get_values_for_type(x509.IPAddress)
    apiserver = x509.load_pem_x509_certificate(pki.serving_cert.read_bytes())
    ips = apiserver.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.IPAddress)
    assert {ipaddress.ip_address(a) for a in ("127.0.0.1", "198.18.0.1", "198.19.0.1")} <= set(ips)
    assert serving.not_valid_after_utc > datetime.datetime.now(datetime.UTC)


def test_an_old_serving_certificate_without_the_node_ip_is_reissued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from localenv import pki as pki_module

    monkeypatch.setattr(pki_module, "SERVING_IPS", ("127.0.0.1",))
    pki = ensure_pki(tmp_path / "pki")
    old = pki.serving_cert.read_bytes()
    monkeypatch.undo()
    ensure_pki(tmp_path / "pki")
    assert pki.serving_cert.read_bytes() != old


IPTABLES_SAVE = """# Generated by iptables-save
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:KUBE-ROUTER-INPUT - [0:0]
:KUBE-POD-FW-ABC - [0:0]
:PAIF-APISERVER - [0:0]
:DOCKER-USER - [0:0]
-A INPUT -m comment --comment "kube-router netpol - X" -j KUBE-ROUTER-INPUT
-A INPUT -p tcp -m tcp --dport 6443 -j PAIF-APISERVER
-A INPUT -j DOCKER-USER
-A KUBE-ROUTER-INPUT -s 198.18.0.12/32 -j KUBE-POD-FW-ABC
-A PAIF-APISERVER -i lo -j RETURN
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
COMMIT
"""


def test_remove_chains_deletes_only_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[list[str], str | None]] = []

    def run(argv: list[str], *, check: bool = True, timeout: float = 60, stdin: str | None = None) -> str:
        calls.append((list(argv), stdin))
        return IPTABLES_SAVE if argv[0].endswith("-save") else ""

    monkeypatch.setattr(node, "_run", run)
    removed = node.remove_chains("iptables")
    assert removed == [f"iptables filter {c}" for c in ("KUBE-POD-FW-ABC", "KUBE-ROUTER-INPUT", "PAIF-APISERVER")]
    restores = [stdin for argv, stdin in calls if argv[0] == "iptables-restore"]
    assert len(restores) == 1 and restores[0] is not None
    lines = restores[0].splitlines()
    assert lines[0] == "*filter" and lines[-1] == "COMMIT"
    assert '-D INPUT -m comment --comment "kube-router netpol - X" -j KUBE-ROUTER-INPUT' in lines
    assert "-D INPUT -p tcp -m tcp --dport 6443 -j PAIF-APISERVER" in lines
    assert not any("DOCKER-USER" in line for line in lines)
    assert not any(line.startswith("-D KUBE-") for line in lines)  # flushed with their chain
    assert lines.index("-F KUBE-ROUTER-INPUT") < lines.index("-X KUBE-POD-FW-ABC")
    assert json.dumps(node.our_chains.__doc__)  # documented


def test_mounts_under(tmp_path: Path) -> None:
    assert node.mounts_under(tmp_path) == []
    assert Path("/proc") in node.mounts_under(Path("/proc")) or node.mounts_under(Path("/proc")) == []


def test_kernel_settings_are_recorded_once_and_restored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proc = tmp_path / "proc-sys"
    monkeypatch.setattr(node, "_sysctl_path", lambda name: proc / name)
    monkeypatch.setattr(node, "SYSCTLS", ("vm/overcommit_memory", "kernel/panic", "net/missing"))
    monkeypatch.setattr(node, "SYSCTL_SNAPSHOT", tmp_path / "sysctls.json")
    for name, value in (("vm/overcommit_memory", "0"), ("kernel/panic", "1")):
        (proc / name).parent.mkdir(parents=True, exist_ok=True)
        (proc / name).write_text(value + "\n")
    paths = node.NodePaths(tmp_path / "le")
    paths.home.mkdir()
    node._record_sysctls(paths)
    # What the kubelet does at start (setupKernelTunables), then a second start.
    (proc / "vm/overcommit_memory").write_text("1\n")
    (proc / "kernel/panic").write_text("10\n")
    node._record_sysctls(paths)
    assert set(node._changed_sysctls(paths)) == {"vm/overcommit_memory", "kernel/panic"}
    restored = node._restore_sysctls(paths)
    assert len(restored) == 2
    assert (proc / "vm/overcommit_memory").read_text() == "0" and (proc / "kernel/panic").read_text() == "1"
    assert not paths.sysctl_snapshot.exists()
    assert node._changed_sysctls(paths) == {}
