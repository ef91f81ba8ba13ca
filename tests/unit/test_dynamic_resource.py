"""The one construction path of the dynamic resources (components/dynamic/resource.py): what
a kind's args turn into, without a Pulumi engine."""

from __future__ import annotations

from components.certificate import SelfSignedCertificateArgs
from components.harbor import PULL, HarborConnection, RobotAccountArgs
from components.postgres import PgConnection, RoleArgs
from components.postgres.connection import CONNECTION_KEYS as PG_KEYS
from components.vsphere import VcenterConnection, VmClassArgs

HARBOR = HarborConnection(url="https://harbor.example.internal/", username="ci", password=None)


def test_connected_args_carry_the_connection_the_kind_and_its_outputs_unknown() -> None:
    args = RobotAccountArgs(connection=HARBOR, project="chat", name="pull", access=PULL, duration_days=30)
    props = args.props()
    assert props["url"] == "https://harbor.example.internal", "the connection's canonical values"
    assert props["connection_config"] is None
    assert {k: props[k] for k in ("robot_id", "full_name", "secret", "expires_at")} == dict.fromkeys(
        ("robot_id", "full_name", "secret", "expires_at")
    )
    assert props["duration"] == 30 and "duration_days" not in props and "access" not in props
    assert "connection" not in props
    assert args.secret_outputs() == ("password", "secret")


def test_args_without_a_connection_have_only_their_own_properties() -> None:
    args = SelfSignedCertificateArgs(hostnames=["chat.local"])
    assert args.props() == {
        "hostnames": ["chat.local"],
        "validity_days": 365,
        "cert_pem": None,
        "key_pem": None,
    }
    assert args.secret_outputs() == ("key_pem",)


def test_a_kind_reshapes_its_values_and_lists_its_own_secrets_after_the_connections() -> None:
    pg = PgConnection(host="db.example.internal", admin_user="admin", admin_password="x")
    role = RoleArgs(connection=pg, name="app", search_path=("chat", "public"))
    props = role.props()
    assert set(PG_KEYS) <= set(props)
    assert props["search_path"] == ["chat", "public"] and props["superuser"] is False
    assert props["password"] is None
    assert role.secret_outputs() == ("admin_password", "password")
    vcenter = VcenterConnection(host="vc.example.internal", username="svc", password=None)
    vm_class = VmClassArgs(
        connection=vcenter, class_id="gpu", cpu_count=8, memory_mib=65536, vgpu_profiles=("a",)
    )
    assert vm_class.props()["vgpu_profiles"] == ["a"] and vm_class.props()["ignored_by_server"] is None
