"""The one provider base: every family follows the same diff rule, the same "gone" path and
the same connection override, and every dynamic provider in components/ is built on it."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pulumi.dynamic import Config, ConfigureRequest, ResourceProvider
from pulumi.runtime import rpc

import components
from components.certificate import SelfSignedCertificateProvider
from components.dynamic.provider import (
    CONNECTION_CONFIG_KEY,
    ObjectGone,
    ObjectProvider,
    Props,
    config_value,
)
from components.harbor.project import ProjectProvider
from components.password import PasswordProvider
from components.postgres.database import DatabaseProvider
from components.postgres.role import RoleProvider
from components.vsphere.namespace_provider import SupervisorNamespaceProvider
from components.vsphere.vm_class_provider import VmClassProvider

PG = {
    "host": "db.example",
    "port": 5432,
    "admin_user": "admin",
    "admin_password": "pw-1",
    "maintenance_database": "postgres",
    "sslmode": "verify-full",
    "sslrootcert": None,
    "connect_timeout": 10,
    "connect_attempts": 5,
}
HARBOR = {
    "url": "https://harbor.example",
    "username": "admin",
    "password": "pw-1",
    "insecure": False,
    "ca_bundle": None,
    "timeout": 30,
    "attempts": 5,
}
VSPHERE = {
    "host": "vc.example",
    "username": "admin",
    "password": "pw-1",
    "protocol": "https",
    "insecure": False,
    "ca_bundle": None,
    "timeout": 30,
    "attempts": 5,
}
# (provider, properties of one object, an identity key and a new value for it, the
# endpoint key and a new value, the credential key)
FAMILIES: list[tuple[ObjectProvider[Any], dict[str, Any], str, Any, str, Any, str]] = [
    (
        DatabaseProvider(),
        {**PG, "name": "chat", "owner": "chat_owner", "encoding": "UTF8", "public_privileges": []},
        "encoding",  # a new name renames the database in place (an update)
        "LATIN1",
        "port",
        6432,
        "admin_password",
    ),
    (
        ProjectProvider(),
        {**HARBOR, "name": "paif", "public": False, "force_destroy": False},
        "name",
        "paif2",
        "url",
        "https://harbor2.example",
        "password",
    ),
    (
        VmClassProvider(),
        {**VSPHERE, "class_id": "paif-gpu", "api": "devices", "cpu_count": 4},
        "class_id",
        "paif-gpu2",
        "host",
        "vc2.example",
        "password",
    ),
]
IDS = ["postgres", "harbor", "vsphere"]


@pytest.mark.parametrize("case", FAMILIES, ids=IDS)
def test_one_diff_rule_for_every_family(
    case: tuple[ObjectProvider[Any], dict[str, Any], str, Any, str, Any, str],
) -> None:
    provider, props, identity, renamed, endpoint, moved, secret = case
    assert provider.diff("id", props, dict(props)).changes is False
    # A preview without credentials (None) or with a value not known yet: no change at all.
    for missing in (None, rpc.UNKNOWN):
        assert provider.diff("id", props, {**props, secret: missing}).changes is False
    # Rotated credentials and a moved endpoint: an update of the connection, never a replace.
    for key, value in ((secret, "pw-2"), (endpoint, moved)):
        diff = provider.diff("id", props, {**props, key: value})
        assert (diff.changes, diff.replaces) == (True, []), key
    # The identity of the object: replaced, the old one first (names are unique on the server).
    renamed_diff = provider.diff("id", props, {**props, identity: renamed})
    assert renamed_diff.replaces == [identity] and renamed_diff.delete_before_replace is True


class _Recorder(ObjectProvider[dict[str, Any]]):
    """A provider over an in-memory server, to watch which hooks the base calls."""

    family = "Test"
    kind = "widget"
    connection_keys = ("endpoint", "password")
    replace_keys = ("name",)
    update_keys = ("size",)

    def __init__(self, server: dict[str, dict[str, Any]]) -> None:
        super().__init__()
        self.server = server
        self.sessions: list[dict[str, Any]] = []

    @contextmanager
    def _open(self, props: Props) -> Iterator[dict[str, Any]]:
        self.sessions.append(dict(props))
        yield self.server

    def session(self, props: Props) -> Any:
        return self._open(props)

    def create_object(self, session: dict[str, Any], props: Props) -> tuple[str, dict[str, Any]]:
        session[str(props["name"])] = {"size": props["size"]}
        return str(props["name"]), {"serial": 7}

    def observe(self, session: dict[str, Any], id_: str, props: Props) -> dict[str, Any] | None:
        return dict(session[id_]) if id_ in session else None

    def update_object(self, session: dict[str, Any], id_: str, olds: Props, news: Props) -> dict[str, Any]:
        if id_ not in session:
            raise ObjectGone(id_)
        session[id_]["size"] = news["size"]
        return {}

    def delete_object(self, session: dict[str, Any], id_: str, props: Props) -> None:
        session.pop(id_, None)


WIDGET = {"endpoint": "a:1", "password": "pw", "name": "w", "size": 1}


def test_a_connection_only_update_opens_no_session_and_keeps_computed_outputs() -> None:
    provider = _Recorder({})
    created = provider.create(dict(WIDGET))
    assert created.outs is not None and created.outs["serial"] == 7
    provider.sessions.clear()
    updated = provider.update("w", dict(created.outs), {**WIDGET, "endpoint": "b:2"})
    assert provider.sessions == []
    assert updated.outs == {**WIDGET, "endpoint": "b:2", "serial": 7}


def test_an_object_gone_out_of_band_reads_as_blank_and_fails_update_with_the_way_out() -> None:
    provider = _Recorder({})
    outs = provider.create(dict(WIDGET)).outs
    assert outs is not None
    provider.server.clear()
    assert provider.read("w", dict(outs)).id == ""
    with pytest.raises(ObjectGone, match=r"Test widget w no longer exists; run `pulumi refresh`"):
        provider.update("w", dict(outs), {**WIDGET, "size": 2})


def test_refresh_and_delete_use_the_current_config_for_the_connection() -> None:
    provider = _Recorder({"w": {"size": 1}})
    stack_config = {"paif:widget": json.dumps({"endpoint": "moved:9", "auth": {"password": "rotated"}})}
    provider.configure(ConfigureRequest(Config(stack_config, "paif")))
    state = {
        **WIDGET,
        CONNECTION_CONFIG_KEY: {"endpoint": "paif:widget.endpoint", "password": "paif:widget.auth.password"},
    }
    provider.read("w", dict(state))
    provider.delete("w", dict(state))
    assert [(s["endpoint"], s["password"]) for s in provider.sessions] == [("moved:9", "rotated")] * 2


def test_without_that_config_the_state_connection_is_used() -> None:
    provider = _Recorder({"w": {"size": 1}})
    provider.configure(ConfigureRequest(Config({}, "paif")))
    provider.read("w", {**WIDGET, CONNECTION_CONFIG_KEY: {"endpoint": "paif:widget.endpoint"}})
    assert provider.sessions[0]["endpoint"] == "a:1"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("paif:db.host", "h"),
        ("paif:db.tls.ca", "pem"),
        ("paif:db.port", 5432),
        ("paif:db.missing", None),
        ("paif:db.host.deeper", None),
        ("paif:other", None),
        ("paif:flat", "x"),
    ],
)
def test_config_value_follows_a_path_into_structured_config(key: str, expected: Any) -> None:
    config = {"paif:db": json.dumps({"host": "h", "port": 5432, "tls": {"ca": "pem"}}), "paif:flat": "x"}
    assert config_value(config, key) == expected


def test_generated_values_are_replaced_new_first_and_never_touch_a_server() -> None:
    password = PasswordProvider()
    props = {"length": 32, "alphabet": "abcdefghijklmnopqrstuvwxyz0123456789", "keepers": {}}
    created = password.create(dict(props))
    assert created.outs is not None and len(created.outs["result"]) == 32
    assert password.read(created.id, dict(created.outs)).outs == created.outs
    renewed = password.diff(created.id, created.outs, {**props, "keepers": {"rotate": "1"}})
    assert renewed.replaces == ["keepers"] and renewed.delete_before_replace is False
    certificate = SelfSignedCertificateProvider()
    cert = certificate.create({"hostnames": ["chat.local"], "validity_days": 30})
    assert cert.outs is not None and cert.outs["cert_pem"].startswith("-----BEGIN CERTIFICATE-----")


def _provider_classes() -> Iterator[type[ResourceProvider]]:
    for module in pkgutil.walk_packages(components.__path__, "components."):
        loaded = importlib.import_module(module.name)
        for _, cls in inspect.getmembers(loaded, inspect.isclass):
            if issubclass(cls, ResourceProvider) and cls.__module__ == loaded.__name__:
                yield cls


def test_every_dynamic_provider_is_built_on_the_one_base() -> None:
    classes = set(_provider_classes())
    assert {RoleProvider, ProjectProvider, SupervisorNamespaceProvider, PasswordProvider} <= classes
    assert [c.__name__ for c in classes if not issubclass(c, ObjectProvider)] == []
