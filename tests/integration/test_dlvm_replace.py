"""The DLVM's preview and `up` agree (issue 13), in the real engine against a real kube-apiserver.

A change to the user data replaces the VirtualMachine: the preview says so, and `up` does it
(a new object, new uid). No change: the preview shows none and `up` keeps the VM. Both run
with `--json`, as the gate and CI's automation run them: with the user data itself as a
(secret) replacement trigger the pinned engine panicked in exactly these runs ("attempt to
encrypt value"), so such an `up` never replaced the VM. Nothing secret reaches the state in
plaintext, and the trigger kept there is the keyed digest.

The API server runs etcd, kube-apiserver and kube-controller-manager (pulumi-kubernetes
deletes in the foreground, which only the garbage collector completes) with our
VirtualMachine CRD stand-in (localenv/crds/); no VM Operator runs, so the VM is not awaited.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from localenv import processes
from localenv.layout import Layout
from tests.integration.apiserver import start_apiserver
from tests.integration.engine import ROOT, PulumiProgram

pytestmark = pytest.mark.integration

PROGRAM = Path(__file__).parent / "programs" / "dlvm"
CRD = ROOT / "localenv" / "crds" / "virtualmachines.vmoperator.vmware.com.yaml"
VM_PATH = "/apis/vmoperator.vmware.com/v1alpha3/namespaces/dlvm/virtualmachines/chat-dlvm"
VM_URN_SUFFIX = "VirtualMachine::dlvm-vm"
DB_PASSWORD = "db-pw-3f9a1c77e2"


@dataclass
class Cluster:
    url: str
    client: httpx.Client
    kubeconfig: str


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    layout = Layout(tmp_path_factory.mktemp("dlvm-apiserver") / "home")
    layout.prepare()
    try:
        server = start_apiserver(layout, controller_manager=True)
        with contextlib.closing(server.client) as client:
            created = client.post(
                f"{server.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                json=yaml.safe_load(CRD.read_text()),
            )
            assert created.status_code == 201, created.text
            deadline = time.monotonic() + 60
            while client.get(f"{server.url}/apis/vmoperator.vmware.com/v1alpha3").status_code != 200:
                assert time.monotonic() < deadline, "the VirtualMachine CRD was not served after 60 s"
                time.sleep(0.2)
            yield Cluster(server.url, client, server.kubeconfig)
    finally:
        processes.sweep(layout.home)


@pytest.fixture(scope="module")
def program(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> PulumiProgram:
    program = PulumiProgram(PROGRAM, tmp_path_factory.mktemp("dlvm-program"))
    program.set_config("kubeconfig", cluster.kubeconfig, secret=True)
    program.set_config("dbPassword", DB_PASSWORD, secret=True)
    return program


def vm_uid(cluster: Cluster) -> str:
    response = cluster.client.get(f"{cluster.url}{VM_PATH}")
    assert response.status_code == 200, response.text
    uid: str = response.json()["metadata"]["uid"]
    return uid


def preview_steps(program: PulumiProgram) -> dict[str, str]:
    """Resource name -> op of a `pulumi preview --json` (the gate's way of previewing); the
    steps list leaves out unchanged resources."""
    result = program.run("preview", "--json")
    steps = json.loads(result.stdout)["steps"]
    return {s["urn"].rsplit("::", 1)[-1]: s["op"] for s in steps}


def state_resources(program: PulumiProgram) -> list[dict[str, Any]]:
    resources: list[dict[str, Any]] = json.loads(program.export())["deployment"]["resources"]
    return resources


def test_preview_and_up_agree_on_every_change(program: PulumiProgram, cluster: Cluster) -> None:
    created = program.up()
    assert created.get("create", 0) >= 6, created
    first = vm_uid(cluster)

    # Nothing changed: the preview shows no replacement, `up` keeps the VM.
    steps = preview_steps(program)
    assert steps.get("dlvm-vm", "same") == "same", steps
    assert program.up().get("replace", 0) == 0
    assert vm_uid(cluster) == first

    # A setting in the user data: the preview announces the replacement and `up` does it.
    program.set_config("logLevel", "debug")
    steps = preview_steps(program)
    assert steps["dlvm-vm"] == "replace", steps
    assert steps["dlvm-cloud-init"] == "replace", steps
    changes = program.up()
    assert changes.get("replace") == 2, changes
    second = vm_uid(cluster)
    assert second != first

    # A secret setting changes the user data too: replaced again, the value never in state.
    program.set_config("dbPassword", "db-pw-second-8c1d", secret=True)
    assert preview_steps(program)["dlvm-vm"] == "replace"
    assert program.up().get("replace") == 2
    assert vm_uid(cluster) != second

    # And after that, nothing: preview and up both leave it alone.
    assert preview_steps(program).get("dlvm-vm", "same") == "same"
    assert program.up().get("replace", 0) == 0
    print("timings:", [(cmd, round(seconds, 1)) for cmd, seconds in program.timings])


def test_state_holds_the_digest_and_no_plaintext_secret(program: PulumiProgram) -> None:
    exported = program.export()
    for secret in (DB_PASSWORD, "db-pw-second-8c1d", "BEGIN PRIVATE KEY"):
        assert secret not in exported
    [vm] = [r for r in state_resources(program) if r["urn"].endswith(VM_URN_SUFFIX)]
    trigger = vm["replacementTrigger"]
    assert isinstance(trigger, str) and trigger.startswith("hmac-sha256:"), trigger
    [bootstrap] = [r for r in state_resources(program) if r["urn"].endswith("Secret::dlvm-cloud-init")]
    assert "ciphertext" in json.dumps(bootstrap["inputs"]) and "ciphertext" in json.dumps(bootstrap["outputs"])
    # The secret part of the user data is only ever ciphertext; the secret-free part is the
    # component's public `cloudConfig` output, by design.
    assert "merge_how" not in exported
    assert "#cloud-config" in exported
