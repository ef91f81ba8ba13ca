"""The vSphere part of a stack: the Supervisor namespace and the VM classes it offers.

Every class in `paif:vsphere.vmClasses` is declared (a `VmClass`, with a vGPU when it
sets `vgpuProfile`) and bound to the namespace, together with
the declared content libraries. `paif:vcenterPassword` may be missing in a preview (CI
has no vCenter credentials; nothing is contacted), never in `up`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.supervisor_namespace import NamespaceAccess, SupervisorNamespace, SupervisorNamespaceArgs
from components.vm_class import VmClass, VmClassArgs
from components.vsphere import VcenterConnection
from infra.config import Settings
from infra.preflight import check_apply_secrets


@dataclass(frozen=True)
class VsphereOutputs:
    namespace: pulumi.Output[str]
    """The Supervisor namespace's name, once it exists."""
    gpu_class: pulumi.Output[str]
    """Id of the class named by paif:vsphere.gpuClass, once it exists."""
    vm_classes: dict[str, pulumi.Output[str]]
    """Every declared class: name -> id, once it exists."""


def vcenter_connection(settings: Settings) -> VcenterConnection:
    """The vCenter connection from the config; refuses an `up` without the password."""
    check_apply_secrets(settings, keys=("vcenterPassword",))
    cfg = settings.config.vsphere
    password = settings.secrets.vcenter_password
    return VcenterConnection(
        host=cfg.host,
        username=cfg.username,
        password=password,
        insecure=cfg.insecure,
        ca_bundle=cfg.ca_bundle,
        protocol=cfg.protocol,
        config_keys={
            "host": "paif:vsphere.host",
            "username": "paif:vsphere.username",
            "password": "paif:vcenterPassword",
        },
    )


def declare_vsphere(settings: Settings) -> VsphereOutputs:
    cfg = settings.config.vsphere
    connection = vcenter_connection(settings)
    classes: dict[str, pulumi.Output[str]] = {}
    for vm_class in cfg.vm_classes:
        classes[vm_class.name] = VmClass(
            vm_class.name,
            VmClassArgs(connection=connection, cluster=cfg.cluster, api=cfg.api, **vm_class.model_dump()),
        ).class_id
    ns = cfg.namespace
    namespace = SupervisorNamespace(
        ns.name,
        SupervisorNamespaceArgs(
            connection=connection,
            cluster=cfg.cluster,
            vm_classes=list(classes.values()),
            access=[NamespaceAccess(**a.model_dump()) for a in ns.access],
            **ns.model_dump(exclude={"access"}),
        ),
        opts=pulumi.ResourceOptions(protect=settings.protect("supervisorNamespace")),
    )
    return VsphereOutputs(namespace=namespace.namespace, gpu_class=classes[cfg.gpu_class], vm_classes=classes)
