"""infra/stack_vsphere.py under Pulumi mocks: the namespace and every VM class from each
committed stack, bound together; the password always a secret; `up` refused without it."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from pulumi.runtime.sync_await import _sync_await

from infra.config import Secrets, Settings, parse_config
from infra.profiles import PROFILES
from infra.stack_vsphere import VsphereOutputs, declare_vsphere
from tests.unit.harness import Recorded, contains_plain, flatten_config, run, stack_config

NAMESPACE = "pulumi-python:dynamic/vsphere:SupervisorNamespace"
VM_CLASS = "pulumi-python:dynamic/vsphere:VmClass"
PASSWORD = "vc-pw-7710"


def settings(env: str, password: str | None) -> Settings:
    flat, keys = flatten_config(stack_config(env))
    parsed = parse_config(flat, set(keys), "paif-app")
    secrets = Secrets(
        vcenter_password=None if password is None else pulumi.Output.secret(password),
        pais_client_secret=None,
        db_admin_password=None,
        db_app_password=None,
        harbor_password=None,
        supervisor_kubeconfig=None,
        workload_kubeconfig=None,
    )
    return Settings(config=parsed, profile=PROFILES[parsed.environment], secrets=secrets)


def declare(
    env: str, *, password: str | None = PASSWORD, preview: bool = False, expect_error: bool = False
) -> tuple[Recorded, list[VsphereOutputs], dict[str, list[str]]]:
    outputs: list[VsphereOutputs] = []
    secret_outputs: dict[str, list[str]] = {}

    def remember(args: pulumi.ResourceTransformationArgs) -> None:
        secret_outputs[args.name] = list(args.opts.additional_secret_outputs or [])

    def program() -> None:
        pulumi.runtime.register_stack_transformation(remember)
        outputs.append(declare_vsphere(settings(env, password)))

    recorded = run(program, stack=env, preview=preview, expect_error=expect_error)
    return recorded, outputs, secret_outputs


def value(output: pulumi.Output[Any]) -> Any:
    return _sync_await(output.future())


@pytest.mark.parametrize("env", ["local", "dev", "prod"])
def test_namespace_binds_every_declared_class(env: str) -> None:
    recorded, outputs, secret_outputs = declare(env)
    vsphere = stack_config(env)["vsphere"]
    (namespace,) = recorded.of_type(NAMESPACE)
    classes = {c.props["class_id"]: c.props for c in recorded.of_type(VM_CLASS)}
    assert set(classes) == {c["name"] for c in vsphere["vmClasses"]}
    assert namespace.props["vm_classes"] == sorted(classes)
    assert namespace.props["namespace"] == vsphere["namespace"]["name"]
    assert namespace.props["cluster"] == vsphere["cluster"]
    assert namespace.props["content_libraries"] == vsphere["namespace"].get("contentLibraries", [])
    limit = vsphere["namespace"]["storageLimitMib"]
    assert namespace.props["storage_specs"] == [
        {"policy": vsphere["namespace"]["storagePolicy"], "limit_mib": limit}
    ]
    assert namespace.props["resource_spec"] == {
        "cpu_limit": vsphere["namespace"]["cpuLimitMhz"],
        "memory_limit": vsphere["namespace"]["memoryLimitMib"],
        "storage_request_limit": limit,
    }
    assert len(namespace.props["access_list"]) == len(vsphere["namespace"].get("access", []))
    assert {
        "paif:vsphere:VksNamespace",
        "paif:vsphere:GpuVmClass",
        "paif:vsphere:VmClass",
    } <= recorded.types()
    (out,) = outputs
    assert value(out.namespace) == vsphere["namespace"]["name"]
    assert value(out.gpu_class) == vsphere["gpuClass"]
    assert {name: value(o) for name, o in out.vm_classes.items()} == {c: c for c in classes}
    for resource in [namespace, *recorded.of_type(VM_CLASS)]:
        assert resource.is_secret("password") and not contains_plain(resource.inputs, PASSWORD)
        assert secret_outputs[resource.name] == ["password"]


@pytest.mark.parametrize("env", ["local", "dev", "prod"])
def test_the_gpu_class_is_fully_reserved_and_checked_on_the_cluster(env: str) -> None:
    recorded, _, _ = declare(env)
    vsphere = stack_config(env)["vsphere"]
    declared = {c["name"]: c for c in vsphere["vmClasses"]}
    for resource in recorded.of_type(VM_CLASS):
        props = resource.props
        profile = declared[props["class_id"]].get("vgpuProfile")
        shape = (props["vgpu_profiles"], props["memory_reservation"], props.get("cluster"))
        assert shape == (([profile], 100, vsphere["cluster"]) if profile else ([], 0, None))
        assert props["api"] == vsphere.get("api", "devices")


def test_connection_settings_come_from_the_config() -> None:
    recorded, _, _ = declare("local")
    (namespace,) = recorded.of_type(NAMESPACE)
    assert (namespace.props["host"], namespace.props["insecure"], namespace.props["protocol"]) == (
        "127.0.0.1:8989",
        True,
        "https",
    )
    recorded, _, _ = declare("prod")
    (namespace,) = recorded.of_type(NAMESPACE)
    assert (namespace.props["insecure"], namespace.props.get("ca_bundle")) == (False, None)


def test_a_preview_needs_no_password() -> None:
    recorded, _, _ = declare("prod", password=None, preview=True)
    assert len(recorded.of_type(NAMESPACE)) == 1
    assert all(r.props.get("password") is None for r in recorded.of_type(VM_CLASS))


def test_up_without_the_password_fails_before_declaring_anything() -> None:
    recorded, _, _ = declare("dev", password=None, expect_error=True)
    assert recorded.resources == []
    message = str(recorded.error)
    assert "paif:vcenterPassword: required key is missing" in message
    assert "pulumi config set --secret paif:vcenterPassword" in message
