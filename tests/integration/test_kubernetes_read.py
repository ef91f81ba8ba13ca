"""Our build of the kubernetes provider, through the real engine on a real kube-apiserver:
- it reads an object once per refresh when the kind has no read-await logic
  (toolchain/go/kubernetes-provider/patches/read-once.patch), counted on the API server's own
  request metrics;
- the state holds no `metadata.managedFields` (patches/no-managed-fields.patch), and taking
  over fields another manager wrote still works (the provider reads them from the live object);
- the outputs do not repeat the inputs as `__inputs` (patches/state-without-inputs.patch):
  diff, update and delete take the old inputs the engine sends, secrets stay secret, and a
  state written with `__inputs` by the provider as released still reads the same.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
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
    # With the garbage collector: the provider deletes in the foreground.
    home = tmp_path_factory.mktemp("kubernetes-read") / "home"
    with running_apiserver(home, namespaces=("smoke",), controller_manager=True) as server:
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


def _program(tmp_path: Path, server: ApiServerProcess, token: str, extra_configmaps: int) -> PulumiProgram:
    """The smoke program against `server`, with `extra_configmaps` labelled ConfigMaps."""
    program = PulumiProgram(PROGRAM, tmp_path)
    program.set_config("token", token, secret=True)
    program.set_config("withKubernetes", "true")
    program.set_config("kubeconfig", server.kubeconfig, secret=True)
    program.set_config("extraConfigMaps", str(extra_configmaps))
    return program


def test_a_refresh_reads_each_object_without_await_logic_once(tmp_path: Path, apiserver: ApiServerProcess) -> None:
    program = _program(tmp_path, apiserver, "read-once-5b1e", CONFIG_MAPS - 1)
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
    program = _program(tmp_path, apiserver, "managed-fields-07c2", 1)
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


def _kubernetes_resources(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in state["deployment"]["resources"] if r["type"].startswith("kubernetes:core/v1:")]


def _named(program: PulumiProgram, which: Callable[[dict[str, Any]], bool]) -> list[str]:
    """The names of the stack's Kubernetes objects `which` selects, from its state."""
    resources = _kubernetes_resources(json.loads(program.export()))
    return [r["outputs"]["metadata"]["name"] for r in resources if which(r)]


def test_the_outputs_do_not_repeat_the_inputs_and_diff_update_delete_use_the_recorded_ones(
    tmp_path: Path, apiserver: ApiServerProcess
) -> None:
    program = _program(tmp_path, apiserver, "recorded-inputs-4d19", 1)
    program.set_config("withSecret", "true")
    program.set_config("secretToken", "recorded-inputs-5e77", secret=True)
    assert program.up() == {"create": 6}
    exported = program.export()
    assert "recorded-inputs-5e77" not in exported
    resources = _kubernetes_resources(json.loads(exported))
    assert sorted(r["type"] for r in resources) == ["kubernetes:core/v1:ConfigMap"] * 2 + ["kubernetes:core/v1:Secret"]
    for resource in resources:
        assert "__inputs" not in resource["outputs"], resource["urn"]
        assert resource["inputs"]["metadata"]["namespace"] == "smoke", resource["urn"]
    (secret,) = [r for r in resources if r["type"] == "kubernetes:core/v1:Secret"]
    # The engine's copy of the inputs keeps the value secret, as `__inputs` did
    # (the provider's Check turns stringData into data).
    assert "ciphertext" in json.dumps(secret["inputs"]["data"]), secret["inputs"]
    assert "ciphertext" in json.dumps(secret["outputs"]["data"]), secret["outputs"]["data"]

    assert program.preview() == {"same": 6}
    # A changed label is an in-place update against the recorded inputs; changed data replaces
    # the object, as the provider as released does for ConfigMaps and Secrets (without
    # enableConfigMapMutable / enableSecretMutable).
    program.set_config("partOf", "recorded")
    assert program.preview() == {"same": 5, "update": 1}
    assert program.up() == {"same": 5, "update": 1}
    (labelled,) = _named(program, lambda r: bool(r["outputs"]["metadata"].get("labels")))
    assert _configmap(apiserver, labelled)["metadata"]["labels"] == {"app.kubernetes.io/part-of": "recorded"}
    program.set_config("greeting", "hello again")
    assert program.preview() == {"same": 5, "replace": 1}
    assert program.up() == {"same": 5, "replace": 1}
    (smoke,) = _named(program, lambda r: r["type"].endswith("ConfigMap") and "hello" in r["outputs"]["data"])
    assert _configmap(apiserver, smoke)["data"] == {"hello": "hello again"}
    program.set_config("secretToken", "recorded-inputs-8a02", secret=True)
    assert program.up() == {"same": 5, "replace": 1}
    assert "recorded-inputs-8a02" not in program.export()
    (secret_name,) = _named(program, lambda r: r["type"] == "kubernetes:core/v1:Secret")
    live_secret = apiserver.client.get(f"{apiserver.url}/api/v1/namespaces/smoke/secrets/{secret_name}")
    assert live_secret.status_code == 200, live_secret.text[:200]
    assert base64.b64decode(live_secret.json()["data"]["token"]) == b"recorded-inputs-8a02"
    assert program.refresh() == {"same": 6}
    assert program.up() == {"same": 6}

    # Delete takes the recorded inputs too.
    program.set_config("extraConfigMaps", "0")
    assert program.up() == {"same": 5, "delete": 1}
    assert program.destroy() == {"delete": 5}
    assert apiserver.client.get(f"{apiserver.url}/api/v1/namespaces/smoke/configmaps/{smoke}").status_code == 404


def test_a_state_that_repeats_the_inputs_as_released_reads_the_same(tmp_path: Path, apiserver: ApiServerProcess) -> None:
    program = _program(tmp_path, apiserver, "released-state-61c3", 1)
    assert program.up() == {"create": 5}
    # The state as the provider as released writes it: the inputs again, as `__inputs`.
    state = json.loads(program.export())
    for resource in _kubernetes_resources(state):
        resource["outputs"]["__inputs"] = resource["inputs"]
    released = tmp_path / "released.json"
    released.write_text(json.dumps(state))
    program.run("stack", "import", "--file", str(released))
    assert all("__inputs" in r["outputs"] for r in _kubernetes_resources(json.loads(program.export())))

    assert program.preview() == {"same": 5}
    program.set_config("partOf", "from-a-released-state")
    assert program.up() == {"same": 4, "update": 1}
    assert program.refresh() == {"same": 5}
    # The update and the refresh wrote the outputs without `__inputs`.
    assert not any("__inputs" in r["outputs"] for r in _kubernetes_resources(json.loads(program.export())))
    assert program.up() == {"same": 5}
