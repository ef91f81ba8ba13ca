"""`GpuWorkload`: an optional GPU Deployment (an embedding or inference server) on the VKS
GPU pool: it requests `nvidia.com/gpu` (request = limit), tolerates exactly the pool's taints
and selects the pool's nodes; everything else about it is as locked down as the app's pods
(restricted pod security, no service-account token, probes, a NetworkPolicy admitting only
its clients and one letting those clients reach it, a PDB and spread over nodes).

App pods never tolerate the GPU taint, so only workloads like this one land on GPU nodes
(policy rules gpu-requests-only-tolerating and gpu-pool-tainted).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import labels
from components.crds.cluster import Taint
from components.pod_security import container_security_context, pod_security_context

GPU_RESOURCE = "nvidia.com/gpu"


Toleration = Taint
"""A taint of the GPU pool, tolerated exactly (`Taint.toleration`)."""


@dataclass(frozen=True)
class GpuWorkloadArgs:
    name: str
    namespace: str
    image: str
    port: int
    tolerations: Sequence[Taint]
    """The GPU pool's taints, tolerated exactly."""
    node_selector: Mapping[str, str]
    """The GPU pool's node labels."""
    clients: Mapping[str, str]
    """Labels of the pods allowed to call it (the app's backend)."""
    gpu_count: int = 1
    replicas: int = 2
    cpu_request: str = "2"
    memory_request: str = "8Gi"
    memory_limit: str = "16Gi"
    health_path: str = "/health"
    pull_secret_name: str | None = None
    disruption_budget: bool = True
    env: Mapping[str, str] = field(default_factory=dict)


class GpuWorkload(pulumi.ComponentResource):
    deployment: k8s.apps.v1.Deployment

    def __init__(self, name: str, args: GpuWorkloadArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        if args.gpu_count < 1:
            raise ValueError(f"GpuWorkload {name}: gpu_count {args.gpu_count} must be at least 1")
        if not args.tolerations:
            raise ValueError(
                f"GpuWorkload {name}: the GPU pool's taints are required (it schedules nowhere else)"
            )
        super().__init__("paif:platform:GpuWorkload", name, None, opts)
        a = args
        child = pulumi.ResourceOptions(parent=self)
        selector = labels.selector(a.name, "gpu")
        meta = {"name": a.name, "namespace": a.namespace, "labels": labels.workload_labels(a.name, "gpu")}
        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa", metadata=meta, automount_service_account_token=False, opts=child
        )
        gpus = str(a.gpu_count)
        pod: dict[str, Any] = {
            "serviceAccountName": a.name,
            "automountServiceAccountToken": False,
            "securityContext": pod_security_context(),
            "nodeSelector": dict(a.node_selector),
            "tolerations": [t.toleration() for t in a.tolerations],
            "affinity": {
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 100,
                            "podAffinityTerm": {
                                "labelSelector": {"matchLabels": selector},
                                "topologyKey": "kubernetes.io/hostname",
                            },
                        }
                    ]
                }
            },
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": selector},
                }
            ],
            "containers": [
                {
                    "name": "server",
                    "image": a.image,
                    "imagePullPolicy": "IfNotPresent",
                    "ports": [{"name": "http", "containerPort": a.port, "protocol": "TCP"}],
                    "env": [{"name": k, "value": v} for k, v in sorted(a.env.items())],
                    "resources": {
                        "requests": {"cpu": a.cpu_request, "memory": a.memory_request, GPU_RESOURCE: gpus},
                        "limits": {"memory": a.memory_limit, GPU_RESOURCE: gpus},
                    },
                    "readinessProbe": {
                        "httpGet": {"path": a.health_path, "port": "http"},
                        "periodSeconds": 10,
                    },
                    "livenessProbe": {
                        "httpGet": {"path": a.health_path, "port": "http"},
                        "initialDelaySeconds": 120,
                        "periodSeconds": 20,
                    },
                    "securityContext": container_security_context(),
                    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - an emptyDir
                }
            ],
            "volumes": [{"name": "tmp", "emptyDir": {}}],
        }
        if a.pull_secret_name:
            pod["imagePullSecrets"] = [{"name": a.pull_secret_name}]
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=meta,
            spec={
                "replicas": a.replicas,
                "selector": {"matchLabels": selector},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                "template": {"metadata": {"labels": selector}, "spec": pod},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account]),
        )
        k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta,
            spec={
                "type": "ClusterIP",
                "selector": selector,
                "ports": [{"name": "http", "port": a.port, "targetPort": "http", "protocol": "TCP"}],
            },
            opts=child,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol",
            metadata=meta,
            spec={
                "podSelector": {"matchLabels": selector},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [
                    {
                        "from": [{"podSelector": {"matchLabels": dict(a.clients)}}],
                        "ports": [{"protocol": "TCP", "port": a.port}],
                    }
                ],
                "egress": [],
            },
            opts=child,
        )
        # The other half: the clients' own egress to it. NetworkPolicies add up, so this opens
        # exactly this port of these pods next to what the app's own policies allow (the
        # backend's egress is otherwise only PAIS, the database and DNS).
        k8s.networking.v1.NetworkPolicy(
            f"{name}-client-egress",
            metadata={**meta, "name": f"{a.name}-client-egress"},
            spec={
                "podSelector": {"matchLabels": dict(a.clients)},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [{"podSelector": {"matchLabels": selector}}],
                        "ports": [{"protocol": "TCP", "port": a.port}],
                    }
                ],
            },
            opts=child,
        )
        if a.disruption_budget:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb",
                metadata=meta,
                spec={"maxUnavailable": 1, "selector": {"matchLabels": selector}},
                opts=child,
            )
        self.register_outputs({})
