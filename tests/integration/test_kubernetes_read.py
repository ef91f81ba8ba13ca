"""Our build of the kubernetes provider reads an object once per refresh when the kind has no
read-await logic (toolchain/go/kubernetes-provider/patches/read-once.patch): counted on a real
kube-apiserver's own request metrics, through the real engine."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

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
