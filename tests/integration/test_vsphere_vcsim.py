"""Supervisor namespaces and VM classes through the real Pulumi engine against vcsim.

One fresh vcsim per module (TLS with its self-signed certificate, so `insecure`), whose
hosts advertise two vGPU profiles (our vcsim launcher's -vgpu-profiles sets
`config.sharedPassthruGpuTypes` on every host; a stock vcsim host advertises none), plus a
content library created over REST as an administrator would. The program
(programs/vsphere) declares SupervisorNamespace + a CPU VmClass + a vGPU VmClass.

What vcsim does not do, and so is not proven here: it drops a namespace's description,
storage specs, quotas and access list (the provider records them in `ignored_by_server`
and refresh keeps the declared values), and it never leaves a namespace CONFIGURING.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pyVim import connect
from pyVmomi import vim

from components.vsphere.client import Endpoint, VcenterClient, VcenterError
from components.vsphere.inventory import UnknownName, content_library_ids, soap_inventory
from components.vsphere.namespace_provider import INSTANCES, SupervisorNamespaceProvider
from components.vsphere.vm_class_provider import CLASSES, VgpuProfileUnavailable, VmClassProvider
from tests.integration.engine import PulumiProgram
from tests.integration.vcsim import Vcsim, free_port

pytestmark = pytest.mark.integration

PROGRAM = Path(__file__).parent / "programs" / "vsphere"
PROFILES = ("grid_a100-40c", "grid_a100-20c")
LIBRARY = "dlvm-images"
NAMESPACE_TYPE = "pulumi-python:dynamic/vsphere:SupervisorNamespace"
CLASS_TYPE = "pulumi-python:dynamic/vsphere:VmClass"
# Stack, 3 components, namespace, 2 classes.
RESOURCES = 7
pyvim: Any = connect


@pytest.fixture(scope="module")
def sim() -> Iterator[Vcsim]:
    with Vcsim.start(vgpu_profiles=PROFILES) as simulator:
        create_content_library(simulator, LIBRARY)
        yield simulator


def endpoint(sim: Vcsim, **overrides: Any) -> Endpoint:
    settings: dict[str, Any] = {
        "host": sim.host,
        "username": sim.username,
        "password": sim.password,
        "protocol": sim.protocol,
        "insecure": True,
    }
    settings.update(overrides)
    return Endpoint(**settings)


def vcenter(sim: Vcsim) -> VcenterClient:
    return VcenterClient(endpoint(sim))


def create_content_library(sim: Vcsim, name: str) -> str:
    si = pyvim.SmartConnect(
        host="127.0.0.1", port=sim.port, user=sim.username, pwd=sim.password, disableSslCertValidation=True
    )
    try:
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.Datastore], True)
        datastore = view.view[0]._moId
        view.Destroy()
    finally:
        pyvim.Disconnect(si)
    spec = {
        "name": name,
        "type": "LOCAL",
        "storage_backings": [{"type": "DATASTORE", "datastore_id": datastore}],
    }
    with vcenter(sim) as client:
        return str(client.post("/rest/com/vmware/content/local-library", {"create_spec": spec})["value"])


def program(sim: Vcsim, workdir: Path, **config: str) -> PulumiProgram:
    stack = PulumiProgram(PROGRAM, workdir)
    settings = {
        "host": sim.host,
        "username": sim.username,
        "protocol": sim.protocol,
        "insecure": "true",
        **config,
    }
    for key, value in settings.items():
        stack.set_config(key, value)
    stack.set_config("password", sim.password, secret=True)
    return stack


def run_json(stack: PulumiProgram, *args: str) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Run an engine command with --json: its change summary and its steps, each with the op,
    the resource name and the outputs that differ between the old and the new state
    (dynamic providers report no per-property diff to the engine)."""
    result = stack.run(*args, "--yes", "--skip-preview", "--json")
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    summaries = [e["summaryEvent"]["resourceChanges"] for e in events if "summaryEvent" in e]
    steps = []
    for event in events:
        if "resOutputsEvent" not in event:
            continue
        meta = event["resOutputsEvent"]["metadata"]
        old, new = (meta.get("old") or {}).get("outputs") or {}, (meta.get("new") or {}).get("outputs") or {}
        keys = (
            sorted(k for k in {*old, *new} if k != "__provider" and old.get(k) != new.get(k))
            if old and new
            else []
        )
        steps.append({"op": meta["op"], "name": meta["urn"].rsplit("::", 1)[1], "diffs": keys})
    assert summaries, f"pulumi {args[0]} --json produced no summary"
    return summaries[-1], steps


def changed(steps: list[dict[str, Any]]) -> list[tuple[str, str, list[str]]]:
    """(op, name, diffs) of every step that was not `same`."""
    return sorted((s["op"], s["name"], sorted(s["diffs"])) for s in steps if s["op"] != "same")


def library_id(sim: Vcsim) -> str:
    with vcenter(sim) as client:
        return content_library_ids(client, [LIBRARY])[LIBRARY]


def namespace_in(sim: Vcsim, name: str = "paif-it") -> dict[str, Any] | None:
    with vcenter(sim) as client:
        body = client.find(f"{INSTANCES}/{name}")
    return body if isinstance(body, dict) else None


def classes_in(sim: Vcsim) -> dict[str, dict[str, Any]]:
    with vcenter(sim) as client:
        return {c["id"]: c for c in client.get(CLASSES) or []}


def resources(stack: PulumiProgram) -> dict[str, dict[str, Any]]:
    state = json.loads(stack.export())
    return {
        r["urn"].rsplit("::", 1)[1]: r
        for r in state["deployment"]["resources"]
        if "dynamic/vsphere" in r["type"]
    }


def test_preview_contacts_nothing(tmp_path: Path) -> None:
    stack = PulumiProgram(PROGRAM, tmp_path)
    for key, value in {"host": f"127.0.0.1:{free_port()}", "username": "nobody", "insecure": "true"}.items():
        stack.set_config(key, value)
    stack.set_config("password", "unused-pw", secret=True)
    assert stack.preview() == {"create": RESOURCES}


def test_lifecycle_update_drift_out_of_band_delete_and_destroy(sim: Vcsim, tmp_path: Path) -> None:
    stack = program(sim, tmp_path, contentLibraries=json.dumps([LIBRARY]))
    summary, _ = run_json(stack, "up")
    assert summary == {"create": RESOURCES}

    # What vCenter now holds is what was declared.
    namespace = namespace_in(sim)
    assert namespace is not None
    with soap_inventory(endpoint(sim)) as inventory:
        assert namespace["cluster"] == inventory.cluster_id("DC0_C0")
    assert sorted(namespace["vm_service_spec"]["vm_classes"]) == ["paif-cpu-small", "paif-gpu"]
    assert namespace["vm_service_spec"]["content_libraries"] == [library_id(sim)]
    classes = classes_in(sim)
    assert (classes["paif-cpu-small"]["cpu_count"], classes["paif-cpu-small"]["memory_mb"]) == (2, 4096)
    gpu = classes["paif-gpu"]
    assert (gpu["cpu_count"], gpu["memory_mb"], gpu["memory_reservation"]) == (8, 65536, 100)
    assert gpu["devices"]["vgpu_devices"] == [{"profile_name": "grid_a100-40c"}]

    # State: the password only encrypted; vcsim's dropped fields recorded, not hidden.
    assert sim.password not in stack.export()
    state = resources(stack)
    assert state["paif-it"]["outputs"]["ignored_by_server"] == [
        "description",
        "storage_specs",
        "resource_spec",
        "access_list",
    ]
    assert state["paif-gpu"]["outputs"]["ignored_by_server"] == []
    assert "password" in state["paif-it"]["additionalSecretOutputs"]

    # Nothing to do the second time: the fields vcsim drops do not show as a diff.
    assert run_json(stack, "up")[0] == {"same": RESOURCES}
    assert run_json(stack, "refresh")[0] == {"same": RESOURCES}

    # A changed size is an in-place update of that class only.
    stack.set_config("cpuCount", "4")
    summary, steps = run_json(stack, "up")
    assert summary == {"same": RESOURCES - 1, "update": 1}
    assert changed(steps) == [("update", "paif-cpu-small", ["cpu_count"])]
    assert classes_in(sim)["paif-cpu-small"]["cpu_count"] == 4

    # Out of band: the GPU class deleted, and the CPU class unbound from the namespace.
    with vcenter(sim) as client:
        assert client.delete(f"{CLASSES}/paif-gpu")
        unbound = {"vm_classes": ["paif-gpu"], "content_libraries": [library_id(sim)]}
        client.patch(f"{INSTANCES}/paif-it", {"vm_service_spec": unbound})
    summary, steps = run_json(stack, "refresh")
    assert summary == {"same": RESOURCES - 2, "delete": 1, "update": 1}
    assert changed(steps) == [("delete", "paif-gpu", []), ("update", "paif-it", ["vm_classes"])]
    assert resources(stack)["paif-it"]["outputs"]["vm_classes"] == ["paif-gpu"]

    # The next up puts both back: the class is created again, the binding restored.
    summary, steps = run_json(stack, "up")
    assert summary == {"same": RESOURCES - 2, "create": 1, "update": 1}
    assert changed(steps) == [("create", "paif-gpu", []), ("update", "paif-it", ["vm_classes"])]
    assert classes_in(sim)["paif-gpu"]["devices"]["vgpu_devices"] == [{"profile_name": "grid_a100-40c"}]
    namespace = namespace_in(sim)
    assert namespace is not None
    assert sorted(namespace["vm_service_spec"]["vm_classes"]) == ["paif-cpu-small", "paif-gpu"]

    assert stack.destroy() == {"delete": RESOURCES}
    assert namespace_in(sim) is None
    assert classes_in(sim) == {}


def test_a_vgpu_profile_no_host_offers_is_refused_with_the_available_ones(sim: Vcsim, tmp_path: Path) -> None:
    stack = program(sim, tmp_path, gpuProfile="nvidia_h100xm-80c", namespace="paif-it-refused")
    result = stack.run("up", "--yes", "--skip-preview", check=False)
    assert result.returncode != 0
    message = result.stdout
    assert (
        "vGPU profile 'nvidia_h100xm-80c' is not advertised by any host in cluster 'DC0_C0' (3 hosts)"
        in message
    )
    assert "available profiles: grid_a100-20c, grid_a100-40c" in message
    assert "paif-gpu" not in classes_in(sim), "nothing was sent to vCenter for the refused class"
    assert namespace_in(sim, "paif-it-refused") is None, "the namespace depends on the class"
    stack.destroy()
    assert classes_in(sim) == {}


def test_hosts_without_vgpu_profiles_are_named_as_such() -> None:
    with Vcsim.start() as bare:
        with soap_inventory(endpoint(bare)) as inventory:
            assert inventory.vgpu_profiles("DC0_C0") == {f"DC0_C0_H{i}": [] for i in range(3)}
        props = class_props(bare, class_id="gpu", vgpu_profiles=["grid_a100-40c"], memory_reservation=100)
        with pytest.raises(
            VgpuProfileUnavailable, match=r"available profiles: none \(is the NVIDIA vGPU host driver"
        ):
            VmClassProvider().create(props)


# -- the providers in-process, against the same vcsim ---------------------------------------
def connection_props(sim: Vcsim) -> dict[str, Any]:
    return {
        "host": sim.host,
        "username": sim.username,
        "password": sim.password,
        "protocol": sim.protocol,
        "insecure": True,
        "ca_bundle": None,
        "timeout": 10.0,
        "attempts": 3,
    }


def namespace_props(sim: Vcsim, **overrides: Any) -> dict[str, Any]:
    props = {
        **connection_props(sim),
        "namespace": "paif-inproc",
        "cluster": "DC0_C0",
        "description": "in-process",
        "storage_specs": [{"policy": "vSAN Default Storage Policy", "limit_mib": 2048}],
        "resource_spec": {"memory_limit": 4096},
        "access_list": [],
        "vm_classes": [],
        "content_libraries": [],
    }
    props.update(overrides)
    return SupervisorNamespaceProvider().check({}, props).inputs


def class_props(sim: Vcsim, **overrides: Any) -> dict[str, Any]:
    props = {
        **connection_props(sim),
        "class_id": "paif-inproc",
        "cpu_count": 2,
        "memory_mib": 2048,
        "cpu_reservation": 0,
        "memory_reservation": 0,
        "vgpu_profiles": [],
        "api": "devices",
        "cluster": "DC0_C0",
        "description": "",
    }
    props.update(overrides)
    return VmClassProvider().check({}, props).inputs


@pytest.fixture
def recorded_clients(monkeypatch: pytest.MonkeyPatch) -> list[VcenterClient]:
    """Every REST client the providers open, to count their requests."""
    import components.vsphere.provider as provider_module

    opened: list[VcenterClient] = []
    original: Callable[[Any], VcenterClient] = provider_module.open_client

    def recording(props: Any) -> VcenterClient:
        client = original(props)
        opened.append(client)
        return client

    # Every session of the vSphere family is opened by `open_client` in the family module.
    monkeypatch.setattr(provider_module, "open_client", recording)
    return opened


def test_rest_calls_per_create_are_minimal(sim: Vcsim, recorded_clients: list[VcenterClient]) -> None:
    login = ["POST /api/session 404", "POST /rest/com/vmware/cis/session 200"]
    logout = ["DELETE /rest/com/vmware/cis/session 200"]

    props = namespace_props(sim, content_libraries=[LIBRARY])
    result = SupervisorNamespaceProvider().create(props)
    assert result.outs is not None
    assert recorded_clients[-1].calls == [
        *login,
        "POST /rest/com/vmware/content/library 200",
        f"POST {INSTANCES} 200",
        f"GET {INSTANCES}/paif-inproc 200",
        *logout,
    ]
    SupervisorNamespaceProvider().delete(result.id, result.outs)
    assert recorded_clients[-1].calls == [
        *login,
        f"DELETE {INSTANCES}/paif-inproc 200",
        f"GET {INSTANCES}/paif-inproc 404",
        *logout,
    ]

    for profiles, reservation in (([], 0), (["grid_a100-40c"], 100)):
        props = class_props(sim, vgpu_profiles=profiles, memory_reservation=reservation)
        result = VmClassProvider().create(props)
        assert result.outs is not None
        assert recorded_clients[-1].calls == [
            *login,
            f"POST {CLASSES} 200",
            f"GET {CLASSES}/paif-inproc 200",
            *logout,
        ]
        VmClassProvider().delete(result.id, result.outs)
    print(
        "\nREST calls per create on vcsim (login 2 incl. the /api/session probe, logout 1): "
        "namespace 5 + 1 per content library, VM class 5; on a vCenter with /api/session one less. "
        "SOAP sessions: 1 per namespace create (cluster + storage policies), 1 per vGPU class create."
    )


def test_unknown_names_fail_before_anything_is_written(
    sim: Vcsim, recorded_clients: list[VcenterClient]
) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"cluster": "wld01-cl01"},
            "cluster 'wld01-cl01' not found in vCenter .*; available clusters: 'DC0_C0'",
        ),
        (
            {"storage_specs": [{"policy": "gold", "limit_mib": 1024}]},
            "storage policy 'gold' not found .*; available storage policies: 'Host-local PMem Default Storage Policy', "
            "'VM Encryption Policy', 'VVol No Requirements Policy', 'vSAN Default Storage Policy'",
        ),
        (
            {"content_libraries": ["ova-images"]},
            f"content library 'ova-images' not found .*; available content libraries: '{LIBRARY}'",
        ),
    ]
    for overrides, message in cases:
        with pytest.raises(UnknownName, match=message):
            SupervisorNamespaceProvider().create(namespace_props(sim, **overrides))
    calls = [c for client in recorded_clients for c in client.calls]
    assert not [c for c in calls if INSTANCES in c], "no namespace was created, patched or deleted"
    # Cluster and storage policy are looked up over SOAP before the REST session is even opened.
    assert calls == [
        "POST /api/session 404",
        "POST /rest/com/vmware/cis/session 200",
        "POST /rest/com/vmware/content/library 200",
        "GET /rest/com/vmware/content/library 200",
        f"GET /rest/com/vmware/content/library/id:{library_id(sim)} 200",
        "DELETE /rest/com/vmware/cis/session 200",
    ]
    assert namespace_in(sim, "paif-inproc") is None


def test_config_spec_api_describes_the_vgpu_as_a_vmiop_passthrough_device(sim: Vcsim) -> None:
    props = class_props(
        sim,
        class_id="paif-cfgspec",
        api="config-spec",
        vgpu_profiles=["grid_a100-20c"],
        memory_reservation=100,
    )
    provider = VmClassProvider()
    result = provider.create(props)
    assert result.outs is not None
    try:
        body = classes_in(sim)["paif-cfgspec"]
        device = body["config_spec"]["deviceChange"][0]["device"]
        assert device["_typeName"] == "VirtualPCIPassthrough"
        assert device["backing"] == {
            "_typeName": "VirtualPCIPassthroughVmiopBackingInfo",
            "vgpu": "grid_a100-20c",
        }
        assert (body["config_spec"]["numCPUs"], body["config_spec"]["memoryMB"]) == (
            body["cpu_count"],
            body["memory_mb"],
        )
        assert body["config_spec"]["memoryReservationLockedToMax"] is True
        assert "devices" not in body or not body["devices"].get("vgpu_devices")
        # This vcsim (govmomi 0.53) echoes config_spec, so the profile is tracked for drift.
        assert "vgpu_profiles" not in result.outs["ignored_by_server"]
        refreshed = provider.read(result.id, result.outs).outs
        assert refreshed is not None and refreshed["vgpu_profiles"] == ["grid_a100-20c"]
    finally:
        provider.delete(result.id, result.outs)


def test_tls_is_verified_by_default_against_the_simulator(sim: Vcsim) -> None:
    props = {**class_props(sim), "insecure": False}
    with pytest.raises(VcenterError, match=r"TLS verification of vCenter at .* failed"):
        VmClassProvider().create(props)
    with pytest.raises(VcenterError, match="TLS verification"), soap_inventory(endpoint(sim, insecure=False)):
        pass


def test_a_wrong_password_is_refused_without_retries(sim: Vcsim) -> None:
    started = time.monotonic()
    with pytest.raises(VcenterError, match=f"refused the login of user '{sim.username}'") as refused:
        VmClassProvider().create({**class_props(sim), "password": "wrong-pw-1234"})
    assert "wrong-pw-1234" not in str(refused.value)
    assert time.monotonic() - started < 5


def test_namespace_updates_send_only_what_changed(
    sim: Vcsim, recorded_clients: list[VcenterClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    import components.vsphere.namespace_provider as namespace_module

    soap_sessions: list[str] = []
    original = soap_inventory

    def counting(endpoint: Endpoint) -> Any:
        soap_sessions.append(endpoint.host)
        return original(endpoint)

    monkeypatch.setattr(namespace_module, "soap_inventory", counting)
    provider = SupervisorNamespaceProvider()
    props = namespace_props(sim, namespace="paif-update", vm_classes=["paif-cpu-small"])
    created = provider.create(props)
    assert created.outs is not None and len(soap_sessions) == 1
    try:
        # A description-only change: no look-ups, one PATCH that still carries the bound
        # classes (vcsim would otherwise clear them), one read-back.
        changed_props = {**props, "description": "changed"}
        updated = provider.update("paif-update", created.outs, changed_props).outs
        assert updated is not None
        assert recorded_clients[-1].calls[2:-1] == [
            f"PATCH {INSTANCES}/paif-update 200",
            f"GET {INSTANCES}/paif-update 200",
        ]
        assert len(soap_sessions) == 1
        namespace = namespace_in(sim, "paif-update")
        assert namespace is not None and namespace["vm_service_spec"]["vm_classes"] == ["paif-cpu-small"]

        # New content libraries and storage policies are resolved before the PATCH.
        more = {
            **changed_props,
            "content_libraries": [LIBRARY],
            "storage_specs": [{"policy": "VM Encryption Policy", "limit_mib": 4096}],
        }
        updated = provider.update("paif-update", updated, more).outs
        assert updated is not None and len(soap_sessions) == 2
        assert updated["content_library_ids"] == {LIBRARY: library_id(sim)}
        assert list(updated["storage_policy_ids"]) == ["VM Encryption Policy"]
        namespace = namespace_in(sim, "paif-update")
        assert namespace is not None and namespace["vm_service_spec"]["content_libraries"] == [
            library_id(sim)
        ]
    finally:
        provider.delete("paif-update", created.outs)
