"""HarborProject through the real Pulumi engine, with every Harbor feature on (programs/harbor).

No Harbor can run here. The preview test points at a loopback port nothing listens on,
first without any credentials (as CI previews run), then with a password and a tripwire
listening on the port that records any connection: a preview must succeed and contact
nothing. The lifecycle test runs up/refresh/destroy against FakeHarbor (tests/fake_harbor.py,
a test double, not Harbor) to prove what only the engine exercises: the providers are
pickled into the dynamic-provider process, numbers arrive as floats, secrets stay
encrypted in state, refresh sees drift and out-of-band deletes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_harbor import FakeHarbor
from tests.integration.engine import PulumiFailed, PulumiProgram

pytestmark = pytest.mark.integration

PROGRAM = Path(__file__).parent / "programs" / "harbor"
PASSWORD = "harbor-preview-pw-7731"
HARBOR = "pulumi-python:dynamic/harbor"
EXPECTED = {
    ("paif:registry:HarborProject", "registry"),
    (f"{HARBOR}:Project", "registry-project"),
    (f"{HARBOR}:RobotAccount", "registry-pull-robot"),
    (f"{HARBOR}:RobotAccount", "registry-push-robot"),
    (f"{HARBOR}:RetentionPolicy", "registry-retention"),
    (f"{HARBOR}:ImmutableTagRule", "registry-immutable-tags"),
}


class Tripwire:
    """A loopback listener that records (and drops) every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def tripwire() -> Iterator[Tripwire]:
    wire = Tripwire()
    yield wire
    wire.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def preview_steps(stack: PulumiProgram) -> tuple[dict[str, Any], str]:
    result = stack.run("preview", "--json")
    return json.loads(result.stdout), result.stdout + result.stderr


def by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["urn"].rsplit("::", 1)[-1]: step for step in doc["steps"]}


def test_preview_declares_every_harbor_object_and_contacts_nothing(
    tmp_path: Path, tripwire: Tripwire
) -> None:
    stack = PulumiProgram(PROGRAM, tmp_path)
    stack.set_config("url", f"http://127.0.0.1:{closed_port()}")
    stack.set_config("protect", "true")

    doc, _ = preview_steps(stack)
    declared = {(s["newState"]["type"], s["urn"].rsplit("::", 1)[-1]) for s in doc["steps"]}
    assert declared - {("pulumi:pulumi:Stack", "paif-harbor-it-it")} == EXPECTED
    assert {s["op"] for s in doc["steps"]} == {"create"}
    assert doc["changeSummary"] == {"create": len(EXPECTED) + 1}

    steps = by_name(doc)
    assert steps["registry-project"]["newState"]["protect"] is True
    project = steps["registry-project"]["newState"]["inputs"]
    assert (project["public"], project["vulnerability_scanning"], project["deployment_security"]) == (
        False,
        True,
        "high",
    )
    assert "password" not in project
    pull = steps["registry-pull-robot"]["newState"]
    assert pull["inputs"]["permissions"] == [
        {
            "kind": "project",
            "namespace": "paif-chat",
            "access": [{"resource": "repository", "action": "pull"}],
        }
    ]
    assert pull["inputs"]["duration"] == 30
    assert set(pull["additionalSecretOutputs"]) == {"password", "secret"}

    stack.set_config("url", f"http://127.0.0.1:{tripwire.port}")
    stack.set_config("password", PASSWORD, secret=True)
    doc, output = preview_steps(stack)
    assert doc["changeSummary"] == {"create": len(EXPECTED) + 1}
    assert by_name(doc)["registry-push-robot"]["newState"]["inputs"]["password"] == "[secret]"
    assert PASSWORD not in output
    assert tripwire.connections == 0
    previews = [seconds for command, seconds in stack.timings if command.startswith("preview")]
    assert len(previews) == 2 and all(seconds < 60 for seconds in previews)


def test_up_refresh_destroy_against_the_fake(tmp_path: Path) -> None:
    with FakeHarbor(password=PASSWORD) as harbor:
        stack = PulumiProgram(PROGRAM, tmp_path)
        stack.set_config("url", harbor.url)
        stack.set_config("password", PASSWORD, secret=True)
        assert stack.up() == {"create": len(EXPECTED) + 1}

        project = harbor.project("paif-chat")
        assert project["metadata"]["auto_scan"] == "true" and project["metadata"]["severity"] == "high"
        robots = {r["name"]: r for r in harbor.state.robots.values()}
        assert set(robots) == {"robot$paif-chat+app-pull", "robot$paif-chat+ci-push"}
        assert len(harbor.state.retentions) == len(harbor.state.immutable) == 1
        pull_secret = robots["robot$paif-chat+app-pull"]["secret"]
        outputs = stack.outputs()
        assert outputs["pullUsername"] == "robot$paif-chat+app-pull"
        registry = harbor.url.split("://", 1)[1]
        assert json.loads(outputs["dockerconfigjson"])["auths"][registry]["password"] == pull_secret
        state = stack.export()
        assert PASSWORD not in state and pull_secret not in state

        assert stack.up() == {"same": len(EXPECTED) + 1}
        project["metadata"]["auto_scan"] = "false"
        harbor.state.immutable.clear()
        refreshed = stack.refresh()
        assert refreshed.get("delete") == 1 and refreshed.get("update") == 1
        changes = stack.up()
        assert changes.get("create") == 1 and changes.get("update") == 1
        assert project["metadata"]["auto_scan"] == "true" and len(harbor.state.immutable) == 1

        stack.destroy()
        assert harbor.state.projects == {} and harbor.state.robots == {}
        assert harbor.state.retentions == {} and harbor.state.immutable == {}


def engine_pids(backend_url: str) -> list[int]:
    """The Pulumi CLI processes that write to `backend_url` (read from /proc)."""
    marker = f"PULUMI_BACKEND_URL={backend_url}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if Path(entry / "exe").resolve().name != "pulumi":
                continue
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def dynamic_provider_hosts(program: Path) -> list[int]:
    """The Python dynamic-provider hosts (`python -m pulumi.dynamic`) running in `program`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"pulumi.dynamic" in (entry / "cmdline").read_bytes() and Path(entry / "cwd").resolve() == program:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_an_update_killed_after_harbor_created_a_robot_converges_on_the_next_up(tmp_path: Path) -> None:
    """The crash window through the real engine: Harbor has created the pull robot (and
    returned its secret) but the engine is SIGKILLed before it records the robot. The next
    `up` meets Harbor's 409, finds the robot carrying this stack's marker, adopts it and gives
    it a new secret: one robot, the state's secret is the one Harbor now holds, no import."""
    with FakeHarbor(password=PASSWORD) as harbor:
        stack = PulumiProgram(PROGRAM, tmp_path)
        stack.set_config("url", harbor.url)
        stack.set_config("password", PASSWORD, secret=True)
        # The provider reads each robot back right after creating it: hold that read.
        harbor.stall("GET", r"/robots/\d+$", seconds=60, times=5)
        killed: list[int] = []

        def kill_when_a_robot_exists() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not killed:
                if any("/robots/" in r.path for r in harbor.calls("GET")):
                    for pid in engine_pids(stack.env["PULUMI_BACKEND_URL"]):
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                time.sleep(0.05)

        killer = threading.Thread(target=kill_when_a_robot_exists, daemon=True)
        killer.start()
        with pytest.raises(PulumiFailed):
            stack.up()
        killer.join(timeout=130)
        assert killed, "the engine was not killed inside the crash window"
        # The dynamic-provider host the killed engine started exits by itself.
        deadline = time.monotonic() + 10
        while dynamic_provider_hosts(stack.program.resolve()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert dynamic_provider_hosts(stack.program.resolve()) == [], "a provider host outlived its engine"
        made = {r["name"]: dict(r) for r in harbor.state.robots.values()}
        assert made, "Harbor created no robot before the kill"
        harbor.clear_faults()

        stack.project.recover(stack.project.stack(stack.stack))
        changes = stack.up()
        assert changes.get("create", 0) >= 1 and "delete" not in changes
        robots = {r["name"]: r for r in harbor.state.robots.values()}
        assert set(robots) == {"robot$paif-chat+app-pull", "robot$paif-chat+ci-push"}
        for name, before in made.items():
            assert robots[name]["id"] == before["id"], f"{name} was recreated, not adopted"
        outputs = stack.outputs()
        registry = harbor.url.split("://", 1)[1]
        pull = robots["robot$paif-chat+app-pull"]
        assert json.loads(outputs["dockerconfigjson"])["auths"][registry]["password"] == pull["secret"]
        assert stack.up() == {"same": len(EXPECTED) + 1}
