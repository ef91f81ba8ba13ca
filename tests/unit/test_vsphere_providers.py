"""The SupervisorNamespace and VmClass providers without a vCenter: check, diff, and how
read turns what vCenter reports into state (fields it does not echo, drift, gone objects).
vCenter is an httpx.MockTransport answering the object's GET."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pulumi.runtime import rpc

import components.vsphere.namespace_provider as namespace_module
import components.vsphere.provider as provider_module
import components.vsphere.vm_class_provider as class_module
from components.dynamic.provider import OWNERSHIP_KEY, NotOwned
from components.vsphere.client import Endpoint, VcenterClient, VcenterError
from components.vsphere.namespace_provider import INSTANCES, SupervisorNamespaceProvider
from components.vsphere.provider import marked, unmarked
from components.vsphere.vm_class_provider import CLASSES, VmClassProvider, config_spec

CONNECTION = {
    "host": "vc.test",
    "username": "admin",
    "password": "vc-pw-3391",
    "protocol": "https",
    "insecure": False,
    "ca_bundle": None,
    "timeout": 5.0,
    "attempts": 2,
}


def namespace(**overrides: Any) -> dict[str, Any]:
    props = {
        **CONNECTION,
        "namespace": "paif-chat",
        "cluster": "wld01-cl01",
        "description": "chat",
        "storage_specs": [{"policy": "vSAN Default Storage Policy", "limit_mib": 10240}],
        "resource_spec": {"cpu_limit": 10000, "memory_limit": 65536},
        "access_list": [
            {"subject": "devs", "domain": "vsphere.local", "subject_type": "group", "role": "edit"}
        ],
        "vm_classes": ["paif-gpu", "paif-cpu"],
        "content_libraries": ["dlvm-images"],
    }
    props.update(overrides)
    return SupervisorNamespaceProvider().check({}, props).inputs


def namespace_state(**overrides: Any) -> dict[str, Any]:
    """Outputs of a namespace created on a vCenter that echoed everything but the description."""
    return {
        **namespace(),
        "cluster_id": "domain-c8",
        "storage_policy_ids": {"vSAN Default Storage Policy": "policy-1"},
        "content_library_ids": {"dlvm-images": "lib-1"},
        "config_status": "RUNNING",
        "ignored_by_server": ["description"],
        **overrides,
    }


def vm_class(**overrides: Any) -> dict[str, Any]:
    props = {
        **CONNECTION,
        "class_id": "paif-gpu",
        "cpu_count": 8,
        "memory_mib": 65536,
        "cpu_reservation": 0,
        "memory_reservation": 100,
        "vgpu_profiles": ["grid_a100-40c"],
        "api": "devices",
        "cluster": "wld01-cl01",
        "description": "",
    }
    props.update(overrides)
    return VmClassProvider().check({}, props).inputs


def failures(result: Any) -> dict[str, str]:
    return {f.property: f.reason for f in result.failures}


@pytest.fixture
def vcenter_answers(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, httpx.Response], None]:
    """Make the providers' REST client talk to a MockTransport; returns `answer(path, response)`."""
    answers: dict[str, httpx.Response] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/session":
            return httpx.Response(201, json="token")
        return answers.get(
            request.url.path, httpx.Response(404, json={"error_type": "NOT_FOUND", "messages": []})
        )

    def client(props: Any) -> VcenterClient:
        return VcenterClient(
            Endpoint(host="vc.test", username="admin", password="x"), transport=httpx.MockTransport(handler)
        )

    # Every session of the vSphere family is opened by `open_client` in the family module.
    monkeypatch.setattr(provider_module, "open_client", client)
    return answers.__setitem__


@pytest.fixture
def no_vcenter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach vCenter (REST or SOAP) fails the test."""

    def forbidden(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("vCenter was contacted")

    monkeypatch.setattr(provider_module, "open_client", forbidden)
    for module in (namespace_module, class_module):
        monkeypatch.setattr(module, "soap_inventory", forbidden)


# -- check --------------------------------------------------------------------------------------
def test_namespace_check_normalizes_lists(no_vcenter: None) -> None:
    props = namespace()
    assert props["vm_classes"] == ["paif-cpu", "paif-gpu"]
    assert props["access_list"] == [
        {"subject_type": "GROUP", "subject": "devs", "domain": "vsphere.local", "role": "EDIT"}
    ]


def test_namespace_check_reports_each_bad_value(no_vcenter: None) -> None:
    result = SupervisorNamespaceProvider().check(
        {},
        {
            **CONNECTION,
            "namespace": "PAIF_Chat",
            "cluster": "",
            "storage_specs": [{"policy": "gold", "limit_mib": -1}],
            "resource_spec": {"cpu_limit": "lots"},
            "access_list": [
                {"subject": "devs", "domain": "vsphere.local", "subject_type": "ROBOT", "role": "EDIT"}
            ],
        },
    )
    problems = failures(result)
    assert problems["namespace"] == (
        "given 'PAIF_Chat'; must be a DNS label: lower-case letters, digits and '-', 1-63 characters"
    )
    assert problems["cluster"] == "must name the vSphere cluster that runs the Supervisor"
    assert "limit_mib >= 0" in problems["storage_specs"]
    assert problems["resource_spec"] == "given {'cpu_limit': 'lots'}; quotas must be numbers >= 0"
    assert "subject_type USER/GROUP" in problems["access_list"]


def test_values_unknown_in_a_preview_pass_check(no_vcenter: None) -> None:
    props = namespace(namespace=rpc.UNKNOWN, vm_classes=[rpc.UNKNOWN, "paif-cpu"])
    assert SupervisorNamespaceProvider().check({}, props).failures == []
    assert VmClassProvider().check({}, vm_class(class_id=rpc.UNKNOWN, cpu_count=rpc.UNKNOWN)).failures == []


@pytest.mark.parametrize(
    ("overrides", "key", "reason"),
    [
        ({"cpu_count": 0}, "cpu_count", "given 0; must be a whole number of vCPUs from 1 to 768"),
        ({"cpu_count": 2.5}, "cpu_count", "given 2.5; must be a whole number of vCPUs from 1 to 768"),
        ({"memory_mib": 0}, "memory_mib", "given 0; must be a whole number of MiB >= 1"),
        ({"cpu_reservation": 150}, "cpu_reservation", "given 150; must be a percentage from 0 to 100"),
        ({"class_id": "GPU Class"}, "class_id", "given 'GPU Class'; must be a DNS label"),
        ({"api": "vmx"}, "api", "given 'vmx'; must be one of devices, config-spec"),
        (
            {"vgpu_profiles": ["A100-40GB"]},
            "vgpu_profiles",
            "given 'A100-40GB'; must be an NVIDIA vGPU profile name",
        ),
        (
            {"memory_reservation": 50},
            "memory_reservation",
            "given 50; a vGPU class needs a full memory reservation (100)",
        ),
    ],
)
def test_vm_class_check_reports_bad_values(
    overrides: dict[str, Any], key: str, reason: str, no_vcenter: None
) -> None:
    problems = failures(VmClassProvider().check({}, {**vm_class(), **overrides}))
    assert list(problems) == [key]
    assert problems[key].startswith(reason)


def test_a_cpu_class_needs_no_reservation(no_vcenter: None) -> None:
    assert VmClassProvider().check({}, vm_class(vgpu_profiles=[], memory_reservation=0)).failures == []


# -- diff ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "replaces"),
    [
        ({"namespace": "paif-chat-2"}, ["namespace"]),
        ({"cluster": "wld02-cl01"}, ["cluster"]),
        ({"description": "new"}, []),
        ({"vm_classes": ["paif-cpu"]}, []),
        ({"resource_spec": {"cpu_limit": 1}}, []),
        ({"password": "rotated"}, []),
        ({"vm_classes": rpc.UNKNOWN}, []),
    ],
)
def test_namespace_diff(change: dict[str, Any], replaces: list[str], no_vcenter: None) -> None:
    result = SupervisorNamespaceProvider().diff("paif-chat", namespace_state(), {**namespace(), **change})
    assert (result.changes, result.replaces, result.delete_before_replace) == (True, replaces, True)


@pytest.mark.parametrize(
    ("change", "replaces"),
    [({"class_id": "paif-gpu-2"}, ["class_id"]), ({"api": "config-spec"}, ["api"]), ({"cpu_count": 16}, [])],
)
def test_vm_class_diff(change: dict[str, Any], replaces: list[str], no_vcenter: None) -> None:
    result = VmClassProvider().diff("paif-gpu", vm_class(), {**vm_class(), **change})
    assert (result.changes, result.replaces) == (True, replaces)


def test_no_change_is_no_diff(no_vcenter: None) -> None:
    assert not SupervisorNamespaceProvider().diff("paif-chat", namespace_state(), namespace()).changes
    assert not VmClassProvider().diff("paif-gpu", {**vm_class(), "ignored_by_server": []}, vm_class()).changes


def test_a_connection_only_update_sends_nothing(no_vcenter: None) -> None:
    olds = namespace_state()
    result = SupervisorNamespaceProvider().update("paif-chat", olds, {**namespace(), "timeout": 60.0})
    assert result.outs is not None
    assert result.outs["timeout"] == 60.0 and result.outs["cluster_id"] == "domain-c8"
    assert result.outs["ignored_by_server"] == ["description"]


# -- read ---------------------------------------------------------------------------------------
def namespace_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "cluster": "domain-c8",
        "config_status": "RUNNING",
        "description": "",
        "vm_service_spec": {"vm_classes": ["paif-cpu", "paif-gpu"], "content_libraries": ["lib-1"]},
        "storage_specs": [{"policy": "policy-1", "limit": 10240}],
        "resource_spec": {"cpu_limit": 10000, "memory_limit": 65536, "pod_count": None},
        "access_list": [
            {"subject": "devs", "domain": "vsphere.local", "subject_type": "GROUP", "role": "EDIT"}
        ],
    }
    body.update(overrides)
    return body


def read_namespace(
    answer: Callable[[str, httpx.Response], None], body: dict[str, Any], **state: Any
) -> dict[str, Any]:
    answer(f"{INSTANCES}/paif-chat", httpx.Response(200, json=body))
    result = SupervisorNamespaceProvider().read("paif-chat", namespace_state(**state))
    assert result.id == "paif-chat" and result.outs is not None
    return result.outs


def test_read_without_drift_reproduces_the_state(
    vcenter_answers: Callable[[str, httpx.Response], None],
) -> None:
    # The description is not echoed (listed in ignored_by_server): the declared one stays.
    assert read_namespace(vcenter_answers, namespace_body()) == namespace_state()


def test_read_reports_drift_in_what_vcenter_returns(
    vcenter_answers: Callable[[str, httpx.Response], None],
) -> None:
    body = namespace_body(
        vm_service_spec={"vm_classes": ["paif-cpu"], "content_libraries": ["lib-9"]},
        storage_specs=[{"policy": "policy-1", "limit": 512}],
        resource_spec={"cpu_limit": 1, "memory_limit": 65536},
        access_list=[],
    )
    outs = read_namespace(vcenter_answers, body)
    assert outs["vm_classes"] == ["paif-cpu"]
    assert outs["content_libraries"] == ["lib-9"], "an unknown library shows as its id"
    assert outs["storage_specs"] == [{"policy": "vSAN Default Storage Policy", "limit_mib": 512}]
    assert outs["resource_spec"] == {"cpu_limit": 1, "memory_limit": 65536}
    assert outs["access_list"] == []
    assert outs["description"] == "chat"


def test_read_keeps_declared_values_for_fields_the_server_leaves_out(
    vcenter_answers: Callable[[str, httpx.Response], None],
) -> None:
    # vcsim's answer: no storage specs, quotas or access list; never-set lists are null.
    body = {
        "cluster": "domain-c8",
        "config_status": "RUNNING",
        "description": "",
        "vm_service_spec": {"vm_classes": None},
    }
    state: dict[str, Any] = {"content_libraries": [], "content_library_ids": {}}
    ignored = ["description", "storage_specs", "resource_spec", "access_list"]
    outs = read_namespace(vcenter_answers, body, ignored_by_server=ignored, **state)
    assert outs["vm_classes"] == [], "null is an empty list, and real drift"
    assert outs == {**namespace_state(ignored_by_server=ignored, **state), "vm_classes": []}


def test_the_ignored_fields_are_those_not_reported_back_as_written() -> None:
    provider = SupervisorNamespaceProvider()
    written = namespace_state()
    vcsim_answer = {
        "cluster": "domain-c8",
        "description": "",
        "vm_service_spec": {"vm_classes": ["paif-cpu", "paif-gpu"], "content_libraries": ["lib-1"]},
    }
    assert provider.ignored(vcsim_answer, written) == [
        "description",
        "storage_specs",
        "resource_spec",
        "access_list",
    ]
    assert provider.ignored({**namespace_body(), "description": "chat"}, written) == []


def test_a_namespace_deleted_out_of_band_is_reported_gone(
    vcenter_answers: Callable[[str, httpx.Response], None],
) -> None:
    result = SupervisorNamespaceProvider().read("paif-chat", namespace_state())
    assert (result.id, result.outs) == ("", {})


def test_a_moved_cluster_shows_as_its_id(vcenter_answers: Callable[[str, httpx.Response], None]) -> None:
    assert read_namespace(vcenter_answers, namespace_body(cluster="domain-c99"))["cluster"] == "domain-c99"


@pytest.mark.parametrize("memory_key", ["memory_mb", "memory_MB"])
def test_vm_class_read_accepts_both_memory_spellings_and_absent_reservations(
    memory_key: str, vcenter_answers: Callable[[str, httpx.Response], None]
) -> None:
    body = {"id": "paif-cpu", "cpu_count": 4, memory_key: 8192, "description": "", "devices": {}}
    vcenter_answers(f"{CLASSES}/paif-cpu", httpx.Response(200, json=body))
    state = {
        **vm_class(class_id="paif-cpu", cpu_count=4, memory_mib=8192, memory_reservation=0, vgpu_profiles=[]),
        "ignored_by_server": [],
    }
    result = VmClassProvider().read("paif-cpu", state)
    assert result.outs == state


def test_vm_class_read_reports_a_changed_vgpu(vcenter_answers: Callable[[str, httpx.Response], None]) -> None:
    body = {
        "id": "paif-gpu",
        "cpu_count": 8,
        "memory_mb": 65536,
        "memory_reservation": 100,
        "devices": {"vgpu_devices": [{"profile_name": "grid_a100-20c"}]},
    }
    vcenter_answers(f"{CLASSES}/paif-gpu", httpx.Response(200, json=body))
    result = VmClassProvider().read("paif-gpu", {**vm_class(), "ignored_by_server": ["description"]})
    assert result.outs is not None and result.outs["vgpu_profiles"] == ["grid_a100-20c"]


def test_config_spec_api_reads_the_profile_from_the_config_spec() -> None:
    provider = VmClassProvider()
    props = vm_class(api="config-spec")
    spec = config_spec(8, 65536, ["grid_a100-40c"], 100)
    assert provider.live(
        {"cpu_count": 8, "memory_mb": 65536, "memory_reservation": 100, "config_spec": spec}, props
    )["vgpu_profiles"] == ["grid_a100-40c"]
    # A server that does not return config_spec leaves the profile unobserved (kept as declared).
    assert "vgpu_profiles" not in provider.live({"cpu_count": 8, "devices": {}}, props)


def test_config_spec_matches_the_rest_fields() -> None:
    spec = config_spec(16, 131072, ["grid_a100-40c", "grid_a100-20c"], 100)
    assert (spec["numCPUs"], spec["memoryMB"], spec["memoryReservationLockedToMax"]) == (16, 131072, True)
    devices = [change["device"] for change in spec["deviceChange"]]
    assert [d["key"] for d in devices] == [-200, -201]
    assert [d["backing"]["vgpu"] for d in devices] == ["grid_a100-40c", "grid_a100-20c"]
    assert "memoryReservationLockedToMax" not in config_spec(4, 8192, [], 0)


def test_a_vm_class_vcenter_already_has_is_refused_naming_it_and_the_ways_out(
    vcenter_answers: Callable[[str, httpx.Response], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A create whose result was never recorded (a kill after vCenter confirmed it) or
    another owner's object: vCenter answers ALREADY_EXISTS, the user gets what to do."""
    monkeypatch.setattr(VmClassProvider, "_check_profiles", lambda _self, _props: None)
    vcenter_answers(
        CLASSES,
        httpx.Response(
            400,
            json={"error_type": "ALREADY_EXISTS", "messages": [{"default_message": "Entity already exists"}]},
        ),
    )
    with pytest.raises(NotOwned) as refused:
        VmClassProvider().create(vm_class())
    message = str(refused.value)
    assert "VM class 'paif-gpu' already exists on vCenter vc.test" in message
    assert "if it is this stack's and nothing uses it, delete it in vCenter and run again" in message
    assert str(CONNECTION["password"]) not in message


def test_another_vcenter_error_on_create_is_not_taken_for_a_name_taken(
    vcenter_answers: Callable[[str, httpx.Response], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(VmClassProvider, "_check_profiles", lambda _self, _props: None)
    vcenter_answers(
        CLASSES,
        httpx.Response(400, json={"error_type": "INVALID_ARGUMENT", "messages": [{"default_message": "bad"}]}),
    )
    with pytest.raises(VcenterError) as failed:
        VmClassProvider().create(vm_class())
    assert not isinstance(failed.value, NotOwned)
    assert failed.value.error_type == "INVALID_ARGUMENT"


# -- a create the engine never recorded: adopted by its marker, others refused ------------------
MARKER = "managed by Pulumi: paif/local/gpu-class"


class FakeVcenter:
    """A vCenter collection that keeps what it is sent: POST of a taken id is ALREADY_EXISTS,
    PATCH sets the given fields; every request is recorded."""

    def __init__(self, collection: str, id_key: str) -> None:
        self.collection, self.id_key = collection, id_key
        self.objects: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/session":
            return httpx.Response(201, json="token")
        self.requests.append((request.method, path))
        body: dict[str, Any] = json.loads(request.content) if request.content else {}
        if request.method == "POST" and path == self.collection:
            name = body[self.id_key]
            if name in self.objects:
                return httpx.Response(400, json={"error_type": "ALREADY_EXISTS", "messages": []})
            self.objects[name] = {**body, "config_status": "RUNNING"}
            return httpx.Response(204)
        name = path.removeprefix(self.collection + "/")
        if name not in self.objects:
            return httpx.Response(404, json={"error_type": "NOT_FOUND", "messages": []})
        if request.method == "PATCH":
            self.objects[name].update(body)
            return httpx.Response(204)
        return httpx.Response(200, json=self.objects[name])

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def client(_props: Any) -> VcenterClient:
            return VcenterClient(
                Endpoint(host="vc.test", username="admin", password="x"),
                transport=httpx.MockTransport(self.handler),
            )

        monkeypatch.setattr(provider_module, "open_client", client)


@pytest.fixture
def fake_classes(monkeypatch: pytest.MonkeyPatch) -> FakeVcenter:
    monkeypatch.setattr(VmClassProvider, "_check_profiles", lambda _self, _props: None)
    fake = FakeVcenter(CLASSES, "id")
    fake.install(monkeypatch)
    return fake


def test_marked_and_unmarked_descriptions_round_trip() -> None:
    for description in ("", "GPU class", "a [bracketed] note", "two\nlines"):
        written = marked(description, {OWNERSHIP_KEY: MARKER})
        assert unmarked(written) == (description, MARKER)
    assert marked("GPU class", {}) == "GPU class"
    assert unmarked("GPU class [not ours]") == ("GPU class [not ours]", None)


def test_a_vm_class_created_but_never_recorded_is_adopted_and_made_to_match(fake_classes: FakeVcenter) -> None:
    """A kill after vCenter confirmed the create and before the engine recorded it: the next
    `up` creates again, finds its own marker and adopts the class with the declared values."""
    first = VmClassProvider().create(vm_class(ownership=MARKER, description="GPU class"))
    assert fake_classes.objects["paif-gpu"]["description"] == f"GPU class [{MARKER}]"
    assert first.outs is not None and first.outs["description"] == "GPU class"
    # The engine never recorded `first`; the program meanwhile asks for more CPUs.
    fake_classes.requests.clear()
    again = VmClassProvider().create(vm_class(ownership=MARKER, description="GPU class", cpu_count=16))
    assert again.id == "paif-gpu"
    assert ("PATCH", f"{CLASSES}/paif-gpu") in fake_classes.requests
    assert fake_classes.objects["paif-gpu"]["cpu_count"] == 16
    assert again.outs is not None and again.outs["ignored_by_server"] == []
    # Refresh reports the declared description: the marker is never drift.
    read = VmClassProvider().read("paif-gpu", again.outs)
    assert read.outs is not None and read.outs["description"] == "GPU class"


@pytest.mark.parametrize(
    ("description", "owner"),
    [
        ("made by hand", "carries no marker of this stack"),
        ("[managed by Pulumi: paif/prod/gpu-class]", "another owner's marker, 'managed by Pulumi: paif/prod/gpu-class'"),
    ],
)
def test_a_vm_class_without_this_stacks_marker_is_refused_and_left_untouched(
    fake_classes: FakeVcenter, description: str, owner: str
) -> None:
    fake_classes.objects["paif-gpu"] = {"id": "paif-gpu", "cpu_count": 2, "memory_MB": 4096, "description": description}
    with pytest.raises(NotOwned) as refused:
        VmClassProvider().create(vm_class(ownership=MARKER))
    assert "VM class 'paif-gpu' already exists on vCenter vc.test" in str(refused.value)
    assert owner in str(refused.value)
    assert not [r for r in fake_classes.requests if r[0] == "PATCH"]
    assert fake_classes.objects["paif-gpu"]["cpu_count"] == 2


@pytest.fixture
def fake_namespaces(monkeypatch: pytest.MonkeyPatch) -> FakeVcenter:
    resolved = {"cluster_id": "domain-c8", "storage_policy_ids": {"vSAN Default Storage Policy": "policy-1"}}
    resolved["content_library_ids"] = {"dlvm-images": "lib-1"}
    monkeypatch.setattr(SupervisorNamespaceProvider, "_resolve", lambda _self, _client, _props, _olds: dict(resolved))
    fake = FakeVcenter(INSTANCES, "namespace")
    fake.install(monkeypatch)
    return fake


def test_a_namespace_created_but_never_recorded_is_adopted_and_made_to_match(fake_namespaces: FakeVcenter) -> None:
    SupervisorNamespaceProvider().create(namespace(ownership=MARKER))
    fake_namespaces.requests.clear()
    again = SupervisorNamespaceProvider().create(
        namespace(ownership=MARKER, resource_spec={"cpu_limit": 20000, "memory_limit": 65536})
    )
    assert again.id == "paif-chat"
    assert ("PATCH", f"{INSTANCES}/paif-chat") in fake_namespaces.requests
    stored = fake_namespaces.objects["paif-chat"]
    assert stored["resource_spec"]["cpu_limit"] == 20000
    assert stored["description"] == f"chat [{MARKER}]"
    assert again.outs is not None
    assert again.outs["description"] == "chat" and "description" not in again.outs["ignored_by_server"]


def test_a_marked_namespace_on_another_cluster_is_refused(fake_namespaces: FakeVcenter) -> None:
    fake_namespaces.objects["paif-chat"] = {"cluster": "domain-c99", "description": f"[{MARKER}]"}
    with pytest.raises(NotOwned) as refused:
        SupervisorNamespaceProvider().create(namespace(ownership=MARKER))
    assert "runs on cluster 'domain-c99', not 'wld01-cl01'" in str(refused.value)
    assert not [r for r in fake_namespaces.requests if r[0] in ("PATCH", "DELETE")]
