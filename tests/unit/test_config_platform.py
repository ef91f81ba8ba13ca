"""Bad `paif:vks.platform` / `paif:vks.gpuPool` / `paif:vks.gpuWorkload` values: each fails before
any resource is registered, with one line naming the key, the value and what is allowed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.harness import run_program, stack_config
from tests.unit.test_program import SECRETS, WORKLOAD_KUBECONFIG

# The VKS cluster-autoscaler package for the prod stack's v1.33 VKr (docs/REFERENCE-VKS-PLATFORM.md).
AUTOSCALER_VERSION = "1.33.0+vmware.1-vks.1"
CASES: list[tuple[str, tuple[str, ...], Any, str]] = [
    (
        "chart-version-range",
        ("platform", "monitoring", "chartVersion"),
        "^77.0.0",
        "paif:vks.platform.monitoring.chartVersion: given '^77.0.0'; must be one exact version",
    ),
    (
        "package-latest",
        ("platform", "contour", "packageVersion"),
        "latest",
        "paif:vks.platform.contour.packageVersion: given 'latest'; must be one exact version",
    ),
    (
        "registry-with-scheme",
        ("platform", "registry"),
        "https://harbor.paif.example.internal/paif-platform",
        "paif:vks.platform.registry: given 'https://harbor.paif.example.internal/paif-platform'; "
        "must be host[:port]/project[/path] without a scheme",
    ),
    (
        "driver-from-another-host",
        ("platform", "gpuOperator", "driverRepository"),
        "nvcr.io/nvaie",
        "paif:vks.platform.gpuOperator.driverRepository: given 'nvcr.io/nvaie'; must be on the platform "
        "registry host harbor.paif.example.internal",
    ),
    (
        "bundle-without-tag",
        ("platform", "packageRepository"),
        "vks-standard-packages",
        "paif:vks.platform.packageRepository: given 'vks-standard-packages'; name:tag with an exact version tag",
    ),
    (
        "bundle-without-name",
        ("platform", "packageRepository"),
        ":3.6.0-20260211",
        "paif:vks.platform.packageRepository: given ':3.6.0-20260211'; name:tag with an exact version tag "
        "(e.g. 3.6.0-20260211) and a name that is an image path",
    ),
    (
        "bundle-name-with-a-space",
        ("platform", "packageRepository"),
        "vks standard:3.6.0-20260211",
        "paif:vks.platform.packageRepository: given 'vks standard:3.6.0-20260211'; name:tag with an exact version",
    ),
    (
        "autoscaler-min-above-max",
        ("gpuPool", "minReplicas"),
        5,
        "paif:vks.gpuPool.minReplicas: given 5; must be at most maxReplicas (4)",
    ),
    (
        "autoscaler-package-missing",
        ("platform", "autoscaler"),
        None,
        "paif:vks.platform.autoscaler: given null; required when gpuPool has minReplicas/maxReplicas",
    ),
    (
        "autoscaler-for-another-kubernetes",
        ("platform", "autoscaler", "packageVersion"),
        "1.31.3+vmware.1-vks.1",
        "paif:vks.platform.autoscaler.packageVersion: given '1.31.3+vmware.1-vks.1'; must be a 1.33.x version",
    ),
    (
        "taint-effect",
        ("gpuPool", "taints"),
        [{"key": "nvidia.com/gpu", "value": "present", "effect": "Never"}],
        "paif:vks.gpuPool.taints[0].effect: given 'Never'; must be 'NoSchedule', 'PreferNoSchedule' or 'NoExecute'",
    ),
    (
        "label-key",
        ("gpuPool", "labels"),
        {"bad key!": "x"},
        "paif:vks.gpuPool.labels.bad key!: given 'bad key!'; a Kubernetes label key",
    ),
    (
        "sink-is-a-url",
        ("platform", "logging", "sink", "host"),
        "https://logs.example.internal",
        "paif:vks.platform.logging.sink.host: given 'https://logs.example.internal'; must be a host name",
    ),
    (
        "gpu-workload-privileged-port",
        ("gpuWorkload",),
        {"image": "harbor.paif.example.internal/paif-chat/embedder:2.0.1", "port": 80},
        "paif:vks.gpuWorkload.port: given 80; must be at least 1024",
    ),
]


@pytest.mark.parametrize(("path", "value", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_platform_config_names_the_key(path: tuple[str, ...], value: Any, expected: str) -> None:
    config = stack_config("prod")
    config["vks"]["gpuPool"]["maxReplicas"] = 4
    config["vks"]["gpuPool"]["minReplicas"] = 1
    config["vks"]["platform"]["autoscaler"] = {"packageVersion": AUTOSCALER_VERSION}
    node = config["vks"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    rec = run_program(
        config, {**SECRETS, "workloadKubeconfig": WORKLOAD_KUBECONFIG}, stack="prod", expect_error=True
    )
    message = str(rec.error)
    assert "invalid stack config (1 problem)" in message, message
    assert expected in message, message
    assert "Traceback" not in message
    assert rec.resources == []


def test_prod_without_the_platform_section_names_it() -> None:
    config = stack_config("prod")
    del config["vks"]["platform"]
    rec = run_program(
        config, {**SECRETS, "workloadKubeconfig": WORKLOAD_KUBECONFIG}, stack="prod", expect_error=True
    )
    assert "paif:vks.platform: required key is missing (prod installs the cluster platform)" in str(rec.error)
    assert rec.resources == []


def test_prod_without_the_gpu_operator_names_it() -> None:
    config = stack_config("prod")
    del config["vks"]["platform"]["gpuOperator"]
    rec = run_program(
        config, {**SECRETS, "workloadKubeconfig": WORKLOAD_KUBECONFIG}, stack="prod", expect_error=True
    )
    assert "paif:vks.platform.gpuOperator: required key is missing (prod installs it)" in str(rec.error)
    assert rec.resources == []


def test_local_refuses_a_platform_it_cannot_run() -> None:
    config = stack_config("local")
    config["vks"]["platform"] = stack_config("prod")["vks"]["platform"]
    secrets = {k: v for k, v in SECRETS.items() if k != "harborPassword"}
    rec = run_program(config, secrets, stack="local", expect_error=True)
    assert (
        "paif:vks.platform: local installs no cluster platform (nothing could run it); remove the key"
        in str(rec.error)
    )
    assert rec.resources == []


def test_a_corporate_ca_key_without_its_certificate_names_both() -> None:
    config = stack_config("prod")
    config["vks"]["platform"].get("certManager", {}).pop("caCertificate", None)
    secrets = {**SECRETS, "workloadKubeconfig": WORKLOAD_KUBECONFIG, "corporateCaKey": "ca-key-not-echoed-6610"}
    rec = run_program(config, secrets, stack="prod", expect_error=True)
    message = str(rec.error)
    assert "paif:corporateCaKey: set (value not shown), but paif:vks.platform.certManager.caCertificate is not" in message
    assert "ca-key-not-echoed-6610" not in message
    assert rec.resources == []


def test_a_managed_corporate_ca_needs_its_key_at_up() -> None:
    config = stack_config("prod")
    config["vks"]["platform"].setdefault("certManager", {})["caCertificate"] = config["database"]["caBundle"]
    rec = run_program(config, {**SECRETS, "workloadKubeconfig": WORKLOAD_KUBECONFIG}, stack="prod", expect_error=True)
    assert "paif:corporateCaKey: required key is missing; the program manages the corporate CA Secret" in str(rec.error)
    assert rec.resources == []
