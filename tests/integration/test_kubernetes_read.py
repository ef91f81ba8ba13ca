"""Our build of the kubernetes provider, through the real engine on a real kube-apiserver:
- it reads an object once per refresh when the kind has no read-await logic
  (toolchain/go/kubernetes-provider/patches/read-once.patch), counted on the API server's own
  request metrics;
- the state holds no `metadata.managedFields` (patches/no-managed-fields.patch), and taking
  over fields another manager wrote still works (the provider reads them from the live object).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.apiserver import ApiServerProcess, running_apiserver
from tests.integration.engine import PulumiProgram

pytestmark = pytest.mark.integration

PROGRAM = Path(__file__).parent / "programs" / "smoke"
CONFIG_MAPS = 12
_GET_CONFIGMAPS = re.compile(r'^apiserver_request_total\{([^}]*)\} (\d+)$', re.M)


@pytest.fixture(scope="module")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServerProcess]:
    with running_apiserver(tmp_path_factory.mktemp("kubernetes-read") / "home", namespaces=("smoke",)) as server:
        yield server


def configmap_gets(server: ApiServerProcess) -> int:
    """GETs of single ConfigMaps the API server has answered so far (its own counter)."""
    metrics = server.client.get(f"{server.url}/metrics")
    assert metrics.status_code == 200, metrics.text[:200]
    total = 0
    for labels, count in _GET_CONFIGMAPS.findall(metrics.text):
        fields = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if fields.get("verb") == "GET" and fields.get("resource") == "configmaps" and not fields.get("subresource"):
            total += int(count)
    return total


def test_a_refresh_reads_each_object_without_await_logic_once(tmp_path: Path, apiserver: ApiServerProcess) -> None:
    program = PulumiProgram(PROGRAM, tmp_path)
    program.set_config("token", "read-once-5b1e", secret=True)
    program.set_config("withKubernetes", "true")
    program.set_config("kubeconfig", apiserver.kubeconfig, secret=True)
    program.set_config("extraConfigMaps", str(CONFIG_MAPS - 1))
    assert program.up() == {"create": CONFIG_MAPS + 3}
    before = configmap_gets(apiserver)
    assert program.refresh() == {"same": CONFIG_MAPS + 3}
    reads = configmap_gets(apiserver) - before
    print(f"\nrefresh of {CONFIG_MAPS} ConfigMaps: {reads} GETs")
    # As released, the provider GETs each object twice (before and after its await logic).
    assert reads == CONFIG_MAPS


def _configmap(server: ApiServerProcess, name: str) -> dict[str, Any]:
    answer = server.client.get(f"{server.url}/api/v1/namespaces/smoke/configmaps/{name}")
    assert answer.status_code == 200, answer.text[:300]
    live: dict[str, Any] = answer.json()
    return live


def _managers(live: dict[str, Any]) -> set[tuple[str, str]]:
    return {(entry["manager"], entry["operation"]) for entry in live["metadata"].get("managedFields", [])}


def test_the_state_keeps_no_managed_fields_and_an_up_still_takes_over_another_managers_edit(
    tmp_path: Path, apiserver: ApiServerProcess
) -> None:
    program = PulumiProgram(PROGRAM, tmp_path)
    program.set_config("token", "managed-fields-07c2", secret=True)
    program.set_config("withKubernetes", "true")
    program.set_config("kubeconfig", apiserver.kubeconfig, secret=True)
    program.set_config("extraConfigMaps", "1")
    assert program.up() == {"create": 5}
    state = json.loads(program.export())
    configmaps = [r for r in state["deployment"]["resources"] if r["type"] == "kubernetes:core/v1:ConfigMap"]
    assert len(configmaps) == 2
    for configmap in configmaps:
        assert "managedFields" not in configmap["outputs"]["metadata"], configmap["outputs"]["metadata"]
    (labelled,) = [c["outputs"]["metadata"]["name"] for c in configmaps if c["outputs"]["metadata"].get("labels")]
    # The cluster keeps them: the provider applied with its own field manager.
    assert any(op == "Apply" for _, op in _managers(_configmap(apiserver, labelled)))

    # Someone edits a declared label by hand, as `kubectl apply` (client-side) records it.
    edited = apiserver.client.patch(
        f"{apiserver.url}/api/v1/namespaces/smoke/configmaps/{labelled}",
        params={"fieldManager": "kubectl"},
        headers={"Content-Type": "application/merge-patch+json"},
        json={"metadata": {"labels": {"app.kubernetes.io/part-of": "edited-by-hand"}}},
    )
    assert edited.status_code == 200, edited.text[:300]
    assert ("kubectl", "Update") in _managers(_configmap(apiserver, labelled))
    assert program.refresh() == {"same": 4, "update": 1}

    # The next up restores the declared label in place: the provider takes the field over from
    # `kubectl` using the managedFields of the live object, which the state no longer has.
    assert program.up() == {"same": 4, "update": 1}
    live = _configmap(apiserver, labelled)
    assert live["metadata"]["labels"] == {"app.kubernetes.io/part-of": "smoke"}
    assert ("kubectl", "Update") not in _managers(live)
    assert program.up() == {"same": 5}
