"""The main job end to end: `python -m localenv up|down` as a new user runs it (`make up`).

One local environment per module, in a temporary home and state backend: its own etcd,
kube-apiserver, vcsim and PostgreSQL on free loopback ports. The steps build on each
other, in this order:

1. the first `up` is killed mid-run (runner and engine, SIGKILL); the next `up` converges
   with no pending operations and no duplicates;
2. what the stack declares exists on the targets (API server objects, vcsim namespace and
   classes, PostgreSQL roles and database);
3. a second `up` changes nothing;
4. a Deployment and a VM class deleted by hand come back with refresh + up;
5. `down` leaves no resources in the stack and no process running.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from components.vsphere.client import Endpoint, VcenterClient
from components.vsphere.namespace_provider import INSTANCES
from components.vsphere.vm_class_provider import CLASSES
from localenv import Layout, Services, down, node, processes, registry, roundtrip, stack, start_services, up
from localenv.layout import ROOT
from localenv.pki import Pki
from localenv.services import NODE_IP, SERVICES
from tests.integration.cluster_probe import Target, exec_probe, run_probe_pod, wait_pods_ready
from tests.integration.engine import new_files_containing, temp_files

pytestmark = pytest.mark.integration

APP_NAMESPACE = "paif-chat"
SUPERVISOR_NAMESPACE = "paif-local"
VM_CLASSES = {"paif-cpu-medium", "paif-gpu-a100-40c"}
EXPECTED_OUTPUTS = {"appUrl", "appNamespace", "supervisorNamespace", "gpuVmClass", "dbHost", "dbName", "dlvmName"}


REQUESTS_DURING_ROLLOUT = 200


@dataclass
class LocalEnv:
    layout: Layout
    backend: str
    up_output: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    temp_before: dict[Path, int] = field(default_factory=dict)
    """The system temp directories' files before the first `up`."""

    def port(self, name: str) -> int:
        port: int = self.layout.load_state()["ports"][name]
        return port

    def services(self) -> Services:
        """The running set (reused as is when healthy)."""
        settings = stack.service_settings(stack.committed_config())
        return start_services(self.layout, **settings, log=lambda _m: None)

    def pulumi(self, *args: str) -> subprocess.CompletedProcess[str]:
        return stack.pulumi(self.layout, *args)

    def export(self) -> dict[str, Any]:
        exported: dict[str, Any] = json.loads(self.pulumi("stack", "export", "--stack", stack.STACK).stdout)
        return exported

    def last_update(self) -> dict[str, Any]:
        history = json.loads(self.pulumi("stack", "history", "--stack", stack.STACK, "--json").stdout)
        latest: dict[str, Any] = history[0]
        return latest


@pytest.fixture(scope="module")
def env() -> Iterator[LocalEnv]:
    # Not pytest's tmp_path: its parents are private to us, and PostgreSQL runs as the
    # `postgres` account when we are root; the runner's home must be reachable (0711).
    base = Path(tempfile.mkdtemp(prefix="paif-localenv-"))
    base.chmod(0o711)
    backend = f"file://{base / 'state'}"
    previous = os.environ.get("PULUMI_BACKEND_URL")
    os.environ["PULUMI_BACKEND_URL"] = backend
    layout = Layout(base / "home")
    try:
        yield LocalEnv(layout, backend, temp_before=temp_files())
    finally:
        try:
            down(layout, output=StringIO())
        finally:
            # Whatever happened, nothing of ours keeps running.
            processes.sweep(layout.home)
            shutil.rmtree(base, ignore_errors=True)
            if previous is None:
                os.environ.pop("PULUMI_BACKEND_URL", None)
            else:
                os.environ["PULUMI_BACKEND_URL"] = previous


def kube(layout: Layout) -> Any:
    """An API client for the local API server (as Any: the client's models are all Optional)."""
    return k8s_config.new_client_from_config(config_file=str(layout.kubeconfig))  # type: ignore[no-untyped-call]


def vcenter(services: Services) -> VcenterClient:
    return VcenterClient(
        Endpoint(
            host=services.vcenter_host,
            username=services.vcenter_username,
            password=services.vcenter_password,
            protocol="https",
            insecure=True,
        )
    )


def names(items: list[Any]) -> list[str]:
    return sorted(item.metadata.name for item in items)


def test_killed_first_up_converges_on_the_next(env: LocalEnv) -> None:
    runner = subprocess.Popen(
        [sys.executable, "-m", "localenv", "up", "--home", str(env.layout.home)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PULUMI_BACKEND_URL": env.backend},
    )
    assert runner.stdout is not None
    created = 0
    seen: list[str] = []
    deadline = time.monotonic() + 600
    for line in runner.stdout:
        seen.append(line)
        if re.search(r"\bcreated\b", line):
            created += 1
        if created >= 12 or time.monotonic() > deadline:
            break
    assert created >= 12, "".join(seen[-40:])
    # A crash: the engine and the runner die without cleaning up.
    engine = env.layout.load_state()["pulumi"]
    os.kill(engine["pid"], signal.SIGKILL)
    runner.kill()
    runner.communicate()
    processes.wait_gone([engine["pid"]], 10)

    out = StringIO()
    outputs = up(env.layout, output=out)
    env.up_output, env.outputs = out.getvalue(), outputs
    assert set(outputs) >= EXPECTED_OUTPUTS, out.getvalue()[-4000:]
    assert "an earlier pulumi run was interrupted: releasing its stack lock" in out.getvalue()
    print(*[line for line in out.getvalue().splitlines() if line.startswith("localenv:")], sep="\n")
    deployment = env.export()["deployment"]
    assert not deployment.get("pending_operations"), deployment.get("pending_operations")
    urns = [r["urn"] for r in deployment["resources"]]
    assert len(urns) == len(set(urns))

    services = env.services()
    with vcenter(services) as api:
        namespaces = [n["namespace"] for n in api.get(INSTANCES)]
        classes = [c["id"] for c in api.get(CLASSES)]
    assert namespaces.count(SUPERVISOR_NAMESPACE) == 1
    assert all(classes.count(name) == 1 for name in VM_CLASSES), classes


def test_declared_objects_exist_on_the_targets(env: LocalEnv) -> None:
    services = env.services()
    api = kube(env.layout)
    apps: Any = k8s_client.AppsV1Api(api)
    core: Any = k8s_client.CoreV1Api(api)
    net: Any = k8s_client.NetworkingV1Api(api)
    custom: Any = k8s_client.CustomObjectsApi(api)

    assert names(apps.list_namespaced_deployment(APP_NAMESPACE).items) == ["chat-backend", "chat-frontend"]
    for deployment in apps.list_namespaced_deployment(APP_NAMESPACE).items:
        for container in deployment.spec.template.spec.containers:
            assert container.resources.limits and container.resources.requests
            assert container.liveness_probe and container.readiness_probe
    assert {"chat-backend", "chat-frontend"} <= set(names(core.list_namespaced_service(APP_NAMESPACE).items))
    (ingress,) = net.list_namespaced_ingress(APP_NAMESPACE).items
    assert ingress.spec.tls and ingress.spec.tls[0].hosts == ["chat.local.paif.test"]
    tls_secret = core.read_namespaced_secret(ingress.spec.tls[0].secret_name, APP_NAMESPACE)
    assert tls_secret.type == "kubernetes.io/tls"
    policies = names(net.list_namespaced_network_policy(APP_NAMESPACE).items)
    assert len(policies) >= 3, policies
    config = core.read_namespaced_config_map("chat-config", APP_NAMESPACE).data
    assert config["PAIS_AGENT_NAME"] == "rag-agent"
    secret = core.read_namespaced_secret("chat-secrets", APP_NAMESPACE)
    assert {"PAIS_CLIENT_SECRET", "DB_PASSWORD"} <= set(secret.data)
    secret_values = set(env.layout.load_state().get("secret_digests", {}))
    assert secret_values  # the generated credentials went through `config set --secret`
    for value in (services.db_password, services.vcenter_password):
        assert value not in json.dumps(config)

    group = ("vmoperator.vmware.com", "v1alpha3", SUPERVISOR_NAMESPACE, "virtualmachines")
    (vm,) = custom.list_namespaced_custom_object(*group)["items"]
    assert vm["spec"]["className"] == "paif-gpu-a100-40c"
    pg = custom.list_namespaced_custom_object(
        "databases.dataservices.vmware.com", "v1alpha1", SUPERVISOR_NAMESPACE, "postgresclusters"
    )["items"]
    assert [c["metadata"]["name"] for c in pg] == ["chat-pg"]

    with vcenter(services) as vc:
        assert vc.find(f"{INSTANCES}/{SUPERVISOR_NAMESPACE}") is not None
        gpu = vc.get(f"{CLASSES}/paif-gpu-a100-40c")
    assert gpu["cpu_count"] == 16 and gpu["memory_mb"] == 131072

    with psycopg.connect(services.db_dsn()) as conn:
        roles: dict[str, bool] = dict(conn.execute("SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'chat%'").fetchall())
        databases = [r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()]
    assert roles.get("chat_app") is True, roles
    assert "chat" in databases

    export = json.dumps(env.export())
    for value in (services.db_password, services.vcenter_password, env.layout.secret("pais_client_secret")):
        assert value not in export


def test_every_pod_is_ready_by_its_own_probes(env: LocalEnv) -> None:
    api = kube(env.layout)
    for tier in ("frontend", "backend"):
        (pod,) = wait_pods_ready(api, APP_NAMESPACE, f"app.kubernetes.io/component={tier}", 1)
        (container,) = pod.spec.containers
        assert container.readiness_probe.http_get.path in ("/readyz", "/healthz")
        assert pod.status.container_statuses[0].ready
    wait_pods_ready(api, "kube-system", "k8s-app=kube-dns", 1)


def test_a_chat_request_makes_the_round_trip(env: LocalEnv) -> None:
    # `make up` ended with one already: its reply and the curl line are in its output.
    assert "chat reply:" in env.up_output and "curl --resolve chat.local.paif.test:" in env.up_output
    services = env.services()
    result = roundtrip.round_trip(
        env.layout, services, env.outputs, ingress_port=env.port("traefik"), schema="chat", message="e2e: ping"
    )
    assert result.reply and "e2e: ping" in result.reply, result
    assert result.source in ("agent", "model")
    assert roundtrip.stored_exchange(services, "chat", "chat", result.row_id) == ("e2e: ping", result.reply)


def _pod_ip(api: Any, namespace: str, selector: str) -> str:
    core: Any = k8s_client.CoreV1Api(api)
    (pod,) = [p for p in core.list_namespaced_pod(namespace, label_selector=selector).items if not p.metadata.deletion_timestamp]
    ip: str = pod.status.pod_ip
    return ip


def test_network_policies_are_enforced(env: LocalEnv) -> None:
    api = kube(env.layout)
    core: Any = k8s_client.CoreV1Api(api)
    image = env.layout.load_state()["images"]["backend"]
    backend_ip = _pod_ip(api, APP_NAMESPACE, "app.kubernetes.io/component=backend")
    frontend_ip = _pod_ip(api, APP_NAMESPACE, "app.kubernetes.io/component=frontend")
    backend_svc = core.read_namespaced_service("chat-backend", APP_NAMESPACE).spec.cluster_ip
    pg = Target(NODE_IP, env.port("postgres"))
    pais = Target(NODE_IP, 443)

    # A pod the allow rules do not name, inside the app's namespace: default-deny both ways.
    intruder = run_probe_pod(
        api,
        APP_NAMESPACE,
        "e2e-intruder",
        image,
        {
            "backend-pod": Target(backend_ip, 8000),
            "backend-svc": Target(backend_svc, 8000),
            "postgres": pg,
            "pais": pais,
            "dns": Target(resolve="db.local.paif.test"),
        },
        labels={"app.kubernetes.io/name": "intruder"},
    )
    assert all(result.startswith(("blocked", "error")) for result in intruder.values()), intruder

    # A pod of another namespace reaches the backend neither directly nor via its Service.
    core.create_namespace({"metadata": {"name": "paif-e2e-outsider"}})
    try:
        outsider = run_probe_pod(
            api,
            "paif-e2e-outsider",
            "e2e-outsider",
            image,
            {"backend-pod": Target(backend_ip, 8000), "backend-svc": Target(backend_svc, 8000)},
        )
    finally:
        core.delete_namespace("paif-e2e-outsider")
    assert all(result.startswith("blocked") for result in outsider.values()), outsider

    # The backend itself: PAIS, PostgreSQL and DNS, nothing else.
    (backend,) = wait_pods_ready(api, APP_NAMESPACE, "app.kubernetes.io/component=backend", 1)
    found = exec_probe(
        api,
        APP_NAMESPACE,
        backend.metadata.name,
        "backend",
        {
            "pais": pais,
            "postgres": pg,
            "dns": Target(resolve="db.local.paif.test"),
            "frontend-pod": Target(frontend_ip, 8080),
            "kubelet": Target(NODE_IP, 10250),
            "pais-other-port": Target(NODE_IP, 80),
        },
    )
    assert found["pais"] == "open" and found["postgres"] == "open", found
    assert found["dns"] == NODE_IP, found
    assert all(found[name].startswith("blocked") for name in ("frontend-pod", "kubelet", "pais-other-port")), found


def test_second_up_changes_nothing(env: LocalEnv) -> None:
    up(env.layout, output=StringIO())
    changes = env.last_update()["resourceChanges"]
    assert set(changes) == {"same"}, changes


def test_objects_deleted_by_hand_come_back(env: LocalEnv) -> None:
    services = env.services()
    apps: Any = k8s_client.AppsV1Api(kube(env.layout))
    apps.delete_namespaced_deployment("chat-backend", APP_NAMESPACE)
    with vcenter(services) as vc:
        assert vc.delete(f"{CLASSES}/paif-cpu-medium")
        assert vc.find(f"{CLASSES}/paif-cpu-medium") is None

    up(env.layout, output=StringIO())  # `pulumi up --refresh`: refresh notices, up recreates

    changes = env.last_update()["resourceChanges"]
    assert changes.get("create") == 2, changes
    assert apps.read_namespaced_deployment("chat-backend", APP_NAMESPACE).spec.replicas == 1
    with vcenter(services) as vc:
        assert vc.get(f"{CLASSES}/paif-cpu-medium")["cpu_count"] == 4


def test_replicas_changed_out_of_band_never_wedge_up(env: LocalEnv) -> None:
    apps: Any = k8s_client.AppsV1Api(kube(env.layout))
    # What `kubectl scale` does: another field manager takes spec.replicas.
    apps.patch_namespaced_deployment_scale(
        "chat-frontend", APP_NAMESPACE, {"spec": {"replicas": 2}}, field_manager="kubectl"
    )
    up(env.layout, output=StringIO())
    assert apps.read_namespaced_deployment("chat-frontend", APP_NAMESPACE).spec.replicas == 1


def test_rolling_update_of_the_backend_loses_no_request(env: LocalEnv) -> None:
    api = kube(env.layout)
    (old_pod,) = wait_pods_ready(api, APP_NAMESPACE, "app.kubernetes.io/component=backend", 1)
    new_tag = registry.retag(env.layout, "backend", "rollout-e2e")
    outputs = env.outputs
    ca_pem = roundtrip.ingress_ca(env.layout, APP_NAMESPACE)
    hostname = "chat.local.paif.test"
    url = f"https://{hostname}:{env.port('traefik')}"
    results: list[str] = []
    stop = threading.Event()

    def load() -> None:
        deadline = time.monotonic() + 300
        for index in range(REQUESTS_DURING_ROLLOUT):
            if time.monotonic() > deadline:
                break
            try:
                answer = roundtrip.chat(url, hostname, ca_pem, f"rollout {index}", timeout=20)
                results.append("ok" if answer.get("reply") else f"empty: {answer}")
            except Exception as exc:
                results.append(f"{type(exc).__name__}: {exc}")
            if stop.is_set() and index >= REQUESTS_DURING_ROLLOUT // 2:
                # The rollout is over and half of the requests ran: let the rest run too.
                pass
            time.sleep(0.05)

    worker = threading.Thread(target=load)
    worker.start()
    try:
        up(env.layout, output=StringIO(), image_overrides={"backend": new_tag})
    finally:
        stop.set()
        worker.join(timeout=330)
    failures = [r for r in results if r != "ok"]
    assert len(results) == REQUESTS_DURING_ROLLOUT, (len(results), failures[:5])
    assert failures == [], failures[:10]
    (new_pod,) = wait_pods_ready(api, APP_NAMESPACE, "app.kubernetes.io/component=backend", 1)
    assert new_pod.metadata.name != old_pod.metadata.name
    assert new_pod.spec.containers[0].image == new_tag
    assert outputs["appUrl"] == env.outputs["appUrl"]


def test_a_new_vgpu_profile_restarts_vcsim_alone_and_keeps_the_data(env: LocalEnv) -> None:
    services = env.services()
    database = str(stack.stack_outputs(env.layout)["dbName"])
    count = "SELECT count(*) FROM chat.chat_exchanges"  # the committed schemaName, roundtrip.TABLE
    with psycopg.connect(services.db_dsn(database)) as conn:
        rows = conn.execute(count).fetchone()
    assert rows is not None and rows[0] > 0
    pids = {name: entry["pid"] for name, entry in env.layout.load_state()["services"].items()}
    settings = stack.service_settings(stack.committed_config())
    started = time.monotonic()
    start_services(
        env.layout, **{**settings, "vgpu_profiles": [*settings["vgpu_profiles"], "grid_a100-8c"]}, log=print
    )
    restarted = {
        name for name, entry in env.layout.load_state()["services"].items() if pids.get(name) != entry["pid"]
    }
    assert restarted == {"vcsim"}
    # Back to the declared profiles: vcsim alone again, then up recreates what vcsim forgot.
    up(env.layout, output=StringIO())
    print(f"vGPU profile change and back: converged in {time.monotonic() - started:.1f} s")
    restarted = {
        name for name, entry in env.layout.load_state()["services"].items() if pids.get(name) != entry["pid"]
    }
    assert restarted == {"vcsim"}
    with psycopg.connect(services.db_dsn(database)) as conn:
        after = conn.execute(count).fetchone()
    assert after is not None and after[0] >= rows[0]


def test_down_leaves_nothing(env: LocalEnv) -> None:
    state = env.layout.load_state()
    pids = [entry["pid"] for entry in (state.get("services") or {}).values()]
    assert len(pids) == len(SERVICES)
    down(env.layout, output=StringIO())
    listed = json.loads(env.pulumi("stack", "ls", "--json").stdout)
    assert [int(s.get("resourceCount") or 0) for s in listed if s["name"] == stack.STACK] in ([0], [])
    assert processes.marked(env.layout.home) == []
    assert not any(processes.alive(pid, None) for pid in pids)
    # No mount, network namespace, veth, bridge, iptables chain or ipset of ours is left.
    assert node.leftovers(env.layout) == []
    # No run left the admin kubeconfig (the kubernetes provider writes one per run) behind.
    assert not list((env.layout.home / "tmp").glob("pulumi-*")), "a run's temp directory is left"
    admin_key = base64.b64encode(Pki(env.layout.pki_dir).admin_key.read_bytes())
    assert new_files_containing(env.temp_before, admin_key) == [], "the admin key is left in a temp file"
