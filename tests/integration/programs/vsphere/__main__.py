"""SupervisorNamespace + a CPU VmClass + a vGPU VmClass against the vCenter given in config
(tests/integration/test_vsphere_vcsim.py).

Config (project namespace): host, protocol (https|http), insecure (bool), username,
password (secret), cluster, namespace, storagePolicy, description, contentLibraries (JSON
list), cpuCount (of the CPU class), gpuProfile, api (devices|config-spec), timeout,
attempts.
"""

import pulumi

from components.supervisor_namespace import NamespaceAccess, SupervisorNamespace, SupervisorNamespaceArgs
from components.vm_class import VmClass, VmClassArgs
from components.vsphere import VcenterConnection

config = pulumi.Config()
connection = VcenterConnection(
    host=config.require("host"),
    username=config.require("username"),
    password=config.require_secret("password"),
    protocol="http" if config.get("protocol") == "http" else "https",
    insecure=config.get_bool("insecure") or False,
    timeout=config.get_float("timeout") or 30.0,
    attempts=config.get_int("attempts") or 5,
)
cluster = config.get("cluster") or "DC0_C0"
cpu = VmClass(
    "paif-cpu-small",
    VmClassArgs(
        connection=connection,
        name="paif-cpu-small",
        cpu_count=config.get_int("cpuCount") or 2,
        memory_mib=4096,
    ),
)
gpu = VmClass(
    "paif-gpu",
    VmClassArgs(
        connection=connection,
        name="paif-gpu",
        cpu_count=8,
        memory_mib=65536,
        vgpu_profile=config.get("gpuProfile") or "grid_a100-40c",
        cluster=cluster,
        api="config-spec" if config.get("api") == "config-spec" else "devices",
    ),
)
namespace = SupervisorNamespace(
    "paif-it",
    SupervisorNamespaceArgs(
        connection=connection,
        name=config.get("namespace") or "paif-it",
        cluster=cluster,
        storage_policy=config.get("storagePolicy") or "vSAN Default Storage Policy",
        storage_limit_mib=10240,
        cpu_limit_mhz=10000,
        memory_limit_mib=131072,
        description=config.get("description") or "PAIF integration test",
        vm_classes=[cpu.class_id, gpu.class_id],
        content_libraries=list(config.get_object("contentLibraries") or []),
        access=[NamespaceAccess(subject="paif-developers")],
    ),
)
pulumi.export("namespace", namespace.namespace)
pulumi.export("clusterId", namespace.cluster_id)
pulumi.export("cpuClass", cpu.class_id)
pulumi.export("gpuClass", gpu.class_id)
