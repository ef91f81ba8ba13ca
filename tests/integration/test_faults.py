"""The fault suite (issue 13): faults of the main job on the real local stack, each followed by
the next `make up` (or `make down`), with no manual step in between.

One deployment of the repository's `local` stack (`python -m localenv up`, what `make up`
runs: the real node, the app, the local PostgreSQL, vcsim, the registry standing in for
Harbor) is shared by every scenario, in this order. Before each fault the app writes a row:
a real chat request through the Ingress on 127.0.0.1, which the backend stores in
chat.chat_exchanges. After the recovery every row written so far must still be there, with
its prompt, counted in the local PostgreSQL; the recovery time is reported on the terminal
(pytest's terminal reporter: it shows without `-s`, in CI's log too) and in
`recovery.json` under the module's temp directory.

Kills are SIGKILLs of the Pulumi engine and the runner (neither cleans up). Where the
phase matters, the kill is placed, not timed: the Pulumi file backend writes each
checkpoint to a temp file next to the stack file and renames it over it, and a fanotify
permission event (tests/integration/open_gate.py) holds the engine inside the open of that
temp file while the suite decides; the kill then lands during that checkpoint write.

Scenarios: `up` killed (a) during its refresh, (a) mid-update after some creates, while the
checkpoint recording a finished create is being written, (a) during the final checkpoint
write, (a) as its final round trip starts, (a) with a state sidecar torn by a kill
(fileblob's in-place `.attrs` write), (a) while it starts the local services again after all
of them stopped (two points: the targets starting, the node starting); (c) a crash of one
local service: each long-running process of ours the stack depends on (PostgreSQL, the
registry, etcd, kube-apiserver, kube-controller-manager, containerd, the kubelet,
kube-router, Traefik, the PAIS stand-in) SIGKILLed, then `make up` starts it again alone on
its port with its data while everything else keeps running (the pods too: not recreated, no
container restarted; containerd's shims outlive it and the new one reconnects to them), and
a chat request works again; (c) a hang of PostgreSQL and of kube-apiserver (SIGSTOP: the
process runs, nothing answers), killed by `make up` after its grace and started again alone;
(c)+(d) vcsim and PostgreSQL crashing and coming back on another
port (the backend's pod template carries a digest of its settings, so its pods roll onto the
new DB_PORT); (e) an out-of-band replicas change (the end-to-end suite's test, run here on
the shared deployment with the rows checked); (b) `make down` with its `pulumi destroy`
killed after some deletes, then `make down` again, then `make up`: `make down` destroys the
app's database by design (README, Data protection), so the app's rows are checked up to the
kill and the PostgreSQL data directory afterwards (its system identifier and a database the
stack does not manage); (b) `make down` killed after its destroy, once it has stopped the
kubelet (containerd, the pods and the control plane still running), then `make down` again
must leave no process, mount, network namespace, veth, bridge, iptables chain or ipset of
ours, then `make up`."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from psycopg import sql

from localenv import node, processes, roundtrip, stack
from localenv.layout import ROOT, Layout
from localenv.services import Services, _services_from, health, stop_services, tool
from tests.integration import test_localenv as end_to_end
from tests.integration.fault_run import Engine, Run, run_to_end
from tests.integration.open_gate import OpenGate

pytestmark = pytest.mark.integration

SCHEMA = "chat"
"""The committed paif:database.schemaName (the app's table is SCHEMA.chat_exchanges)."""
APP_NAMESPACE = "paif-chat"
CHECKPOINT = re.compile(r"^local\.json\.[0-9a-f]+\.tmp$")
"""The temp file the file backend writes the `local` stack's next checkpoint to."""
RECOVERY_TIMEOUT = 600
PHASE_TIMEOUT = 300
SENTINEL_DB = "paif_fault_suite"
"""A database the stack does not manage: what `make down` must keep (the data directory)."""


@dataclass
class Outcome:
    scenario: str
    outcome: str
    recovery_seconds: float
    rows_before: int
    rows_after: int
    detail: str = ""


@dataclass
class Suite:
    layout: Layout
    reporter: Any
    capture: Any
    outputs: dict[str, Any] = field(default_factory=dict)
    rows: dict[int, str] = field(default_factory=dict)
    """Every row the app wrote for the suite (id -> prompt) that must still be there."""
    results: list[Outcome] = field(default_factory=list)

    def say(self, message: str) -> None:
        """A line on the terminal, outside pytest's output capture (shows without `-s`)."""
        if self.reporter is None or self.capture is None:
            print(f"fault suite: {message}")
            return
        with self.capture.global_and_fixture_disabled():
            self.reporter.write_line(f"fault suite: {message}")

    def services(self) -> Services:
        return _services_from(self.layout, self.layout.load_state())

    def database(self) -> str:
        return str(self.outputs.get("dbName") or "chat")

    def write_row(self, scenario: str) -> int:
        """One chat request through the Ingress; the backend stores the exchange."""
        self.outputs = stack.stack_outputs(self.layout)
        message = f"fault suite, before: {scenario} ({uuid.uuid4().hex[:8]})"
        result = roundtrip.round_trip(
            self.layout,
            self.services(),
            self.outputs,
            ingress_port=self.layout.load_state()["ports"]["traefik"],
            schema=SCHEMA,
            message=message,
            timeout=60,
        )
        self.rows[result.row_id] = message
        return result.row_id

    def stored(self) -> dict[int, str]:
        """The suite's rows as the local PostgreSQL has them now."""
        query = sql.SQL("SELECT id, prompt FROM {}.{} WHERE id = ANY(%s)").format(
            sql.Identifier(SCHEMA), sql.Identifier(roundtrip.TABLE)
        )
        with psycopg.connect(self.services().db_dsn(self.database())) as conn:
            return {int(row[0]): str(row[1]) for row in conn.execute(query, (list(self.rows),)).fetchall()}

    def recover(self, command: str = "up") -> float:
        """The next `make up` / `make down`, which must succeed on its own; its seconds."""
        code, seconds, output = run_to_end(command, RECOVERY_TIMEOUT)
        assert code == 0, (
            f"make {command} after the fault failed ({code}) after {seconds:.1f} s:\n{output[-6000:]}"
        )
        if command == "up":
            self.outputs = stack.stack_outputs(self.layout)
        return seconds

    def check_rows(self, scenario: str, seconds: float, detail: str = "", kept: str = "no row lost") -> None:
        """Every row written so far is there with its prompt; records the outcome."""
        stored = self.stored()
        lost = {row: prompt for row, prompt in self.rows.items() if stored.get(row) != prompt}
        outcome = Outcome(
            scenario,
            f"converged, {kept}" if not lost else f"LOST {len(lost)} row(s)",
            round(seconds, 1),
            len(self.rows),
            len(self.rows) - len(lost),
            detail,
        )
        self.results.append(outcome)
        self.say(
            f"{scenario}: {outcome.outcome}; recovered in {seconds:.1f} s ({detail})"
            if detail
            else f"{scenario}: {outcome.outcome}; recovered in {seconds:.1f} s"
        )
        assert not lost, f"{scenario}: rows lost after the recovery: {lost}; outcome {asdict(outcome)}"

    def no_pending_operations(self) -> None:
        pending = stack.pending_operations(self.layout)
        assert not pending, [op["resource"]["urn"] for op in pending]


def _kube(layout: Layout) -> Any:
    return k8s_config.new_client_from_config(config_file=str(layout.kubeconfig))  # type: ignore[no-untyped-call]


def _stacks_dir() -> Path:
    backend = stack.file_backend_dir()
    assert backend is not None, "the fault suite needs the file state backend (PULUMI_BACKEND_URL=file://...)"
    return backend / ".pulumi" / "stacks" / stack._project_name()


def _history_count() -> int:
    backend = stack.file_backend_dir()
    assert backend is not None
    return len(
        list((backend / ".pulumi" / "history" / stack._project_name() / stack.STACK).glob("*.history.json"))
    )


@pytest.fixture(scope="module")
def suite(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    started = time.monotonic()
    plugins = request.config.pluginmanager
    layout = Layout()
    shared = Suite(layout, plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager"))
    seconds = shared.recover("up")
    shared.say(f"deployed the local stack in {seconds:.1f} s")
    try:
        yield shared
    finally:
        _drop_sentinel(shared)
        total = time.monotonic() - started
        report = tmp_path_factory.mktemp("faults") / "recovery.json"
        report.write_text(
            json.dumps(
                {"total_seconds": round(total, 1), "scenarios": [asdict(r) for r in shared.results]}, indent=2
            )
        )
        shared.say(f"{len(shared.results)} scenario(s) in {total:.0f} s (module total); {report}")
        for result in shared.results:
            shared.say(
                f"  {result.scenario:<60} {result.outcome:<58} {result.recovery_seconds:>6.1f} s  "
                f"rows {result.rows_after}/{result.rows_before}"
            )


def _drop_sentinel(suite: Suite) -> None:
    try:
        with psycopg.connect(suite.services().db_dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(SENTINEL_DB)))
    except (psycopg.Error, KeyError, OSError):
        pass  # the services are down or gone: nothing of ours is left running on it


def _kill_at_checkpoint(
    run: Run, engine: Engine, decide: Callable[[], bool], timeout: float = PHASE_TIMEOUT
) -> tuple[OpenGate, str]:
    """Hold each checkpoint write of `engine` until `decide()` answers; kill it inside the
    first write it says yes to, then kill the runner. Returns the gate and the run's output."""

    def at_open(name: str) -> bool:
        return bool(CHECKPOINT.match(name)) and decide()

    with OpenGate(_stacks_dir(), engine.pid, at_open) as gate:
        run.wait_for(lambda: gate.killed is not None, timeout)
    run.crash(engine)
    return gate, run.text()


def test_up_killed_during_refresh_converges(suite: Suite) -> None:
    suite.write_row("up killed during refresh")
    run = Run.start("up")
    engine = run.engine("up", suite.layout, 120)
    assert run.wait_for(lambda: run.count("up", r"\brefreshing\b") >= 3, PHASE_TIMEOUT), run.text()[-4000:]
    run.crash(engine)
    after_banner = run.phase_lines("up")
    assert not any(line.startswith("Duration:") for line in after_banner), "the update ended before the kill"
    seconds = suite.recover("up")
    suite.no_pending_operations()
    suite.check_rows("(a) up SIGKILLed during its refresh", seconds)


def test_up_killed_mid_update_after_creates_converges(suite: Suite) -> None:
    suite.write_row("up killed mid-update")
    # Out-of-band deletions give the update something to create (refresh notices them).
    api = _kube(suite.layout)
    apps: Any = k8s_client.AppsV1Api(api)
    core: Any = k8s_client.CoreV1Api(api)
    net: Any = k8s_client.NetworkingV1Api(api)
    core.delete_namespaced_service("chat-frontend", APP_NAMESPACE)
    net.delete_namespaced_network_policy("chat-frontend", APP_NAMESPACE)
    apps.delete_namespaced_deployment("chat-frontend", APP_NAMESPACE)

    run = Run.start("up")
    engine = run.engine("up", suite.layout, 120)

    def after_a_create() -> bool:
        # The write after a create has been reported: the next finished create is being
        # recorded (its object exists on the server, the state does not know it yet).
        return run.count("up", r"\bcreated\b") >= 1 and not run.count("up", r"^Duration:")

    gate, output = _kill_at_checkpoint(run, engine, after_a_create)
    assert gate.killed is not None, f"no checkpoint write after a create:\n{output[-4000:]}"
    created = run.count("up", r"\bcreated\b")
    seconds = suite.recover("up")
    suite.no_pending_operations()
    assert apps.read_namespaced_deployment("chat-frontend", APP_NAMESPACE).spec.replicas == 1
    suite.check_rows(
        "(a) up SIGKILLed mid-update (checkpoint after a create)",
        seconds,
        f"{created} create(s) reported before the kill",
    )


def test_up_killed_during_the_final_checkpoint_write_converges(suite: Suite) -> None:
    suite.write_row("up killed at the final checkpoint")
    history = _history_count()
    run = Run.start("up")
    engine = run.engine("up", suite.layout, 120)

    def after_the_summary() -> bool:
        # The CLI prints the update's summary, then writes the final checkpoint (then the
        # history entry). The summary line may still be on its way through the runner.
        return run.wait_for(lambda: run.count("up", r"^Duration:") > 0, 0.2)

    gate, output = _kill_at_checkpoint(run, engine, after_the_summary)
    assert gate.killed is not None, f"the final checkpoint write was not caught:\n{output[-4000:]}"
    assert _history_count() == history, (
        "the kill came after the final checkpoint (its history entry is written)"
    )
    seconds = suite.recover("up")
    suite.no_pending_operations()
    suite.check_rows("(a) up SIGKILLed during the final checkpoint write", seconds)


def test_up_killed_as_its_round_trip_starts_converges(suite: Suite) -> None:
    """`make up` SIGKILLed at the start of its final chat request, after `pulumi up` ended:
    placed by holding the runner inside the open of the file it writes the app's CA to
    (localenv/roundtrip.py), before the request is sent. The next `make up` changes nothing
    on the stack and makes the round trip."""
    suite.write_row("up killed as its round trip starts")
    history = _history_count()
    run = Run.start("up")
    with OpenGate(suite.layout.home, run.process.pid, lambda name: name == ".app-ca.crt.tmp") as gate:
        run.wait_for(lambda: gate.killed is not None, PHASE_TIMEOUT)
    run.crash(None)
    output = run.text()
    assert gate.killed is not None, f"the round trip never started:\n{output[-4000:]}"
    assert _history_count() == history + 1, "the kill came before pulumi up recorded its update"
    assert "chat reply:" not in output, "the kill came after the round trip"
    seconds = suite.recover("up")
    suite.no_pending_operations()
    suite.check_rows("(a) up SIGKILLed as its final round trip starts", seconds)


def test_a_state_sidecar_torn_by_a_kill_is_removed_and_up_converges(suite: Suite) -> None:
    """gocloud's fileblob (the file backend) writes each blob's `.attrs` sidecar in place,
    `os.Create` then the JSON encoding, before it renames the new blob over the old one
    (blob/fileblob attrs.go setAttrs). A SIGKILL between the create and the write leaves an
    empty sidecar beside the intact old checkpoint; every later read of the stack then fails
    with "error: EOF", `pulumi stack ls` included (the end-to-end suite's killed first `up`
    hit that window in CI, and the next `up` failed that way). The window is a few microseconds wide, too narrow to
    place a kill in, so the state it leaves is made directly: the stack's sidecar and the
    newest history entry's emptied. The pinned CLI must fail on it (the defect is real), and
    the next `make up` must remove the torn sidecars (ops/state_guard.py) and converge."""
    suite.write_row("torn state sidecar")
    backend = stack.file_backend_dir()
    assert backend is not None
    sidecar = _stacks_dir() / f"{stack.STACK}.json.attrs"
    history = sorted(
        (backend / ".pulumi" / "history" / stack._project_name() / stack.STACK).glob("*.history.json.attrs"),
        key=lambda path: path.stat().st_mtime,
    )
    assert sidecar.is_file() and history, "the file backend wrote no attributes sidecar"
    for torn in (sidecar, history[-1]):
        torn.write_bytes(b"")
    listed = subprocess.run(
        [str(tool("pulumi")), "stack", "ls", "--json", "--non-interactive"],
        cwd=ROOT,
        env={**os.environ, "PULUMI_BACKEND_URL": stack.backend_url(), "PULUMI_SKIP_UPDATE_CHECKS": "true"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listed.returncode != 0 and "EOF" in listed.stderr, (
        f"the pinned CLI reads a stack with an empty sidecar ({listed.returncode}): {listed.stderr[-2000:]}"
    )
    seconds = suite.recover("up")
    suite.no_pending_operations()
    assert json.loads(sidecar.read_text())["md5"], "the next checkpoint write wrote no new sidecar"
    suite.check_rows("(a) a state sidecar torn by a kill (empty .attrs), then make up", seconds)


CRASHED_SERVICES = (
    "postgres",
    "registry",
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "containerd",
    "kubelet",
    "kube-router",
    "traefik",
    "pais",
)
"""The long-running processes of ours the stack depends on (localenv/services.py SERVICES;
vcsim's crash is the another-port case below)."""


@dataclass(frozen=True)
class PodView:
    uid: str
    restarts: int


def _pods(suite: Suite) -> dict[str, PodView]:
    """The app's and the cluster DNS's pods: name -> uid and container restarts."""
    core: Any = k8s_client.CoreV1Api(_kube(suite.layout))
    found = {}
    for namespace, selector in ((APP_NAMESPACE, None), ("kube-system", "k8s-app=kube-dns")):
        for pod in core.list_namespaced_pod(namespace, label_selector=selector).items:
            statuses = pod.status.container_statuses or []
            found[f"{namespace}/{pod.metadata.name}"] = PodView(
                pod.metadata.uid, sum(status.restart_count for status in statuses)
            )
    return found


def _shims(suite: Suite) -> list[int]:
    """containerd's shims (one per pod sandbox): our processes running containerd-shim-runc-v2."""
    found = []
    for pid in processes.marked(suite.layout.home):
        try:
            if Path(f"/proc/{pid}/exe").resolve().name == "containerd-shim-runc-v2":
                found.append(pid)
        except OSError:
            continue
    return found


@pytest.mark.parametrize("service", CRASHED_SERVICES)
def test_a_crashed_local_service_comes_back_with_the_data(suite: Suite, service: str) -> None:
    """SIGKILL one service, then `make up`: it starts again alone, on its port, with its data
    (localenv/services.py _restart_crashed); every other service keeps running, as do the
    pods: their containers are not restarted by the recovery and the pods are not recreated.
    containerd's shims outlive it (they hold the containers), the new containerd reconnects
    to them: the same shims are running afterwards. PostgreSQL's backends outlive their
    postmaster and are ended before it starts again (they hold its shared memory). The app
    answers a chat request afterwards and every row is still there."""
    suite.write_row(f"{service} crash")
    state = suite.layout.load_state()
    entry = state["services"][service]
    others = {name: other["pid"] for name, other in state["services"].items() if name != service}
    pods = _pods(suite)
    shims = _shims(suite)
    assert shims, "no containerd shim runs: the node has no pod"
    processes.signal_pid(entry["pid"], signal.SIGKILL)
    assert processes.wait_gone([entry["pid"]], 10) == []
    seconds = suite.recover("up")
    after = suite.layout.load_state()
    assert after["services"][service]["pid"] != entry["pid"]
    assert {name: after["services"][name]["pid"] for name in others} == others, (
        f"more than {service} was restarted"
    )
    assert after["ports"] == state["ports"], "a service moved although its port was free"
    assert _pods(suite) == pods, "pods were recreated or their containers restarted"
    assert [pid for pid in shims if processes.start_time(pid) is not None] == shims, (
        "containerd's shims (and with them the pods' containers) did not survive"
    )
    # A real round trip through the Ingress, the backend and the PAIS stand-in works again.
    suite.write_row(f"after the {service} crash")
    suite.check_rows(f"(c) {service} SIGKILLed, then make up", seconds, "restarted alone, pods kept")


HUNG_SERVICES = ("postgres", "kube-apiserver")
"""Services made to hang (SIGSTOP: the process runs, its port accepts connections, nothing
answers): the database the app writes to, and the API server every node component and the
kubelet's health check wait on (they do not answer either while it hangs)."""


@pytest.mark.parametrize("service", HUNG_SERVICES)
def test_a_hung_local_service_is_started_again_alone(suite: Suite, service: str) -> None:
    """SIGSTOP one service, then `make up`: after HUNG_GRACE without an answer it counts as
    hung (localenv/services.py _hung), is SIGKILLed and started again alone on its port with
    its data, like a crashed one; the services that only wait on it (the kubelet's health
    check goes through the API server) are not restarted, nor are the pods."""
    suite.write_row(f"{service} hung")
    state = suite.layout.load_state()
    entry = state["services"][service]
    others = {name: other["pid"] for name, other in state["services"].items() if name != service}
    pods = _pods(suite)
    processes.signal_pid(entry["pid"], signal.SIGSTOP)
    try:
        code, seconds, output = run_to_end("up", RECOVERY_TIMEOUT)
    finally:
        processes.signal_pid(entry["pid"], signal.SIGCONT)  # whatever happened: nothing stays stopped
    assert code == 0, f"make up with {service} hung failed ({code}) after {seconds:.1f} s:\n{output[-6000:]}"
    assert f"{service} (pid {entry['pid']}) runs but has not answered" in output, output[-4000:]
    suite.outputs = stack.stack_outputs(suite.layout)
    after = suite.layout.load_state()
    assert after["services"][service]["pid"] != entry["pid"]
    assert not processes.alive(entry["pid"], entry.get("started")), "the hung process still runs"
    assert {name: after["services"][name]["pid"] for name in others} == others, (
        f"more than {service} was restarted"
    )
    assert after["ports"] == state["ports"]
    assert _pods(suite) == pods, "pods were recreated or their containers restarted"
    suite.write_row(f"after {service} hung")
    suite.check_rows(f"(c) {service} hung (SIGSTOP), then make up", seconds, "killed, restarted alone, pods kept")


START_KILL_POINTS = {
    "targets": ("postgres", "kubelet"),
    "node": ("containerd", "kube-router"),
}
"""Where `make up` is killed while it starts the local services: once the first service is
recorded in state.json and before the second is (the targets are starting; the node's
containerd runs, its kubelet and pods are coming up)."""

SINGLE_INSTANCE = ("etcd", "kube-apiserver", "kube-controller-manager", "vcsim", "kubelet", "kube-router")
"""Services of which exactly one process of ours must run: a second one would be an orphan
of the killed start (spawned, never recorded, not stopped)."""


def _instances(suite: Suite, name: str) -> list[int]:
    program = tool(name).resolve()
    return [pid for pid in processes.marked(suite.layout.home) if processes.executable(pid) == program]


@pytest.mark.parametrize("point", list(START_KILL_POINTS))
def test_up_killed_while_the_local_services_start_converges(suite: Suite, point: str) -> None:
    """Every service stopped, data kept (what a reboot leaves, `make down` aside), then
    `make up` SIGKILLed while it starts them again, with some services running and others
    not started yet; the next `make up` must stop what the killed one started (recorded or
    not), start one set on the same data and converge, with no second instance of anything."""
    suite.write_row(f"up killed while the services start ({point})")
    stop_services(suite.layout, log=lambda _message: None)
    assert not processes.marked(suite.layout.home), "stop_services left a process of ours running"
    first, second = START_KILL_POINTS[point]

    def midway() -> bool:
        recorded = suite.layout.load_state().get("services") or {}
        return first in recorded and second not in recorded

    run = Run.start("up")
    deadline = time.monotonic() + PHASE_TIMEOUT
    while not midway() and run.process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert midway(), f"never saw {first} started before {second}:\n{run.text()[-4000:]}"
    run.crash(None)
    running = sorted(
        name
        for name, entry in (suite.layout.load_state().get("services") or {}).items()
        if processes.alive(entry["pid"], entry.get("started"))
    )
    assert running, "the kill came before any service started"
    seconds = suite.recover("up")
    suite.no_pending_operations()
    assert all(health(suite.layout).values()), health(suite.layout)
    for name in SINGLE_INSTANCE:
        assert len(_instances(suite, name)) == 1, f"{name}: {_instances(suite, name)} (an orphan of the killed start?)"
    suite.write_row(f"after up was killed while the services start ({point})")
    suite.check_rows(
        f"(a) up SIGKILLed while the local services start ({point})",
        seconds,
        f"{len(running)} service(s) running at the kill",
    )


def _squat(port: int) -> socket.socket:
    """Listen on 127.0.0.1:`port` (as another program would) once it is free again."""
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    deadline = time.monotonic() + 10
    while True:
        try:
            squatter.bind(("127.0.0.1", port))
            break
        except OSError:
            if time.monotonic() > deadline:
                squatter.close()
                raise
            time.sleep(0.2)
    squatter.listen()
    return squatter


@pytest.mark.parametrize("service", ["vcsim", "postgres"])
def test_a_service_back_on_another_port(suite: Suite, service: str) -> None:
    suite.write_row(f"{service} on another port")
    state = suite.layout.load_state()
    entry, old_port = state["services"][service], state["ports"][service]
    processes.signal_pid(entry["pid"], signal.SIGKILL)
    assert processes.wait_gone([entry["pid"]], 10) == []
    # Another program takes the port while the service is down: it must come back elsewhere,
    # refresh and update must reach it there (connection settings are not identity), and the
    # app must follow (its settings changed: its pods roll).
    squatter = _squat(old_port)
    try:
        seconds = suite.recover("up")
    finally:
        squatter.close()
    new_port = suite.layout.load_state()["ports"][service]
    assert new_port != old_port
    suite.check_rows(
        f"(c)+(d) {service} SIGKILLed, back on another port", seconds, f"port {old_port} -> {new_port}"
    )


def test_replicas_changed_out_of_band_never_wedge_up(suite: Suite) -> None:
    suite.write_row("replicas changed out of band")
    started = time.monotonic()
    # The end-to-end suite's scenario (kubectl scale, then up), on this deployment.
    end_to_end.test_replicas_changed_out_of_band_never_wedge_up(
        end_to_end.LocalEnv(suite.layout, stack.backend_url())
    )
    suite.check_rows("(e) replicas changed out of band (kubectl scale), then up", time.monotonic() - started)


def _system_identifier(suite: Suite) -> int:
    with psycopg.connect(suite.services().db_dsn()) as conn:
        row = conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone()
    assert row is not None
    return int(row[0])


def _sentinel(suite: Suite, rows: list[str] | None = None) -> list[str]:
    """Rows of a table in a database the stack does not manage (written first when `rows`)."""
    if rows is not None:
        with psycopg.connect(suite.services().db_dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(SENTINEL_DB)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(SENTINEL_DB)))
        with psycopg.connect(suite.services().db_dsn(SENTINEL_DB)) as conn:
            conn.execute("CREATE TABLE kept (note text)")
            for note in rows:
                conn.execute("INSERT INTO kept VALUES (%s)", (note,))
    with psycopg.connect(suite.services().db_dsn(SENTINEL_DB)) as conn:
        return [str(row[0]) for row in conn.execute("SELECT note FROM kept ORDER BY note").fetchall()]


def test_down_killed_mid_destroy_then_down_then_up(suite: Suite) -> None:
    suite.write_row("down killed mid-destroy")
    before = suite.stored()
    identifier = _system_identifier(suite)
    notes = _sentinel(suite, ["kept by make down", "kept by make up"])

    run = Run.start("down")
    engine = run.engine("destroy", suite.layout, 120)
    gate, output = _kill_at_checkpoint(run, engine, lambda: run.count("destroy", r"\bdeleted\b") >= 3)
    assert gate.killed is not None, f"no checkpoint write after three deletes:\n{output[-4000:]}"
    deleted = run.count("destroy", r"\bdeleted\b")
    assert before == {row: prompt for row, prompt in suite.rows.items() if row in before}

    _down_then_up(
        suite,
        identifier,
        notes,
        "(b) down SIGKILLed mid-destroy, then make down, then make up",
        f"{deleted} delete(s) before the kill",
    )


def _down_then_up(suite: Suite, identifier: int, notes: list[str], scenario: str, detail: str) -> None:
    """After a killed `make down`: `make down` again leaves nothing of ours running or on the
    host and no resource in the stack; `make up` brings the app back on the kept PostgreSQL
    data directory (same system identifier, the unmanaged database's rows)."""
    down_seconds = suite.recover("down")
    entry = stack.stack_entry(suite.layout)
    assert entry is None or not int(entry.get("resourceCount") or 0), entry
    assert processes.marked(suite.layout.home) == []
    assert node.leftovers(suite.layout) == []

    up_seconds = suite.recover("up")
    assert _system_identifier(suite) == identifier, "the PostgreSQL data directory was created again"
    assert _sentinel(suite) == notes
    # `make down` destroys the app's database on purpose (README, Data protection): the rows
    # written before it are gone, the `make up` that follows starts a new one.
    assert suite.stored() == {}, "make down kept the app's database, which the README says it destroys"
    suite.rows.clear()
    suite.write_row(f"after: {scenario}")
    suite.check_rows(
        scenario,
        down_seconds + up_seconds,
        f"{detail}; down {down_seconds:.1f} s + up {up_seconds:.1f} s",
        kept="data directory kept (app DB dropped by design)",
    )


def _running_services(recorded: dict[str, Any]) -> list[str]:
    return [name for name, entry in recorded.items() if processes.alive(entry["pid"], entry.get("started"))]


def test_down_killed_while_stopping_the_node_then_down_then_up(suite: Suite) -> None:
    """`make down` SIGKILLed after its destroy finished, once it has stopped the kubelet (the
    first thing it stops): containerd, its pods and the control plane are still running, the
    mounts, network namespaces, veths, bridge and chains are still there. The next `make
    down` removes all of it; `make up` brings everything back on the kept data directories."""
    suite.write_row("down killed while stopping the node")
    identifier = _system_identifier(suite)
    notes = _sentinel(suite, ["kept by make down", "kept by make up"])
    recorded = suite.layout.load_state()["services"]
    kubelet = recorded["kubelet"]

    run = Run.start("down")
    deadline = time.monotonic() + RECOVERY_TIMEOUT
    while processes.alive(kubelet["pid"], kubelet.get("started")):
        assert time.monotonic() < deadline and run.process.poll() is None, (
            f"make down did not stop the kubelet:\n{run.text()[-4000:]}"
        )
        time.sleep(0.01)
    run.crash(None)
    running = _running_services(recorded)
    assert run.count("destroy", r"^Duration:") == 1, f"the destroy had not finished:\n{run.text()[-4000:]}"
    assert "containerd" in running, f"the kill came after the node was stopped (running: {running})"
    assert node.leftovers(suite.layout) != [], "nothing of the node was left to clean up"

    _down_then_up(
        suite,
        identifier,
        notes,
        "(b) down SIGKILLed while stopping the node (after its destroy), then make down, then make up",
        f"{len(running)} service(s) still running at the kill",
    )
