"""Kubernetes providers the program deploys through."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.vks_cluster import KUBE_CLIENT
from infra.config import Settings


def supervisor_identifier(settings: Settings) -> str:
    """What the Supervisor provider's identity is: the vCenter host (without its port) and the
    namespace. The kubernetes provider replaces itself, and with it every object it manages,
    only when this changes; a new kubeconfig for the same Supervisor (a fresh login token, an
    API server on another port, no kubeconfig at all in a credential-less preview) is an update
    of the provider's connection. Adding the identifier to a provider that had none is not a
    change (pulumi-kubernetes `DiffConfig`)."""
    vsphere = settings.config.vsphere
    host = vsphere.host.rsplit(":", 1)[0] if vsphere.host.count(":") == 1 else vsphere.host
    return f"supervisor/{host}/{vsphere.namespace.name}"


def supervisor_provider(settings: Settings) -> k8s.Provider:
    """The Supervisor namespace's Kubernetes API (the local API server in `local`).

    Without `paif:supervisorKubeconfig` the provider uses the ambient kubeconfig; previews
    then run without reaching a cluster. A preview without it (a pull request's gate has no
    credentials) keeps the kubeconfig the stack was deployed with: credentials are never a
    change. An `up` without it uses the ambient kubeconfig, as asked.
    """
    withheld = settings.secrets.supervisor_kubeconfig is None and pulumi.runtime.is_dry_run()
    return k8s.Provider(
        "supervisor",
        kubeconfig=settings.secrets.supervisor_kubeconfig,
        namespace=settings.config.vsphere.namespace.name,
        cluster_identifier=supervisor_identifier(settings),
        kube_client_settings=KUBE_CLIENT,
        opts=pulumi.ResourceOptions(
            additional_secret_outputs=["kubeconfig"], ignore_changes=["kubeconfig"] if withheld else None
        ),
    )
