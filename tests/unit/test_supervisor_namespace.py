"""SupervisorNamespace under Pulumi mocks: one SupervisorNamespace with quotas, storage, access and
VM Service content; bad arguments fail with the field, the value and what is allowed."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pulumi
import pytest

from components.supervisor_namespace import NamespaceAccess, SupervisorNamespace, SupervisorNamespaceArgs
from components.vsphere import VcenterConnection
from tests.unit.harness import run

NAMESPACE = "pulumi-python:dynamic/vsphere:SupervisorNamespace"


def args(**overrides: Any) -> SupervisorNamespaceArgs:
    base = SupervisorNamespaceArgs(
        connection=VcenterConnection(
            host="vc.example.internal", username="svc", password=pulumi.Output.secret("pw-1")
        ),
        name="paif-chat",
        cluster="wld01-cl01",
        storage_policy="vSAN Default Storage Policy",
        storage_limit_mib=10240,
        cpu_limit_mhz=20000,
        memory_limit_mib=65536,
        vm_classes=["paif-cpu", "paif-gpu"],
        content_libraries=["dlvm-images"],
        access=[NamespaceAccess(subject="admins", role="OWNER")],
    )
    return replace(base, **overrides) if overrides else base


def test_declares_one_namespace_with_quotas_storage_access_and_content() -> None:
    recorded = run(lambda: SupervisorNamespace("chat", args()))
    assert "paif:vsphere:VksNamespace" in recorded.types()
    (namespace,) = recorded.of_type(NAMESPACE)
    props = namespace.props
    assert (props["namespace"], props["cluster"]) == ("paif-chat", "wld01-cl01")
    assert props["storage_specs"] == [{"policy": "vSAN Default Storage Policy", "limit_mib": 10240}]
    assert props["resource_spec"] == {
        "cpu_limit": 20000,
        "memory_limit": 65536,
        "storage_request_limit": 10240,
    }
    assert props["access_list"] == [
        {"subject": "admins", "domain": "vsphere.local", "subject_type": "GROUP", "role": "OWNER"}
    ]
    assert (props["vm_classes"], props["content_libraries"]) == (["paif-cpu", "paif-gpu"], ["dlvm-images"])
    assert namespace.is_secret("password")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": "PAIF_Chat"}, "SupervisorNamespaceArgs.name: given 'PAIF_Chat'; must be a DNS label"),
        ({"name": "x" * 64}, "SupervisorNamespaceArgs.name: given 'xxxx"),
        (
            {"cluster": ""},
            "SupervisorNamespaceArgs.cluster: given ''; must name the cluster that runs the Supervisor",
        ),
        ({"storage_policy": ""}, "SupervisorNamespaceArgs.storage_policy: given ''"),
        ({"cpu_limit_mhz": 0}, "SupervisorNamespaceArgs.cpu_limit_mhz: given 0; must be a positive quota"),
    ],
)
def test_bad_arguments_name_the_field(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        args(**overrides)
    assert str(raised.value).startswith(message)
