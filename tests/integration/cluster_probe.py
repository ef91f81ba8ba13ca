"""Probes run INSIDE the local node's pods: which addresses a pod can open a TCP connection
to, and whether a name resolves. Used by the end-to-end tests to check the NetworkPolicies
that kube-router enforces, from where the traffic really starts.

Every probe is bounded: a connect timeout per target, a fixed list of targets, one try.
Targets are only addresses of our own local environment (pod, service and bridge
addresses in 198.18.0.0/15).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s_client
from kubernetes.stream import stream

PROBE_SCRIPT = r"""
import json, socket, sys, time
targets = json.loads(sys.argv[1])
time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 0)
result = {}
for name, spec in targets.items():
    if spec.get("resolve"):
        try:
            socket.setdefaulttimeout(3)
            result[name] = socket.gethostbyname(spec["resolve"])
        except OSError as exc:
            result[name] = "error: " + type(exc).__name__
        continue
    sock = socket.socket()
    sock.settimeout(float(spec.get("timeout", 2)))
    try:
        sock.connect((spec["host"], int(spec["port"])))
        result[name] = "open"
    except OSError as exc:
        result[name] = "blocked: " + type(exc).__name__
    finally:
        sock.close()
print("PROBE " + json.dumps(result, sort_keys=True), flush=True)
"""


SETTLE_SECONDS = 8.0


@dataclass(frozen=True)
class Target:
    host: str = ""
    port: int = 0
    resolve: str = ""
    timeout: float = 2.0

    def spec(self) -> dict[str, Any]:
        if self.resolve:
            return {"resolve": self.resolve}
        return {"host": self.host, "port": self.port, "timeout": self.timeout}


def _parse(output: str) -> dict[str, str]:
    for line in output.splitlines():
        if line.startswith("PROBE "):
            parsed: dict[str, str] = json.loads(line.removeprefix("PROBE "))
            return parsed
    raise AssertionError(f"probe printed no result: {output[-2000:]}")


def exec_probe(api: Any, namespace: str, pod: str, container: str, targets: dict[str, Target]) -> dict[str, str]:
    """Run the probe inside a running container (kubelet exec through the API server)."""
    core: Any = k8s_client.CoreV1Api(api)
    payload = json.dumps({name: target.spec() for name, target in targets.items()})
    output = stream(
        core.connect_get_namespaced_pod_exec,
        pod,
        namespace,
        container=container,
        command=["/opt/venv/bin/python", "-c", PROBE_SCRIPT, payload],
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
        _request_timeout=60,
    )
    return _parse(str(output))


def run_probe_pod(
    api: Any,
    namespace: str,
    name: str,
    image: str,
    targets: dict[str, Target],
    *,
    labels: dict[str, str] | None = None,
    timeout: float = 120,
    settle: float = SETTLE_SECONDS,
) -> dict[str, str]:
    """Start a one-shot pod (restricted pod security) that runs the probe, wait until it
    finished, return what it found; the pod is deleted afterwards.

    The probe waits `settle` seconds first: a NetworkPolicy implementation programs a new
    pod's rules shortly after the pod got its address (kube-router reacts to the pod's
    update), and the probe is about the policy, not that race."""
    core: Any = k8s_client.CoreV1Api(api)
    payload = json.dumps({n: t.spec() for n, t in targets.items()})
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {"paif-test": "probe"}},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "runAsGroup": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "probe",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["/opt/venv/bin/python", "-c", PROBE_SCRIPT, payload, str(settle)],
                    "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }
    core.create_namespaced_pod(namespace, body)
    try:
        deadline = time.monotonic() + timeout
        phase = ""
        while time.monotonic() < deadline:
            phase = core.read_namespaced_pod(name, namespace).status.phase
            if phase in ("Succeeded", "Failed"):
                break
            time.sleep(1)
        assert phase in ("Succeeded", "Failed"), f"probe pod {namespace}/{name} still {phase} after {timeout:.0f} s"
        return _parse(core.read_namespaced_pod_log(name, namespace, container="probe"))
    finally:
        core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)


def wait_pods_ready(api: Any, namespace: str, selector: str, count: int, timeout: float = 180) -> list[Any]:
    """Wait until exactly `count` pods match and all are Ready (by their own probes)."""
    core: Any = k8s_client.CoreV1Api(api)
    deadline = time.monotonic() + timeout
    pods: list[Any] = []
    while time.monotonic() < deadline:
        pods = [p for p in core.list_namespaced_pod(namespace, label_selector=selector).items if not p.metadata.deletion_timestamp]
        ready = [
            p
            for p in pods
            if any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions or []))
        ]
        if len(pods) == count and len(ready) == count:
            return pods
        time.sleep(1)
    raise AssertionError(f"{namespace}/{selector}: wanted {count} Ready pods, have {[(p.metadata.name, p.status.phase) for p in pods]}")
