"""The environment matrix (docs/DESIGN.md), as data: everything that differs between environments.

Components never ask which stack they are in; the program reads the profile and passes
plain values (replica counts, switches) to them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from components.names import HarborSeverity

Environment = Literal["local", "dev", "prod"]
AppPlatform = Literal["local-kubernetes", "dlvm", "vks"]

# DSM counts standbys: 0 = a single server, 1 = HA (primary + replica + monitor).
# One source shows `replicas: 3` for HA; docs/REFERENCE-VCF.md marks it UNCONFIRMED, so the
# HA value lives here only.
DSM_SINGLE_SERVER = 0
DSM_HA_STANDBYS = 1
ANY_SSLMODE = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


@dataclass(frozen=True)
class EnvironmentProfile:
    name: Environment
    app_platform: AppPlatform
    default_replicas: int
    min_replicas: int
    autoscaling: bool
    disruption_budget: bool
    anti_affinity: bool
    allowed_tls_modes: tuple[str, ...]
    tls_modes_reason: str
    """Why paif:app.tls.mode is limited to allowed_tls_modes, said with a refused mode ("" for no more than the list)."""
    monitoring: bool
    unread_app_keys: tuple[str, ...]
    """paif:app keys this environment does not read: refused when set, since a setting silently
    ignored (three replicas, a 50Gi uploads volume) misleads whoever wrote it."""
    unread_app_keys_reason: str
    """Why unread_app_keys are not read, said with a refused key."""
    db_standbys: int
    db_allowed_standbys: tuple[int, ...]
    db_backups_required: bool
    db_sslmode: Literal["disable", "require", "verify-full"]
    db_allowed_sslmodes: tuple[str, ...]
    """sslmodes paif:database.sslmode may be set to."""
    db_sslmode_rule: str
    """How a refused paif:database.sslmode is explained ("require, verify-ca or verify-full")."""
    vks_control_plane_replicas: int | None
    """The control-plane size paif:vks.controlPlaneReplicas must have; None: any."""
    harbor: Literal["off", "project", "full"]
    harbor_weakest_deployment_security: HarborSeverity | None
    """The weakest paif:harbor.deploymentSecurity allowed (lower severities block more images);
    None: any. Prod's is the policy pack's `harbor-project-secure` default."""
    verify_tls: bool
    """vCenter and Harbor only over https with certificate verification (no http, no insecure)."""
    require_image_digest: bool
    protect_stateful: bool
    """Protect the objects that hold data (Pulumi `protect`); paif:protection.release lifts it per object."""
    await_custom_resources: bool
    """Wait for VM Service, Cluster API and DSM to report their objects ready; False where
    those controllers do not run (the local API server: a node runs pods, nothing runs VMs,
    clusters or DSM databases). Built-in objects (Deployments, Services, Ingress, PVCs) are
    awaited everywhere."""
    policy_enforcement: Literal["advisory", "mandatory"]
    ingress_class_name: str | None
    """IngressClass of the cluster's ingress controller (paif:app.ingressClassName's default);
    None where the app has no Ingress (dev runs it on a DLVM)."""
    monitoring_namespace: str
    """Namespace of the Prometheus that scrapes the backend (paif:app.monitoringNamespace's default)."""
    declare_dlvm: bool
    declare_vks_cluster: bool
    cluster_platform: bool
    """Install the in-cluster platform (cert-manager, Contour, monitoring, Fluent Bit, GPU
    Operator; components/cluster_platform.py) into the workload cluster, and require its
    config (paif:vks.platform with logging and gpuOperator). False where nothing could run
    it: the local API server has no kapp-controller and can pull no chart or image."""
    create_supervisor_namespace_object: bool
    """True where a plain API server stands in for the Supervisor: it has no namespace
    object for the Supervisor namespace unless the program creates one."""


# Each difference is written once: dev is local plus what changes, prod is dev plus what changes.
_LOCAL = EnvironmentProfile(
    name="local",
    app_platform="local-kubernetes",
    default_replicas=1,
    min_replicas=1,
    autoscaling=False,
    disruption_budget=False,
    anti_affinity=False,
    allowed_tls_modes=("self-signed",),
    tls_modes_reason="",
    monitoring=False,
    unread_app_keys=("autoscaling",),
    unread_app_keys_reason="local runs a fixed number of replicas, paif:app.replicas; prod autoscales",
    db_standbys=DSM_SINGLE_SERVER,
    db_allowed_standbys=(DSM_SINGLE_SERVER,),
    db_backups_required=False,
    db_sslmode="disable",
    db_allowed_sslmodes=ANY_SSLMODE,
    db_sslmode_rule="",
    vks_control_plane_replicas=None,
    harbor="off",
    harbor_weakest_deployment_security=None,
    verify_tls=False,
    require_image_digest=False,
    protect_stateful=True,
    await_custom_resources=False,
    policy_enforcement="advisory",
    ingress_class_name="traefik",  # localenv's Traefik serves IngressClass traefik
    monitoring_namespace="monitoring",
    declare_dlvm=True,
    declare_vks_cluster=True,
    cluster_platform=False,
    create_supervisor_namespace_object=True,
)
_DEV = replace(
    _LOCAL,
    name="dev",
    app_platform="dlvm",
    # The app runs on the DLVM, which gets its certificate in the Supervisor namespace, where no
    # cert-manager runs (it is a VKS package, prod's cluster platform).
    allowed_tls_modes=("self-signed", "secret"),
    tls_modes_reason=(
        "the app runs on the DLVM, whose Supervisor namespace runs no cert-manager: use secret with a "
        "certificate from the corporate CA, or paif:dlvm.tlsCertificate"
    ),
    # No Kubernetes objects for the app: the DLVM runs one instance of each container.
    unread_app_keys=(
        "replicas",
        "autoscaling",
        "uploadsVolumeSize",
        "uploadsStorageClass",
        "uploadsAccessMode",
        "monitoring",
        "monitoringNamespace",
        "ingressClassName",
    ),
    unread_app_keys_reason="dev runs the app on the DLVM, one instance of each container and no Kubernetes objects",
    db_allowed_standbys=(DSM_SINGLE_SERVER, DSM_HA_STANDBYS),
    db_sslmode="require",
    harbor="project",
    await_custom_resources=True,
    ingress_class_name=None,
    declare_vks_cluster=False,
    create_supervisor_namespace_object=False,
)
_PROD = replace(
    _DEV,
    name="prod",
    app_platform="vks",
    default_replicas=2,
    min_replicas=2,
    autoscaling=True,
    disruption_budget=True,
    anti_affinity=True,
    allowed_tls_modes=("cert-manager", "secret"),
    tls_modes_reason="",
    monitoring=True,
    unread_app_keys=(),
    unread_app_keys_reason="",
    db_standbys=DSM_HA_STANDBYS,
    db_allowed_standbys=(DSM_HA_STANDBYS,),
    db_backups_required=True,
    db_sslmode="verify-full",
    db_allowed_sslmodes=("require", "verify-ca", "verify-full"),
    db_sslmode_rule="require, verify-ca or verify-full",
    vks_control_plane_replicas=3,
    harbor="full",
    harbor_weakest_deployment_security="high",
    verify_tls=True,
    policy_enforcement="mandatory",
    # The VKS Contour package: Contour's default class name is `contour` and it serves
    # Ingresses of that class (or none); whether the package also creates an IngressClass
    # object is UNCONFIRMED (docs/REFERENCE-VKS-PLATFORM.md section 1) and not needed.
    ingress_class_name="contour",
    # Where the VKS Prometheus package installs (docs/REFERENCE-VKS-PLATFORM.md); a Prometheus
    # brought along elsewhere is set with paif:app.monitoringNamespace.
    monitoring_namespace="tanzu-system-monitoring",
    declare_dlvm=False,
    declare_vks_cluster=True,
    cluster_platform=True,
)
PROFILES: dict[Environment, EnvironmentProfile] = {p.name: p for p in (_LOCAL, _DEV, _PROD)}
