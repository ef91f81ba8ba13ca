"""VksCluster (through infra/stack_platform.py) under Pulumi mocks, from the committed prod and
local stack files.

The Cluster has the VKS topology with a GPU pool on the vGPU class it was given; the
workload provider's kubeconfig comes from config, or from the Cluster API Secret read only
by `up` (a preview reads nothing and leaves it unknown); it is always a secret.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
from pulumi.output import Unknown
from pulumi.runtime.sync_await import _sync_await

from components.crds.cluster import TYPE as CLUSTER
from components.crds.cluster import NodePool
from components.vks_cluster import VksCluster, VksClusterArgs, decode_kubeconfig
from infra.config import Secrets, Settings, parse_config
from infra.profiles import PROFILES
from infra.stack_platform import VksOutputs, declare_vks_cluster, vks_args
from tests.unit import harness
from tests.unit.harness import Recorded, Registered, contains_plain, flatten_config, run, stack_config

SECRET = "kubernetes:core/v1:Secret"
PROVIDER = "pulumi:providers:kubernetes"
NAMESPACE = "paif-chat-prod"
GPU_CLASS = "paif-gpu-a100-40c"
WORKLOAD_KUBECONFIG = "apiVersion: v1\nkind: Config\n# from-capi-5a7e\n"
CONFIG_KUBECONFIG = "apiVersion: v1\nkind: Config\n# from-config-8c1d\n"


def settings(env: str, workload_kubeconfig: str | None = None) -> Settings:
    """Settings from the committed stack file; call inside a program (secrets are outputs)."""
    flat, keys = flatten_config(stack_config(env))
    parsed = parse_config(flat, set(keys), "paif-app")
    kubeconfig = None if workload_kubeconfig is None else pulumi.Output.secret(workload_kubeconfig)
    secrets = Secrets(None, None, None, None, None, None, kubeconfig)
    return Settings(config=parsed, profile=PROFILES[parsed.environment], secrets=secrets)


class CapiMocks(harness.Recorder):
    """Answers reads of `<cluster>-kubeconfig` like the Supervisor does once Cluster API wrote it."""

    reads: list[tuple[str, str | None]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        resource_id, outputs = super().new_resource(args)
        if args.typ == SECRET and args.resource_id:
            CapiMocks.reads.append((args.name, args.resource_id))
            outputs = {"data": {"value": base64.b64encode(WORKLOAD_KUBECONFIG.encode()).decode()}}
            return args.resource_id, outputs
        return resource_id, outputs


@dataclass
class Declared:
    recorded: Recorded
    outputs: VksOutputs
    reads: list[tuple[str, str | None]]

    @property
    def cluster(self) -> Registered:
        return self.recorded.one(CLUSTER, "vks-cluster")

    @property
    def providers(self) -> list[Registered]:
        return [p for p in self.recorded.of_type(PROVIDER) if p.name != "supervisor"]


def declare(
    monkeypatch: pytest.MonkeyPatch,
    env: str = "prod",
    *,
    preview: bool = False,
    workload_kubeconfig: str | None = None,
) -> Declared:
    monkeypatch.setattr(harness, "Recorder", CapiMocks)
    CapiMocks.reads = []
    outputs: list[VksOutputs] = []

    def program() -> None:
        supervisor = k8s.Provider("supervisor")
        s = settings(env, workload_kubeconfig)
        outputs.append(declare_vks_cluster(s, supervisor, NAMESPACE, pulumi.Output.from_input(GPU_CLASS)))

    recorded = run(program, stack=env, preview=preview)
    return Declared(recorded, outputs[0], list(CapiMocks.reads))


def resolve(output: pulumi.Output[Any]) -> Any:
    return _sync_await(output.future())


def test_prod_cluster_has_the_vks_topology_with_a_gpu_pool_on_the_gpu_class(monkeypatch: pytest.MonkeyPatch) -> None:
    declared = declare(monkeypatch)
    cluster = declared.cluster.props
    assert cluster["apiVersion"] == "cluster.x-k8s.io/v1beta1" and cluster["kind"] == "Cluster"
    assert cluster["metadata"]["name"] == "chat-vks"
    assert cluster["metadata"]["namespace"] == NAMESPACE
    assert "::supervisor::" in declared.cluster.provider
    topology = cluster["spec"]["topology"]
    assert topology["class"] == "builtin-generic-v3.4.0"
    assert topology["classNamespace"] == "vmware-system-vks-public"
    assert topology["version"] == "v1.33.3---vmware.1-fips-vkr.1"
    assert topology["controlPlane"] == {"replicas": 3}
    pools = {d["name"]: d for d in topology["workers"]["machineDeployments"]}
    assert set(pools) == {"cpu", "gpu"}
    assert pools["gpu"]["class"] == "node-pool" and pools["gpu"]["replicas"] == 2
    assert pools["gpu"]["variables"]["overrides"] == [
        {"name": "vmClass", "value": GPU_CLASS},
        {
            "name": "node",
            "value": {
                "labels": {"paif.dev/node-pool": "gpu"},
                "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}],
            },
        },
        {
            "name": "volumes",
            "value": [
                {"name": n, "mountPath": f"/var/lib/{n}", "storageClass": "vsan-default-storage-policy", "capacity": "50Gi"}
                for n in ("containerd", "kubelet")
            ],
        },
    ]
    assert pools["gpu"]["metadata"] == {"annotations": {"run.tanzu.vmware.com/resolve-os-image": "os-name=ubuntu"}}
    # The CPU pool (the app's) carries no taint: app pods need no toleration.
    assert pools["cpu"]["variables"]["overrides"] == [{"name": "vmClass", "value": "paif-cpu-large"}]
    assert pools["cpu"]["replicas"] == 3
    assert topology["variables"] == [
        {"name": "vmClass", "value": "paif-cpu-large"},
        {"name": "storageClass", "value": "vsan-default-storage-policy"},
    ]
    assert cluster["spec"]["clusterNetwork"] == {
        "pods": {"cidrBlocks": ["192.168.0.0/16"]},
        "services": {"cidrBlocks": ["10.96.0.0/12"]},
        "serviceDomain": "cluster.local",
    }
    assert cluster["metadata"]["annotations"] == {"pulumi.com/waitFor": "condition=Ready", "pulumi.com/timeoutSeconds": "3600"}
    assert [r.name for r in declared.recorded.of_type("paif:platform:VksCluster")] == ["vks"]
    assert resolve(declared.outputs.cluster_name) == "chat-vks"


def test_the_gpu_pool_uses_the_class_it_is_given_not_a_name_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness, "Recorder", CapiMocks)

    def program() -> None:
        args = vks_args(settings("prod"), NAMESPACE, pulumi.Output.from_input("bound-by-vks-namespace"))
        VksCluster("vks", args)

    rec = run(program, stack="prod")
    pools = {d["name"]: d for d in rec.one(CLUSTER, "vks-cluster").props["spec"]["topology"]["workers"]["machineDeployments"]}
    assert pools["gpu"]["variables"]["overrides"][0] == {"name": "vmClass", "value": "bound-by-vks-namespace"}


def test_up_reads_the_capi_kubeconfig_secret_for_the_workload_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    declared = declare(monkeypatch)
    assert declared.reads == [("vks-kubeconfig", f"{NAMESPACE}/chat-vks-kubeconfig")]
    assert "::supervisor::" in declared.recorded.one(SECRET, "vks-kubeconfig").provider
    [provider] = declared.providers
    assert declared.outputs.workload_provider is not None
    assert provider.name == "vks-workload"
    assert provider.is_secret("kubeconfig")
    assert provider.props["kubeconfig"] == WORKLOAD_KUBECONFIG
    assert provider.props["clusterIdentifier"] == f"{NAMESPACE}/chat-vks"
    for resource in declared.recorded.resources:
        assert not contains_plain(resource.inputs, "from-capi-5a7e"), resource.name


def test_preview_reads_nothing_and_leaves_the_kubeconfig_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    declared = declare(monkeypatch, preview=True)
    assert declared.reads == []
    assert declared.recorded.of_type(SECRET) == []
    [provider] = declared.providers
    # Unknown (and secret): the engine leaves the plugin unconfigured and contacts nothing.
    assert isinstance(provider.props["kubeconfig"], Unknown)
    assert provider.is_secret("kubeconfig")
    assert provider.props["clusterIdentifier"] == f"{NAMESPACE}/chat-vks"


def test_a_configured_kubeconfig_is_used_as_a_secret_and_nothing_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for preview in (False, True):
        declared = declare(monkeypatch, preview=preview, workload_kubeconfig=CONFIG_KUBECONFIG)
        assert declared.reads == []
        [provider] = declared.providers
        assert provider.is_secret("kubeconfig")
        assert provider.props["kubeconfig"] == CONFIG_KUBECONFIG


def test_local_declares_the_cluster_without_waiting_and_without_a_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    declared = declare(monkeypatch, "local")
    cluster = declared.cluster.props
    assert cluster["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
    assert cluster["spec"]["topology"]["controlPlane"] == {"replicas": 1}
    assert declared.outputs.workload_provider is None
    assert declared.providers == []
    assert declared.reads == []


def test_control_plane_of_one_and_pools_from_args(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness, "Recorder", CapiMocks)
    base = VksClusterArgs(
        name="lab",
        namespace="ns",
        version="v1.33.3---vmware.1-fips-vkr.1",
        storage_class="fast",
        control_plane_vm_class="cpu-small",
        cpu_pool=NodePool("cpu", 1, "cpu-small"),
        gpu_pool=NodePool("gpu", 1, "gpu-l40s-48c"),
        control_plane_replicas=1,
        pod_cidr="172.20.0.0/16",
        service_cidr="172.21.0.0/16",
        await_ready=False,
    )

    def program(args: VksClusterArgs) -> Callable[[], None]:
        def declare_cluster() -> None:
            VksCluster("vks", args)

        return declare_cluster

    spec = run(program(base)).one(CLUSTER, "vks-cluster").props["spec"]
    assert spec["topology"]["controlPlane"] == {"replicas": 1}
    assert spec["clusterNetwork"]["pods"] == {"cidrBlocks": ["172.20.0.0/16"]}
    assert spec["clusterNetwork"]["services"] == {"cidrBlocks": ["172.21.0.0/16"]}

    same_names = run(program(replace(base, gpu_pool=NodePool("cpu", 1, "gpu-l40s-48c"))), expect_error=True)
    assert "the CPU and GPU pools need different names" in str(same_names.error)
    even = run(program(replace(base, control_plane_replicas=2)), expect_error=True)
    assert "control plane replicas 2: must be odd" in str(even.error)


def test_decode_kubeconfig_names_the_secret_when_the_key_is_missing() -> None:
    encoded = base64.b64encode(b"kind: Config\n").decode()
    assert decode_kubeconfig({"value": encoded}, "c-kubeconfig") == "kind: Config\n"
    with pytest.raises(ValueError, match="Secret c-kubeconfig has no key 'value'"):
        decode_kubeconfig({}, "c-kubeconfig")
