"""The disk size check (infra/volume_check.py) against a real kube-apiserver (no node:
claims are marked Bound through their status, as a provisioner would).

For each StorageClass (one that allows expansion, one that does not) and each new size (the
same, larger, smaller), the check's verdict is compared with what the API server itself does
with that patch: the check refuses exactly what the API server refuses, and reads the claim
and class through the kubeconfig (client certificates) as the program does.

The database's disk and the DLVM's boot disk live in custom resources (our CRDs, as the local
environment installs them): the API server takes a smaller size, so the check alone refuses it,
reading each size where the program's paths say it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from components.crds.postgres_cluster import API_VERSION as POSTGRES_API
from components.crds.postgres_cluster import PostgresClusterSpec
from components.crds.virtual_machine import API_VERSION as VM_API
from components.crds.virtual_machine import SecretKeyRef, VirtualMachineSpec
from infra.volume_check import (
    LiveClaim,
    read_claim,
    read_size,
    resize_problem,
    shrink_problem,
    supervisor_disks,
)
from localenv import crds
from tests.integration.apiserver import ApiServerProcess, running_apiserver

pytestmark = pytest.mark.integration

NAMESPACE = "paif-chat"
CLASSES = {"growable": True, "fixed": False}


@pytest.fixture(scope="module")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServerProcess]:
    with running_apiserver(tmp_path_factory.mktemp("volume-check") / "home", namespaces=(NAMESPACE,)) as server:
        for name, expandable in CLASSES.items():
            created = server.client.post(
                f"{server.url}/apis/storage.k8s.io/v1/storageclasses",
                json={
                    "metadata": {"name": name},
                    "provisioner": "csi.vsphere.vmware.com",
                    "allowVolumeExpansion": expandable,
                },
            )
            assert created.status_code == 201, created.text
        yield server


def _claims(server: ApiServerProcess) -> str:
    return f"{server.url}/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims"


def bound_claim(server: ApiServerProcess, name: str, storage_class: str, size: str) -> None:
    created = server.client.post(
        _claims(server),
        json={
            "metadata": {"name": name},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": storage_class,
                "resources": {"requests": {"storage": size}},
            },
        },
    )
    assert created.status_code == 201, created.text
    bound = server.client.patch(
        f"{_claims(server)}/{name}/status",
        json={"status": {"phase": "Bound", "capacity": {"storage": size}}},
        headers={"content-type": "application/merge-patch+json"},
    )
    assert bound.status_code == 200, bound.text


def api_server_accepts(server: ApiServerProcess, name: str, size: str) -> httpx.Response:
    """The provider's patch of the size, as a server-side dry run (nothing changes)."""
    return server.client.patch(
        f"{_claims(server)}/{name}",
        params={"dryRun": "All"},
        json={"spec": {"resources": {"requests": {"storage": size}}}},
        headers={"content-type": "application/merge-patch+json"},
    )


@pytest.mark.parametrize("storage_class", sorted(CLASSES))
def test_the_check_refuses_exactly_what_the_api_server_refuses(
    apiserver: ApiServerProcess, storage_class: str, tmp_path: Path
) -> None:
    name = f"{storage_class}-uploads"
    bound_claim(apiserver, name, storage_class, "10Gi")
    live = read_claim(apiserver.kubeconfig, NAMESPACE, name)
    assert live == LiveClaim(
        size="10Gi", storage_class=storage_class, allows_expansion=CLASSES[storage_class]
    )

    for size in ("10Gi", "10240Mi", "20Gi", "5Gi"):
        response = api_server_accepts(apiserver, name, size)
        problem = resize_problem(live, size)
        assert (problem is None) == (response.status_code == 200), (size, problem, response.text)
        if problem is not None:
            assert problem.startswith(f"paif:app.uploadsVolumeSize: given {size}, deployed 10Gi;"), problem
            assert "Allowed: 10Gi" in problem
            print(
                f"\n{storage_class} {size}: API server {response.status_code}: {response.json()['message'][:140]}"
            )


def test_no_claim_yet_is_nothing_to_check(apiserver: ApiServerProcess) -> None:
    assert read_claim(apiserver.kubeconfig, NAMESPACE, "never-created") is None
    assert resize_problem(None, "1Gi") is None


@pytest.fixture(scope="module")
def supervisor(apiserver: ApiServerProcess, tmp_path_factory: pytest.TempPathFactory) -> ApiServerProcess:
    """The API server with our CRDs, as the local environment installs them."""
    kubeconfig = tmp_path_factory.mktemp("supervisor") / "admin.kubeconfig"
    kubeconfig.write_text(apiserver.kubeconfig)
    kubeconfig.chmod(0o600)
    crds.apply(str(kubeconfig))
    return apiserver


def _create(server: ApiServerProcess, api_version: str, plural: str, kind: str, name: str, *, spec: Any) -> str:
    url = f"{server.url}/apis/{api_version}/namespaces/{NAMESPACE}/{plural}"
    created = server.client.post(
        url, json={"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, "spec": spec}
    )
    assert created.status_code == 201, created.text
    return f"{url}/{name}"


def _vm(server: ApiServerProcess, name: str, boot_disk: str | None) -> str:
    spec = VirtualMachineSpec(
        class_name="gpu-a100-40c",
        image_name="vmi-0a1b2c3d4e5f60718",
        storage_class="vsan-default",
        cloud_config=SecretKeyRef(f"{name}-cloud-init"),
        boot_disk_capacity=boot_disk,
    )
    return _create(server, VM_API, "virtualmachines", "VirtualMachine", name, spec=spec.to_spec())


def _dlvm_settings(storage_space: str, boot_disk: str) -> Any:
    config = SimpleNamespace(
        vsphere=SimpleNamespace(namespace=SimpleNamespace(name=NAMESPACE)),
        database=SimpleNamespace(cluster_name="chat-pg", storage_space=storage_space),
        dlvm=SimpleNamespace(name="chat-dlvm", boot_disk_size=boot_disk),
    )
    return SimpleNamespace(config=config, profile=SimpleNamespace(app_platform="dlvm"))


def test_a_smaller_supervisor_disk_the_api_server_takes_is_refused_by_the_check(supervisor: ApiServerProcess) -> None:
    cluster = PostgresClusterSpec(
        version="17.7+vmware.v9.0.2.0",
        replicas=0,
        vm_class="best-effort-small",
        storage_policy_name="vsan-default",
        storage_space="40Gi",
        admin_username="pgadmin",
        admin_password_secret="chat-pg-admin-password",
    )
    urls = {
        "storageSpace": _create(
            supervisor, POSTGRES_API, "postgresclusters", "PostgresCluster", "chat-pg", spec=cluster.to_spec()
        ),
        "bootDiskCapacity": _vm(supervisor, "chat-dlvm", "300Gi"),
    }

    disks = supervisor_disks(_dlvm_settings(storage_space="20Gi", boot_disk="200Gi"))
    assert [read_size(supervisor.kubeconfig, disk) for disk in disks] == ["40Gi", "300Gi"]
    for disk in disks:
        field = disk.field[-1]
        # What the kubernetes provider would send: the API server takes the smaller size.
        patch = {"spec": {"advanced": {field: disk.size}}} if field == "bootDiskCapacity" else {"spec": {field: disk.size}}
        taken = supervisor.client.patch(
            urls[field], params={"dryRun": "All"}, json=patch, headers={"content-type": "application/merge-patch+json"}
        )
        assert taken.status_code == 200, taken.text
        problem = shrink_problem(disk, read_size(supervisor.kubeconfig, disk))
        assert problem is not None and problem.startswith(f"{disk.key}: given {disk.size}, deployed "), problem

    grown = supervisor_disks(_dlvm_settings(storage_space="40960Mi", boot_disk="400Gi"))
    assert [shrink_problem(disk, read_size(supervisor.kubeconfig, disk)) for disk in grown] == [None, None]


def test_a_supervisor_disk_not_deployed_or_without_a_size_is_nothing_to_check(supervisor: ApiServerProcess) -> None:
    _vm(supervisor, "image-sized", None)
    boot_disk = supervisor_disks(_dlvm_settings(storage_space="20Gi", boot_disk="100Gi"))[1]
    image_sized_disk = replace(boot_disk, path=boot_disk.path.replace("chat-dlvm", "image-sized"))
    never_created = replace(boot_disk, path=boot_disk.path.replace("chat-dlvm", "never-created"))
    assert read_size(supervisor.kubeconfig, image_sized_disk) is None
    assert read_size(supervisor.kubeconfig, never_created) is None
