"""A real `pulumi preview` of the committed prod stack (no credentials, nothing contacted): the
platform layer is in the plan, in dependency order, before the app.

The engine registers a resource only once what it depends on is registered (created, at `up`),
so the order of the preview's steps is the order a first `up` on an empty cluster creates them.
"""

from __future__ import annotations

import json

import pytest

from policy.gate import prepare_project
from tests.integration.engine import ROOT, PulumiProgram

pytestmark = pytest.mark.integration

ORDER = [
    ("platform-package-repository", "platform-cert-manager-install"),
    ("platform-cert-manager-install", "platform-cluster-issuer"),
    ("platform-cert-manager-install", "platform-contour-install"),
    ("platform-contour-install", "platform-ingress-class"),
    ("platform-package-repository", "platform-fluent-bit-install"),
    ("platform-cluster-issuer", "platform-grafana-certificate"),
    ("platform-grafana-certificate", "platform-monitoring"),
    ("platform-contour-install", "platform-monitoring"),
    ("platform-monitoring", "platform-rules"),
    ("platform-monitoring", "platform-dashboard-paif-app"),
    ("platform-monitoring", "platform-dashboard-paif-gpu"),
    ("platform-monitoring", "platform-gpu-operator"),
    # The app's objects that need the platform: its Ingress (Contour, issuer), its monitoring CRs.
    ("platform-cluster-issuer", "chat-ingress"),
    ("platform-contour-install", "chat-ingress"),
    ("platform-monitoring", "chat-servicemonitor"),
    ("platform-rules", "chat-alerts"),
]


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str, str]]:
    """(op, type, name) of every step of the prod preview, in the engine's order."""
    tmp = tmp_path_factory.mktemp("platform-preview")
    project = prepare_project(ROOT, ["prod"], tmp / "source")
    program = PulumiProgram(project, tmp / "run", stack="prod")
    steps = json.loads(program.run("preview", "--json", timeout=600).stdout)["steps"]
    return [(s["op"], s["urn"].split("::")[2], s["urn"].rsplit("::", 1)[-1]) for s in steps]


def _position(plan: list[tuple[str, str, str]], name: str) -> int:
    found = [i for i, (_, _, n) in enumerate(plan) if n == name]
    assert len(found) == 1, f"{name}: {len(found)} steps in the prod preview"
    return found[0]


def test_the_platform_layer_is_in_the_prod_plan(plan: list[tuple[str, str, str]]) -> None:
    types = {t.rsplit("$", 1)[-1] for _, t, n in plan if n.startswith("platform")}
    assert {
        "paif:platform:ClusterPlatform",
        "kubernetes:packaging.carvel.dev/v1alpha1:PackageRepository",
        "kubernetes:packaging.carvel.dev/v1alpha1:PackageInstall",
        "kubernetes:cert-manager.io/v1:ClusterIssuer",
        "kubernetes:cert-manager.io/v1:Certificate",
        "kubernetes:networking.k8s.io/v1:IngressClass",
        "kubernetes:helm.sh/v3:Release",
        "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
    } <= types
    assert {op for op, _, _ in plan} == {"create"}


@pytest.mark.parametrize(("first", "then"), ORDER, ids=[f"{a}<{b}" for a, b in ORDER])
def test_in_dependency_order(plan: list[tuple[str, str, str]], first: str, then: str) -> None:
    assert _position(plan, first) < _position(plan, then)

