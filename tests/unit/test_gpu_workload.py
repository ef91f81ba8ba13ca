"""The optional GPU workload in prod under Pulumi mocks: on the GPU pool (tolerates exactly its
taint, selects its label), requests = limits of nvidia.com/gpu, reachable only from the backend,
after the app and the GPU Operator; and the platform's policy rules pass on it."""

from __future__ import annotations

from functools import cache
from typing import Any

import pulumi
import pytest

from policy.rules.common import Res
from policy.rules.limits import CONTAINER_RESOURCES, GPU_REQUESTS
from policy.rules.platform import GPU_TOLERATIONS
from policy.rules.pod_security import PROBES, RESTRICTED
from tests.unit.harness import Recorded, run_program, stack_config
from tests.unit.test_cluster_platform import DependencyLog
from tests.unit.test_program import SECRETS, WORKLOAD_KUBECONFIG

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
IMAGE = "harbor.paif.example.internal/paif-chat/embedder:2.0.1"


@cache
def declared() -> tuple[Recorded, DependencyLog]:
    log = DependencyLog()
    original = pulumi.Resource.__init__

    def spy(self: pulumi.Resource, *args: Any, **kwargs: Any) -> None:
        log.record(args[1], args[4] if len(args) > 4 else kwargs.get("opts"))
        original(self, *args, **kwargs)

    config = stack_config("prod")
    config["vks"]["gpuWorkload"] = {"image": IMAGE, "gpuCount": 1, "replicas": 2}
    pulumi.Resource.__init__ = spy  # type: ignore[method-assign]
    try:
        rec = run_program(config, {**SECRETS, "workloadKubeconfig": WORKLOAD_KUBECONFIG}, stack="prod")
    finally:
        pulumi.Resource.__init__ = original  # type: ignore[method-assign]
    return rec, log


def embedder() -> dict[str, Any]:
    return declared()[0].one(DEPLOYMENT, "gpu-workload-deployment").props


def test_runs_on_the_gpu_pool_and_only_there() -> None:
    pod = embedder()["spec"]["template"]["spec"]
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}
    ]
    assert pod["nodeSelector"] == {"paif.dev/node-pool": "gpu"}
    [container] = pod["containers"]
    assert container["image"] == IMAGE
    assert (
        container["resources"]["requests"]["nvidia.com/gpu"]
        == container["resources"]["limits"]["nvidia.com/gpu"]
        == "1"
    )
    assert pod["imagePullSecrets"] == [{"name": "chat-registry"}]


def test_only_the_backend_may_call_it() -> None:
    policy = declared()[0].one(NETPOL, "gpu-workload-netpol").props["spec"]
    assert policy["ingress"][0]["from"] == [
        {
            "podSelector": {
                "matchLabels": {"app.kubernetes.io/name": "chat", "app.kubernetes.io/component": "backend"}
            }
        }
    ]
    assert policy["egress"] == []
    assert declared()[0].one(PDB, "gpu-workload-pdb").props["spec"]["maxUnavailable"] == 1


def test_the_backend_may_reach_it_and_nothing_else_gains_egress() -> None:
    """The app's backend policy allows only PAIS, the database and DNS; this one adds exactly
    the workload's pods on its port, for the backend's pods only."""
    rec = declared()[0]
    policy = rec.one(NETPOL, "gpu-workload-client-egress").props
    backend = {"app.kubernetes.io/name": "chat", "app.kubernetes.io/component": "backend"}
    workload = embedder()["spec"]["selector"]["matchLabels"]
    assert policy["metadata"]["name"] == "embedder-client-egress"
    assert policy["metadata"]["namespace"] == "paif-chat"
    assert policy["spec"] == {
        "podSelector": {"matchLabels": backend},
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"podSelector": {"matchLabels": workload}}], "ports": [{"protocol": "TCP", "port": 8080}]}],
    }


def test_no_gpu_workload_no_egress_to_it() -> None:
    rec = run_program(stack_config("prod"), {**SECRETS, "workloadKubeconfig": WORKLOAD_KUBECONFIG}, stack="prod")
    assert [r for r in rec.of_type(NETPOL) if r.name.endswith("client-egress")] == []


@pytest.mark.parametrize("dep", ["chat", "platform-gpu-operator"])
def test_waits_for_the_app_and_the_gpu_operator(dep: str) -> None:
    assert declared()[1].before(dep, "gpu-workload-deployment")


@pytest.mark.parametrize("rule", [GPU_TOLERATIONS, GPU_REQUESTS, CONTAINER_RESOURCES, PROBES, RESTRICTED])
def test_the_pack_passes_it(rule: Any) -> None:
    resource = Res(type=DEPLOYMENT, props=embedder(), name="gpu-workload-deployment")
    assert rule.evaluate(resource) == []


def test_app_pods_stay_off_the_gpu_pool() -> None:
    for deployment in declared()[0].of_type(DEPLOYMENT):
        if deployment.name != "gpu-workload-deployment":
            assert "tolerations" not in deployment.props["spec"]["template"]["spec"]
            assert GPU_TOLERATIONS.evaluate(Res(type=DEPLOYMENT, props=deployment.props)) == []


def test_not_declared_unless_configured() -> None:
    rec = run_program(
        stack_config("prod"), {**SECRETS, "workloadKubeconfig": WORKLOAD_KUBECONFIG}, stack="prod"
    )
    assert sorted(d.name for d in rec.of_type(DEPLOYMENT)) == ["chat-backend", "chat-frontend"]
