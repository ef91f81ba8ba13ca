"""The node's pins agree across versions.env and the wrapper modules that build them."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GO = ROOT / "toolchain" / "go"


def pins() -> dict[str, str]:
    text = (ROOT / "toolchain" / "versions.env").read_text()
    return dict(re.findall(r"^([A-Z_]+)=(\S+)$", text, re.MULTILINE))


def test_coredns_module_builds_the_pinned_release() -> None:
    go_mod = (GO / "coredns" / "go.mod").read_text()
    assert f"require github.com/coredns/coredns {pins()['COREDNS_VERSION']}\n" in go_mod


def test_kube_router_module_builds_the_pinned_release() -> None:
    go_mod = (GO / "kube-router" / "go.mod").read_text()
    # Required only through the `tool` line, so `go mod tidy` marks it indirect.
    assert f"\tgithub.com/cloudnativelabs/kube-router/v2 {pins()['KUBE_ROUTER_VERSION']} // indirect\n" in go_mod
    assert "tool github.com/cloudnativelabs/kube-router/v2/cmd/kube-router\n" in go_mod


def test_node_components_come_from_the_control_planes_module() -> None:
    go_mod = (GO / "kube-control-plane" / "go.mod").read_text()
    for component in ("kubelet", "kube-proxy", "kube-scheduler", "kube-apiserver"):
        assert f"\tk8s.io/kubernetes/cmd/{component}\n" in go_mod
    assert f"k8s.io/kubernetes {pins()['KUBERNETES_VERSION']} // indirect" in go_mod


def test_coredns_main_imports_no_forwarding_plugin() -> None:
    main = (GO / "coredns" / "main.go").read_text()
    assert "plugin/forward" not in main and "plugin/grpc" not in main
