"""Kubernetes providers the program deploys through."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.config import Settings


def supervisor_provider(settings: Settings) -> k8s.Provider:
    """The Supervisor namespace's Kubernetes API (the local API server in `local`).

    Without `paif:supervisorKubeconfig` the provider uses the ambient kubeconfig; previews
    then run without reaching a cluster.
    """
    return k8s.Provider(
        "supervisor",
        kubeconfig=settings.secrets.supervisor_kubeconfig,
        namespace=settings.config.vsphere.namespace.name,
        opts=pulumi.ResourceOptions(additional_secret_outputs=["kubeconfig"]),
    )
