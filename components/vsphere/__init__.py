"""vSphere objects as Pulumi dynamic resources (types `pulumi-python:dynamic/vsphere:<Kind>`).

Supervisor namespaces and VM classes are managed over vCenter's REST API
(`components/vsphere/client.py`); names are resolved to ids with pyvmomi and REST at apply
time (`components/vsphere/inventory.py`). Previews never contact vCenter.
"""

from components.vsphere.client import Endpoint, VcenterClient, VcenterError, VcenterNotFound
from components.vsphere.connection import VcenterConnection
from components.vsphere.inventory import UnknownName
from components.vsphere.namespace_provider import NamespaceInstance, NamespaceInstanceArgs
from components.vsphere.vm_class_provider import VgpuProfileUnavailable, VmClass, VmClassArgs

__all__ = [
    "Endpoint",
    "NamespaceInstance",
    "NamespaceInstanceArgs",
    "UnknownName",
    "VcenterClient",
    "VcenterConnection",
    "VcenterError",
    "VcenterNotFound",
    "VgpuProfileUnavailable",
    "VmClass",
    "VmClassArgs",
]
