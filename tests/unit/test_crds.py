"""Typed custom-resource helpers: the camelCase specs they render, the mistakes they refuse,
and how they register (type token, `status` read back, await annotations)."""

from __future__ import annotations

import json

import pytest

from components.crds.cluster import TYPE as CLUSTER
from components.crds.cluster import Cluster, ClusterSpec, NodePool, kubeconfig_secret_name
from components.crds.custom_resource import await_annotations
from components.crds.virtual_machine import TYPE as VIRTUAL_MACHINE
from components.crds.virtual_machine import (
    NetworkInterface,
    PvcVolume,
    SecretKeyRef,
    VirtualMachine,
    VirtualMachineSpec,
    primary_ip4,
)
from tests.unit.harness import run


def vm_spec(**changes: object) -> VirtualMachineSpec:
    fields: dict[str, object] = {
        "class_name": "gpu-a100-40c",
        "image_name": "vmi-0a1b2c3d4e5f60718",
        "storage_class": "vsan-default",
        "cloud_config": SecretKeyRef("dlvm-cloud-init"),
    }
    fields.update(changes)
    return VirtualMachineSpec(**fields)  # type: ignore[arg-type]


def cluster_spec(**changes: object) -> ClusterSpec:
    fields: dict[str, object] = {
        "cluster_class": "builtin-generic-v3.4.0",
        "class_namespace": "vmware-system-vks-public",
        "version": "v1.33.3---vmware.1-fips-vkr.1",
        "control_plane_replicas": 3,
        "vm_class": "cpu-large",
        "storage_class": "vsan-default",
        "node_pools": (NodePool("cpu", 3, "cpu-large"), NodePool("gpu", 2, "gpu-a100-40c")),
        "pod_cidrs": ("192.168.0.0/16",),
        "service_cidrs": ("10.96.0.0/12",),
    }
    fields.update(changes)
    return ClusterSpec(**fields)  # type: ignore[arg-type]


# -- VirtualMachine ----------------------------------------------------------------------


def test_virtual_machine_spec_renders_the_v1alpha3_keys() -> None:
    spec = vm_spec(boot_disk_capacity="200Gi").to_spec()
    assert spec == {
        "className": "gpu-a100-40c",
        "imageName": "vmi-0a1b2c3d4e5f60718",
        "storageClass": "vsan-default",
        "powerState": "PoweredOn",
        "bootstrap": {"cloudInit": {"rawCloudConfig": {"name": "dlvm-cloud-init", "key": "user-data"}}},
        "advanced": {"bootDiskCapacity": "200Gi"},
    }


def test_virtual_machine_spec_omits_optional_sections_and_renders_them_when_given() -> None:
    bare = vm_spec().to_spec()
    assert not {"advanced", "network", "volumes"} & set(bare)

    full = vm_spec(
        interfaces=(NetworkInterface("eth0"), NetworkInterface("eth1", network="storage-net")),
        volumes=(PvcVolume("data", "dlvm-data"),),
        power_state="PoweredOff",
    ).to_spec()
    assert full["powerState"] == "PoweredOff"
    assert full["network"] == {"interfaces": [{"name": "eth0"}, {"name": "eth1", "network": {"name": "storage-net"}}]}
    assert full["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "dlvm-data"}}]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"image_name": ""}, "image_name"),
        ({"storage_class": "vSAN Default"}, "storage class 'vSAN Default'"),
        ({"cloud_config": SecretKeyRef("Bad_Name")}, "cloud-config Secret 'Bad_Name'"),
        ({"boot_disk_capacity": "200 GB"}, "boot disk capacity '200 GB': must be a Kubernetes quantity"),
        ({"boot_disk_capacity": "100G"}, r"'100G': must be a whole number of MiB, .*95367.43Mi\): .* 95368Mi or 100Gi$"),
        ({"boot_disk_capacity": "1500Ki"}, "'1500Ki': must be at least 10Gi"),
        ({"boot_disk_capacity": "10241.5Mi"}, r"10241.50Mi\): write it in Mi or Gi, such as 10242Mi$"),
        ({"boot_disk_capacity": "100Mi"}, "'100Mi': must be at least 10Gi"),
        ({"boot_disk_capacity": "10737418239"}, "must be at least 10Gi"),
        ({"volumes": (PvcVolume("data", "a"), PvcVolume("data", "b"))}, "volume names must be unique"),
        ({"interfaces": (NetworkInterface("eth_0"),)}, "network interface 'eth_0'"),
    ],
)
def test_virtual_machine_spec_refuses_invalid_values(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        vm_spec(**changes)


@pytest.mark.parametrize("capacity", ["10Gi", "10240Mi", "10737418240", "200Gi", "1.5Ti", "64Gi"])
def test_a_boot_disk_of_whole_mebibytes_from_10gi_is_accepted(capacity: str) -> None:
    assert vm_spec(boot_disk_capacity=capacity).to_spec()["advanced"] == {"bootDiskCapacity": capacity}


def test_primary_ip4_reads_the_status_when_reported() -> None:
    assert primary_ip4(None) is None
    assert primary_ip4({"powerState": "PoweredOn"}) is None
    assert primary_ip4({"network": {"primaryIP4": "10.20.50.7"}}) == "10.20.50.7"


def test_virtual_machine_registers_with_the_crd_type_and_reads_status_back() -> None:
    def program() -> None:
        VirtualMachine(
            "vm",
            name="chat-dlvm",
            namespace="paif-chat-dev",
            spec=vm_spec(),
            labels={"app.kubernetes.io/part-of": "paif"},
            annotations=await_annotations(None, 60),
        )

    rec = run(program)
    vm = rec.one(VIRTUAL_MACHINE, "vm")
    assert VIRTUAL_MACHINE == "kubernetes:vmoperator.vmware.com/v1alpha3:VirtualMachine"
    assert vm.props["apiVersion"] == "vmoperator.vmware.com/v1alpha3"
    assert vm.props["kind"] == "VirtualMachine"
    assert vm.props["metadata"] == {
        "name": "chat-dlvm",
        "namespace": "paif-chat-dev",
        "labels": {"app.kubernetes.io/part-of": "paif"},
        "annotations": {"pulumi.com/skipAwait": "true"},
    }
    assert vm.props["spec"] == vm_spec().to_spec()


def test_virtual_machine_name_must_be_a_dns_label() -> None:
    def program() -> None:
        VirtualMachine("vm", name="Chat_DLVM", namespace="ns", spec=vm_spec())

    rec = run(program, expect_error=True)
    assert "VirtualMachine name 'Chat_DLVM'" in str(rec.error)


# -- Cluster -----------------------------------------------------------------------------


def test_cluster_spec_renders_topology_pools_variables_and_networks() -> None:
    spec = cluster_spec().to_spec()
    topology = spec["topology"]
    assert topology["class"] == "builtin-generic-v3.4.0"
    assert topology["classNamespace"] == "vmware-system-vks-public"
    assert topology["version"] == "v1.33.3---vmware.1-fips-vkr.1"
    assert topology["controlPlane"] == {"replicas": 3}
    assert topology["workers"]["machineDeployments"] == [
        {"class": "node-pool", "name": "cpu", "replicas": 3, "variables": {"overrides": [{"name": "vmClass", "value": "cpu-large"}]}},
        {"class": "node-pool", "name": "gpu", "replicas": 2, "variables": {"overrides": [{"name": "vmClass", "value": "gpu-a100-40c"}]}},
    ]
    assert topology["variables"] == [
        {"name": "vmClass", "value": "cpu-large"},
        {"name": "storageClass", "value": "vsan-default"},
    ]
    assert spec["clusterNetwork"] == {
        "pods": {"cidrBlocks": ["192.168.0.0/16"]},
        "services": {"cidrBlocks": ["10.96.0.0/12"]},
    }


def test_cluster_spec_allows_a_single_control_plane_node() -> None:
    assert cluster_spec(control_plane_replicas=1).to_spec()["topology"]["controlPlane"] == {"replicas": 1}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"control_plane_replicas": 2}, "control plane replicas 2: must be odd"),
        ({"control_plane_replicas": 0}, "control plane replicas 0"),
        ({"node_pools": ()}, "at least one worker pool"),
        ({"node_pools": (NodePool("a", 1, "x"), NodePool("a", 2, "y"))}, "node pool names must be unique"),
        ({"pod_cidrs": ("10.96.0.0/16",)}, "pod CIDR 10.96.0.0/16 overlaps service CIDR 10.96.0.0/12"),
        ({"service_cidrs": ("10.96.0.1/12",)}, "service CIDR '10.96.0.1/12'"),
        ({"pod_cidrs": ()}, "pod CIDRs: at least one"),
        ({"storage_class": "Fast SSD"}, "storage class 'Fast SSD'"),
    ],
)
def test_cluster_spec_refuses_invalid_values(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cluster_spec(**changes)


def test_node_pool_refuses_negative_replicas_and_bad_names() -> None:
    with pytest.raises(ValueError, match="replicas -1"):
        NodePool("gpu", -1, "gpu-class")
    with pytest.raises(ValueError, match="node pool name 'GPU'"):
        NodePool("GPU", 1, "gpu-class")


def test_cluster_registers_with_the_capi_type_and_wait_annotations() -> None:
    def program() -> None:
        Cluster(
            "cluster",
            name="chat-vks",
            namespace="paif-chat-prod",
            spec=cluster_spec(),
            annotations=await_annotations(["condition=Ready"], 3600),
        )

    rec = run(program)
    cluster = rec.one(CLUSTER, "cluster")
    assert CLUSTER == "kubernetes:cluster.x-k8s.io/v1beta1:Cluster"
    assert cluster.props["metadata"]["annotations"] == {
        "pulumi.com/waitFor": "condition=Ready",
        "pulumi.com/timeoutSeconds": "3600",
    }
    assert cluster.props["spec"] == cluster_spec().to_spec()
    assert kubeconfig_secret_name("chat-vks") == "chat-vks-kubeconfig"


def test_await_annotations_join_several_conditions_and_refuse_none() -> None:
    several = await_annotations(["condition=Ready", "jsonpath={.status.phase}=Provisioned"], 90)
    assert json.loads(several["pulumi.com/waitFor"]) == ["condition=Ready", "jsonpath={.status.phase}=Provisioned"]
    assert several["pulumi.com/timeoutSeconds"] == "90"
    with pytest.raises(ValueError, match="at least one expression"):
        await_annotations([], 90)
