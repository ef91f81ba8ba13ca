"""The uploads size check (infra/volume_check.py) against a real kube-apiserver (no node:
claims are marked Bound through their status, as a provisioner would).

For each StorageClass (one that allows expansion, one that does not) and each new size (the
same, larger, smaller), the check's verdict is compared with what the API server itself does
with that patch: the check refuses exactly what the API server refuses, and reads the claim
and class through the kubeconfig (client certificates) as the program does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.volume_check import LiveClaim, read_claim, resize_problem
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
