"""After a crash (every process of the local environment SIGKILLed: containerd, its shims,
the kubelet, the control plane), the next stop still removes everything the node left on
the host: the pods' processes (found by their cgroups), mounts, network namespaces, veths,
the bridge, iptables chains, cgroups and the kernel settings."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from localenv import node, processes
from localenv.layout import Layout
from localenv.services import start_services, stop_services

pytestmark = pytest.mark.integration


def test_stop_after_a_crash_leaves_nothing() -> None:
    home = Path(tempfile.mkdtemp(prefix="paif-node-crash-"))
    home.chmod(0o711)
    layout = Layout(home / "le")
    try:
        start_services(layout, log=print)
        for pid in processes.marked(layout.home):
            processes.signal_pid(pid, signal.SIGKILL)
        processes.wait_gone(processes.marked(layout.home), 10)
        crashed = node.leftovers(layout)
        # The CoreDNS pod outlives its shim and containerd; its mounts and network stay.
        assert any(item.startswith("process ") for item in crashed), crashed
        assert any(item.startswith("network namespace ") for item in crashed), crashed
        assert f"bridge {node.BRIDGE}" in crashed
    finally:
        stop_services(layout, log=print)
        left = node.leftovers(layout)
        shutil.rmtree(home, ignore_errors=True)
    assert left == [], f"left on the host after stop: {left}"
    assert not os.path.exists(f"/sys/class/net/{node.BRIDGE}")
