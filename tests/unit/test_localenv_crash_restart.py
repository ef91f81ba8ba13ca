"""The pieces of a crashed service's restart alone (localenv/services.py _restart_crashed)
that need no local environment: finding what a SIGKILLed service left running in its
session, and the decision to restart alone or start a fresh set."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from localenv import ingress, node, processes, services
from localenv.layout import Layout
from localenv.pki import Pki


def test_what_a_killed_leader_left_running_is_found_by_its_session(tmp_path: Path) -> None:
    leader = processes.spawn(["sh", "-c", "sleep 60 & sleep 60 & wait"], home=tmp_path, log=tmp_path / "log")
    other = processes.spawn(["sleep", "60"], home=tmp_path, log=tmp_path / "other.log")
    try:
        assert processes.session(leader.pid) == leader.pid
        for _ in range(100):
            children = processes.left_behind(tmp_path, leader.pid)
            if len(children) == 2:
                break
            processes.wait_gone([leader.pid], 0.05)
        assert len(children) == 2
        assert [processes.parent(child) for child in children] == [leader.pid, leader.pid]
        assert processes.parent(leader.pid) == os.getpid()
        processes.signal_pid(leader.pid, signal.SIGKILL)
        leader.wait(timeout=10)
        # The children outlive the leader (as PostgreSQL's backends do); another session's
        # process of ours is not among them.
        assert sorted(processes.left_behind(tmp_path, leader.pid)) == sorted(children)
        assert other.pid not in processes.left_behind(tmp_path, leader.pid)
    finally:
        for pid in [*processes.left_behind(tmp_path, leader.pid), other.pid]:
            processes.signal_pid(pid, signal.SIGKILL)
        other.wait(timeout=10)
        processes.wait_gone(processes.marked(tmp_path), 10)
    assert processes.session(leader.pid) is None
    assert processes.parent(leader.pid) is None


def _state(tmp_path: Path, dead: set[str]) -> dict[str, Any]:
    live = processes.spawn(["sleep", "60"], home=tmp_path, log=tmp_path / "live.log")
    entries = {}
    for name in services.SERVICES:
        pid = 2**22 + 1 if name in dead else live.pid  # above pid_max: never a process
        entries[name] = {"pid": pid, "started": processes.start_time(pid)}
    return {"services": entries, "settings": {"a": 1}, "ports": {}}


@pytest.mark.parametrize(
    ("dead", "settings", "why"),
    [
        (set(), {"a": 1}, "nothing died"),
        (set(services.SERVICES), {"a": 1}, "everything died (a reboot): a fresh set"),
        ({"traefik"}, {"a": 2}, "the settings changed: a fresh set"),
        ({"traefik"}, {"a": 1}, "the bridge is not ours here: a fresh set"),
    ],
)
def test_a_fresh_set_unless_some_died_and_the_node_is_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dead: set[str], settings: dict[str, int], why: str
) -> None:
    monkeypatch.setattr(node, "holds_machine_state", lambda _layout: False)
    state = _state(tmp_path, dead)
    try:
        started = services._restart_crashed(Layout(tmp_path / "home"), state, settings, lambda _m: None)
    finally:
        processes.sweep(tmp_path)
    assert started is False, why


def test_every_service_has_its_ports_and_a_way_to_start_alone() -> None:
    assert set(services.SERVICE_PORTS) | set(node.COMPONENT_PORTS) == set(services.SERVICES)
    named = [port for ports in (*services.SERVICE_PORTS.values(), *node.COMPONENT_PORTS.values()) for port in ports]
    assert sorted(named) == sorted(services.PORTS)
    with pytest.raises(ValueError, match="kube-apiserver is not a node component"):
        node.component_argv("kube-apiserver", Layout(Path("/nonexistent")), {})


def test_every_service_starts_one_way_for_a_fresh_set_and_alone(tmp_path: Path) -> None:
    """A fresh set and a crashed service started alone go through the same start and ready
    check: the node's components through localenv/node.py, Traefik through localenv/ingress.py,
    every other one through services._launch (which names what it starts when refused)."""
    layout = Layout(tmp_path / "home")
    starter = services._Starter(layout, {}, {})
    endpoints = services.Services(
        vcsim_port=1,
        vcenter_username="u",
        vcenter_password="p",
        postgres_port=2,
        db_superuser="u",
        db_password="p",
        apiserver_port=3,
        kubeconfig_path="/nonexistent",
        vgpu_profiles=(),
        registry_port=4,
        ingress_port=5,
        pais_port=6,
        pais_client_id="c",
    )
    with pytest.raises(ValueError, match=r"one of (.*)$") as refused:
        services._launch("kube-scheduler", starter, Pki(tmp_path / "pki"), endpoints)
    launched = set(refused.value.args[0].rsplit("one of ", 1)[1].split(", "))
    assert launched | set(node.NODE_SERVICES) | {ingress.NAME} == set(services.SERVICES)
    assert not launched & (set(node.NODE_SERVICES) | {ingress.NAME})
    assert not list(tmp_path.glob("home/logs/*")), "a refused name must start nothing"
