"""The vSphere providers through the real engine when vCenter misbehaves: a fault-injecting
proxy (tests/integration/fault_proxy.py) in front of a plain-http vcsim answers 503s, holds
requests past the client's timeout and ends REST sessions for chosen requests; `up` must
converge. A permanent 4xx must fail at once with vCenter's own message.

The program (programs/vsphere) talks to the proxy with protocol http + insecure, the
simulator-only path, with a 1.5 s request timeout and 3 attempts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.vsphere.client import Endpoint, VcenterClient
from components.vsphere.namespace_provider import INSTANCES
from components.vsphere.vm_class_provider import CLASSES
from tests.integration.engine import PulumiProgram
from tests.integration.fault_proxy import FaultProxy
from tests.integration.vcsim import Vcsim

pytestmark = pytest.mark.integration

PROGRAM = Path(__file__).parent / "programs" / "vsphere"
RESOURCES = 7
TIMEOUT = 1.5


@pytest.fixture(scope="module")
def sim() -> Iterator[Vcsim]:
    with Vcsim.start(tls=False, vgpu_profiles=["grid_a100-40c"]) as simulator:
        yield simulator


@pytest.fixture
def proxy(sim: Vcsim) -> Iterator[FaultProxy]:
    with FaultProxy(sim.url) as faulty:
        yield faulty


def program(sim: Vcsim, proxy: FaultProxy, workdir: Path) -> PulumiProgram:
    stack = PulumiProgram(PROGRAM, workdir)
    config = {
        "host": proxy.host,
        "protocol": "http",
        "insecure": "true",
        "username": sim.username,
        "timeout": str(TIMEOUT),
        "attempts": "3",
    }
    for key, value in config.items():
        stack.set_config(key, value)
    stack.set_config("password", sim.password, secret=True)
    return stack


def in_vcenter(sim: Vcsim) -> tuple[list[str], list[str]]:
    """(namespaces, class ids) in vcsim, asked directly (not through the proxy)."""
    endpoint = Endpoint(
        host=sim.host, username=sim.username, password=sim.password, protocol="http", insecure=True
    )
    with VcenterClient(endpoint) as client:
        namespaces = sorted(n["namespace"] for n in client.get(INSTANCES) or [])
        classes = sorted(c["id"] for c in client.get(CLASSES) or [])
    return namespaces, classes


def outcomes(proxy: FaultProxy, method: str, pattern: str) -> list[str]:
    return [outcome for _, _, outcome in proxy.requests(method, pattern)]


def test_up_converges_through_503s_slow_answers_and_an_expired_session(
    sim: Vcsim, proxy: FaultProxy, tmp_path: Path
) -> None:
    proxy.inject("POST", f"{CLASSES}$", status=503, times=2)
    proxy.inject("POST", f"{INSTANCES}$", expire_session=True)
    proxy.inject("GET", f"{INSTANCES}/paif-it$", delay=TIMEOUT * 2)
    stack = program(sim, proxy, tmp_path)
    assert stack.up() == {"create": RESOURCES}
    assert in_vcenter(sim) == (["paif-it"], ["paif-cpu-small", "paif-gpu"])

    # Each fault was met and got past: two 503s answered by retrying the create (a 503
    # means vCenter did not take it), the ended session by one new login and the same
    # POST again, the held read by reading again.
    assert sorted(outcomes(proxy, "POST", f"{CLASSES}$")) == ["200", "200", "503 injected", "503 injected"]
    assert outcomes(proxy, "POST", f"{INSTANCES}$") == ["401 after the session was ended", "200"]
    assert outcomes(proxy, "GET", f"{INSTANCES}/paif-it$")[:2] == [f"held {TIMEOUT * 2:g}s", "200"]

    # An update through a 500 on the PATCH (safe to repeat) and a 503 on the read-back.
    proxy.clear()
    proxy.inject("PATCH", f"{CLASSES}/paif-cpu-small$", status=500)
    proxy.inject("GET", f"{CLASSES}/paif-cpu-small$", status=503)
    stack.set_config("cpuCount", "3")
    assert stack.up() == {"same": RESOURCES - 1, "update": 1}
    assert outcomes(proxy, "PATCH", f"{CLASSES}/paif-cpu-small$") == ["500 injected", "200"]
    assert outcomes(proxy, "GET", f"{CLASSES}/paif-cpu-small$") == ["503 injected", "200"]

    proxy.clear()
    assert stack.destroy() == {"delete": RESOURCES}
    assert in_vcenter(sim) == ([], [])


def test_a_permanent_4xx_fails_at_once_with_vcenters_message(
    sim: Vcsim, proxy: FaultProxy, tmp_path: Path
) -> None:
    message = "The vGPU profile grid_a100-40c is not supported for VM classes with 8 vCPUs."
    proxy.inject(
        "POST",
        f"{CLASSES}$",
        status=400,
        body={
            "error_type": "INVALID_ARGUMENT",
            "messages": [{"id": "vcenter.wcp.vmclass", "default_message": message}],
        },
        times=None,
    )
    stack = program(sim, proxy, tmp_path)
    started = time.monotonic()
    result = stack.run("up", "--yes", "--skip-preview", check=False)
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert f"vCenter POST {CLASSES} at {proxy.host}: 400 INVALID_ARGUMENT: {message}" in result.stdout
    # One try per class at most (the engine may not start the second after the first failed).
    tries = outcomes(proxy, "POST", f"{CLASSES}$")
    assert tries in (["400 injected"], ["400 injected", "400 injected"]), "no retries"
    assert outcomes(proxy, "POST", f"{INSTANCES}$") == [], "the namespace waits for its classes"
    assert elapsed < 20, f"a permanent error must not be retried ({elapsed:.1f}s)"
    assert in_vcenter(sim) == ([], [])
    stack.destroy()
