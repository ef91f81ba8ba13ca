"""`VksCluster`: a VKS workload cluster (Cluster API `Cluster`) in a Supervisor namespace, with
a CPU and a GPU node pool, and a kubernetes provider for deploying into it.

The GPU pool is a machineDeployment whose `vmClass` override is the vGPU class that
SupervisorNamespace bound to the namespace (passed in as an output, so the Cluster waits for it).

The workload provider's kubeconfig comes, in this order, from:
1. `kubeconfig` (the `paif:workloadKubeconfig` secret), or
2. the Secret `<cluster>-kubeconfig` (key `value`) that Cluster API writes in the Supervisor
   namespace, read with `Secret.get` once the Cluster is Ready, and only by `up`.

A preview must not reach any cluster, so in a preview without (1) the kubeconfig is an
unknown value. The engine then does not configure the kubernetes plugin for this provider
at all: resources using it are shown as creates/updates with their inputs (the policy
pack still sees them), with the engine's note that the preview "may not correctly
represent" the changes, and nothing is contacted (verified in pulumi's
`resource/plugin/provider_plugin.go`: Configure with unknown inputs leaves the plugin
unconfigured; Check/Diff/Create then return without calling it). `cluster_identifier` is
set to `<namespace>/<cluster>`: pulumi-kubernetes otherwise plans a replacement of the
provider, and of everything deployed through it, whenever the kubeconfig is unknown or
changes (Cluster API rotates the credentials in that Secret).

Where no Cluster API controller runs (a plain API server standing in for the Supervisor),
the Cluster is declared without waiting and nothing will ever publish its kubeconfig:
without (1) there is then no workload provider (`workload_provider` is None).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from components.crds.cluster import Cluster, ClusterSettings, ClusterSpec, NodePool, kubeconfig_secret_name
from components.crds.custom_resource import await_annotations
from components.labels import PAIF_LABELS

KUBECONFIG_KEY = "value"
KUBE_CLIENT = k8s.KubeClientSettingsArgs(qps=300, burst=600)
"""The kubernetes providers' client rate limit. The provider's default (50 queries a second,
burst 100) paces a refresh: about two requests an object, so 1,150 objects took 44 s whatever
else was made faster (bench/README.md). The API server's own priority and fairness still
protects it; this only stops the client from throttling itself first."""


@dataclass(frozen=True, kw_only=True)
class VksClusterArgs(ClusterSettings):
    """The cluster's shape (its settings, from the `paif:vks` config) and where its kubeconfig comes from."""

    name: str
    """Cluster name (DNS label)."""
    namespace: pulumi.Input[str]
    """Supervisor namespace the cluster lives in."""
    control_plane_vm_class: pulumi.Input[str]
    """VM class of the control plane (the cluster's default `vmClass`)."""
    cpu_pool: NodePool
    """Worker pool for the app (CPU VM class)."""
    gpu_pool: NodePool
    """Worker pool on the vGPU VM class."""
    pod_cidr: str = "192.168.0.0/16"
    service_cidr: str = "10.96.0.0/12"
    kubeconfig: pulumi.Output[str] | None = None
    """Workload cluster kubeconfig (secret); None reads the one Cluster API publishes (at `up`)."""
    await_ready: bool = True
    """Wait for the Cluster's Ready condition; False where no Cluster API controller runs."""
    ready_timeout_seconds: int = 3600
    """How long to wait for Ready."""


def decode_kubeconfig(data: Mapping[str, Any] | None, secret_name: str) -> str:
    """The kubeconfig from a Cluster API `<cluster>-kubeconfig` Secret's `data` (base64 values)."""
    encoded = (data or {}).get(KUBECONFIG_KEY)
    if not encoded:
        raise ValueError(
            f"Secret {secret_name} has no key {KUBECONFIG_KEY!r}: is it a Cluster API kubeconfig Secret?"
        )
    return base64.b64decode(str(encoded)).decode()


class VksCluster(pulumi.ComponentResource):
    """The Cluster and, when its kubeconfig can be had, a provider for the workload cluster."""

    cluster_name: pulumi.Output[str]
    workload_provider: k8s.Provider | None
    """Deploys into the workload cluster; None when no kubeconfig can exist (see the module doc)."""

    def __init__(self, name: str, args: VksClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("paif:platform:VksCluster", name, None, opts)
        if args.gpu_pool.name == args.cpu_pool.name:
            raise ValueError(
                f"node pools: the CPU and GPU pools need different names, both are {args.cpu_pool.name!r}"
            )
        spec = ClusterSpec(
            **args.cluster_settings(),
            vm_class=args.control_plane_vm_class,
            node_pools=(args.cpu_pool, args.gpu_pool),
            pod_cidrs=(args.pod_cidr,),
            service_cidrs=(args.service_cidr,),
        )
        wait_for = ["condition=Ready"] if args.await_ready else None
        cluster = Cluster(
            f"{name}-cluster",
            name=args.name,
            namespace=args.namespace,
            spec=spec,
            labels=PAIF_LABELS,
            annotations=await_annotations(wait_for, args.ready_timeout_seconds),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.cluster_name = cluster.metadata.apply(lambda m: str(m["name"]))

        kubeconfig = self._kubeconfig(name, args, cluster)
        self.workload_provider = None
        if kubeconfig is not None:
            self.workload_provider = k8s.Provider(
                f"{name}-workload",
                kubeconfig=kubeconfig,
                cluster_identifier=pulumi.Output.concat(args.namespace, "/", args.name),
                kube_client_settings=KUBE_CLIENT,
                opts=pulumi.ResourceOptions(
                    parent=self,
                    additional_secret_outputs=["kubeconfig"],
                    # A preview without the given kubeconfig reads none from the cluster (it is
                    # not known before apply): it keeps the deployed one, no change.
                    ignore_changes=["kubeconfig"] if args.kubeconfig is None and pulumi.runtime.is_dry_run() else None,
                ),
            )
        self.register_outputs({"clusterName": self.cluster_name})

    def _kubeconfig(self, name: str, args: VksClusterArgs, cluster: Cluster) -> pulumi.Output[str] | None:
        if args.kubeconfig is not None:
            return pulumi.Output.secret(args.kubeconfig)
        if not args.await_ready:
            return None
        if pulumi.runtime.is_dry_run():
            return pulumi.Output.secret(cast(pulumi.Output[str], pulumi.Output.from_input(pulumi.UNKNOWN)))
        secret_name = kubeconfig_secret_name(args.name)
        # The id comes from the Cluster's outputs, so the read waits until the Cluster is Ready.
        secret_id = cluster.metadata.apply(
            lambda m: f"{m['namespace']}/{kubeconfig_secret_name(str(m['name']))}"
        )
        published = k8s.core.v1.Secret.get(
            f"{name}-kubeconfig",
            secret_id,
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["data", "stringData"]),
        )
        return pulumi.Output.secret(published.data.apply(lambda data: decode_kubeconfig(data, secret_name)))
