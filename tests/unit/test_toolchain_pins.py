"""Tool versions are pinned once (toolchain/versions.env) and agree with the Python pins."""

from __future__ import annotations

import re
import tomllib

from tests.unit.harness import ROOT


def versions() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "toolchain" / "versions.env").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pins[key] = value
    return pins


def python_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + [d for ds in project["optional-dependencies"].values() for d in ds]
    pins = {}
    own = project["name"]
    for dep in deps:
        if dep.startswith(f"{own}["):
            continue  # another extra of this project (its pins are checked where they are listed)
        name, _, version = dep.partition("==")
        assert version, f"{dep} is not pinned exactly"
        pins[re.sub(r"\[.*\]", "", name).lower()] = version
    return pins


def test_kubernetes_provider_matches_python_sdk() -> None:
    assert versions()["PULUMI_KUBERNETES_VERSION"] == python_pins()["pulumi-kubernetes"]


def test_go_wrapper_modules_use_pinned_versions() -> None:
    pins = versions()
    go_mod = (ROOT / "toolchain" / "go" / "go.mod").read_text()
    assert f"github.com/pulumi/pulumi/pkg/v3 v{pins['PULUMI_VERSION']}" in go_mod
    assert f"github.com/pulumi/pulumi/sdk/v3 v{pins['PULUMI_VERSION']}" in go_mod
    provider_mod = (ROOT / "toolchain" / "go" / "kubernetes-provider" / "go.mod").read_text()
    assert pins["PULUMI_KUBERNETES_PROVIDER_MODULE"] in provider_mod
    vcsim_mod = (ROOT / "toolchain" / "go" / "vcsim" / "go.mod").read_text()
    assert f"github.com/vmware/govmomi {pins['GOVMOMI_VERSION']}" in vcsim_mod


def test_python_sdk_is_not_newer_than_the_engine() -> None:
    engine = tuple(int(p) for p in versions()["PULUMI_VERSION"].split("."))
    sdk = tuple(int(p) for p in python_pins()["pulumi"].split("."))
    assert sdk <= engine
