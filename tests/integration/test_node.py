"""The local node for real: pods run, the cluster DNS answers, Services route, NetworkPolicy is
enforced by kube-router, and stopping leaves nothing of ours on the host.

One local environment in a temporary home (its own etcd, API server, controller manager and
node). Pods use the probe image built at setup (Debian's static busybox); every command in a
pod runs through the API server's exec (API server -> kubelet -> containerd), every network
check targets only cluster addresses on our own bridge, and every loop is bounded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes import stream as k8s_stream

from localenv import node
from localenv.layout import Layout
from localenv.pki import NODE_IP, NODE_NAME, Pki
from localenv.services import Services, start_services, stop_services

pytestmark = pytest.mark.integration

NAMESPACE = "paif-node-test"
POD_TIMEOUT = 60.0
POLICY_TIMEOUT = 30.0
# The kubernetes package's exec stream has no type hints.
kube_stream: Any = k8s_stream.stream
kube_config: Any = k8s_config


def probe_image() -> str:
    return (node.IMAGES / "busybox.ref").read_text().strip()


def probe_pod(name: str, labels: dict[str, str], command: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "enableServiceLinks": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534},
            "containers": [
                {
                    "name": "main",
                    "image": probe_image(),
                    "imagePullPolicy": "Never",
                    "command": ["sh", "-c", command],
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                    "resources": {"limits": {"memory": "32Mi"}, "requests": {"cpu": "10m", "memory": "8Mi"}},
                }
            ],
        },
    }


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[Layout, Services]]:
    # Not pytest's tmp_path: the PostgreSQL account must be able to traverse the home.
    home = Path(tempfile.mkdtemp(prefix="paif-node-"))
    home.chmod(0o711)
    layout = Layout(home / "le")
    try:
        services = start_services(layout, log=print)
        yield layout, services
    finally:
        stop_services(layout, log=print)
        left = node.leftovers(layout)
        shutil.rmtree(home, ignore_errors=True)
        assert left == [], f"left on the host after stop: {left}"


@pytest.fixture(scope="module")
def api(cluster: tuple[Layout, Services]) -> Iterator[node.Api]:
    layout, services = cluster
    client = node.Api(services.apiserver_url, Pki(layout.pki_dir))
    yield client
    client.close()


@dataclass
class Pods:
    """The probe pods, with an exec channel through the API server."""

    api: node.Api
    core: Any

    def run(self, pod: str, command: str) -> tuple[int, str]:
        """Run `command` in `pod` (API server -> kubelet -> containerd); (exit code, output)."""
        response = kube_stream(
            self.core.connect_get_namespaced_pod_exec,
            pod,
            NAMESPACE,
            command=["sh", "-c", f"{command} 2>&1; echo rc=$?"],
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
            _request_timeout=30,
        )
        output, _, code = str(response).rstrip().rpartition("rc=")
        return int(code), output

    def fetch(self, source: str, host: str, port: int) -> bool:
        """An HTTP GET from `source` to host:port (busybox nc: its static wget crashes without
        an /etc/passwd), at most 2 s."""
        request = "printf 'GET / HTTP/1.0\\r\\n\\r\\n'"
        code, output = self.run(source, f"{request} | nc -w 2 {host} {port}")
        return code == 0 and "paif-ok" in output

    def get(self, path: str) -> dict[str, Any]:
        found = self.api.get(path)
        assert found is not None, path
        return found

    def pod_ip(self, name: str) -> str:
        address: str = self.get(f"/api/v1/namespaces/{NAMESPACE}/pods/{name}")["status"]["podIP"]
        assert node.pod_ip_in_range(address), address
        return address

    def cluster_ip(self, service: str) -> str:
        address: str = self.get(f"/api/v1/namespaces/{NAMESPACE}/services/{service}")["spec"]["clusterIP"]
        return address


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


@pytest.fixture(scope="module")
def pods(cluster: tuple[Layout, Services], api: node.Api) -> Pods:
    _, services = cluster
    api.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    server = probe_pod(
        "server",
        {"app": "server"},
        "mkdir -p /tmp/www && echo paif-ok > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www",
    )
    for pod in (
        server,
        probe_pod("client", {"app": "client"}, "exec sleep 3600"),
        probe_pod("other", {"app": "other"}, "exec sleep 3600"),
    ):
        api.apply(pod)
    api.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "server", "namespace": NAMESPACE},
            "spec": {"selector": {"app": "server"}, "ports": [{"port": 80, "targetPort": 8080}]},
        }
    )
    core = k8s_client.CoreV1Api(kube_config.new_client_from_config(config_file=services.kubeconfig_path))
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + POD_TIMEOUT
    while time.monotonic() < deadline:
        found = (api.get(f"/api/v1/namespaces/{NAMESPACE}/pods") or {}).get("items") or []
        if len(found) == 3 and all(_ready(pod) for pod in found):
            return Pods(api, core)
        time.sleep(1)
    states = [(p["metadata"]["name"], (p.get("status") or {}).get("phase")) for p in found]
    raise AssertionError(f"probe pods not Ready after {POD_TIMEOUT:.0f} s: {states}")


def eventually(check: Callable[[], bool], expected: bool, timeout: float = POLICY_TIMEOUT) -> bool:
    """Whether check() returns `expected` within `timeout` (NetworkPolicy and Service rules take
    a sync)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check() is expected:
            return True
        time.sleep(1)
    return False


def test_node_ready_with_pod_cidr(pods: Pods) -> None:
    found = pods.get(f"/api/v1/nodes/{NODE_NAME}")
    assert _ready(found)
    assert found["spec"]["podCIDR"] == node.POD_SUBNET
    assert {a["type"]: a["address"] for a in found["status"]["addresses"]}["InternalIP"] == NODE_IP


def test_cluster_dns_answers_from_a_pod(pods: Pods) -> None:
    code, output = pods.run("client", "nslookup kubernetes.default.svc.cluster.local")
    assert code == 0 and "198.19.0.1" in output, output
    # CoreDNS learns a new Service from its watch, asynchronously.
    cluster_ip, answers = pods.cluster_ip("server"), [""]

    def resolves() -> bool:
        code, output = pods.run("client", f"nslookup server.{NAMESPACE}.svc.cluster.local")
        answers.append(output)
        return code == 0 and cluster_ip in output

    assert eventually(resolves, True), answers[-1]
    code, output = pods.run("client", "nslookup pais.local.paif.test")
    assert code == 0 and NODE_IP in output, output
    # Nothing is forwarded upstream: a name outside our zones does not resolve.
    code, output = pods.run("client", "nslookup example.com")
    assert code != 0, output


def test_service_cluster_ip_answers_from_a_pod(pods: Pods) -> None:
    # kube-router programs a Service's rules after its endpoints are published, asynchronously
    # (once, in a full CI run, they were not there yet when this test began): wait for it.
    by_name = f"server.{NAMESPACE}.svc.cluster.local"
    assert eventually(lambda: pods.fetch("client", by_name, 80), True), f"{by_name}:80 did not answer"
    cluster_ip = pods.cluster_ip("server")
    assert eventually(lambda: pods.fetch("client", cluster_ip, 80), True), f"{cluster_ip}:80 did not answer"


def test_network_policy_is_enforced(pods: Pods) -> None:
    server = pods.pod_ip("server")
    assert pods.fetch("client", server, 8080) and pods.fetch("other", server, 8080)

    pods.api.apply(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", "namespace": NAMESPACE},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
        }
    )
    assert eventually(lambda: pods.fetch("client", server, 8080), False), "default-deny did not block client -> server"
    assert not pods.fetch("other", server, 8080)

    pods.api.apply(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "allow-client", "namespace": NAMESPACE},
            "spec": {
                "podSelector": {"matchLabels": {"app": "server"}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [{"podSelector": {"matchLabels": {"app": "client"}}}],
                        "ports": [{"port": 8080, "protocol": "TCP"}],
                    }
                ],
            },
        }
    )
    assert eventually(lambda: pods.fetch("client", server, 8080), True), "the allow rule did not let client -> server through"
    assert not pods.fetch("other", server, 8080), "a pod outside the allow rule reached the server"
    # Enforced by kube-router in iptables on the host, not trusted.
    chains = node.our_chains().get("filter", [])
    assert any(chain.startswith("KUBE-NWPLCY-") for chain in chains), chains


def test_what_leftovers_reports_while_running(cluster: tuple[Layout, Services], pods: Pods) -> None:
    layout, _ = cluster
    running = node.leftovers(layout)
    assert f"bridge {node.BRIDGE}" in running
    assert any(item.startswith("process ") for item in running)
    assert any(item.startswith("mount ") for item in running)
    assert any(item.startswith("veth ") for item in running)
    assert any(item.startswith("iptables chain ") for item in running)
    assert os.path.exists(f"/sys/class/net/{node.BRIDGE}")
