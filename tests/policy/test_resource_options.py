"""Resource-option rules: protect stateful resources, never ignore security fields."""

from __future__ import annotations

import json
from typing import get_args

import pytest

from components.stateful import STATEFUL_TYPES, StatefulType
from infra.config import NAMESPACE
from infra.config.protection import StatefulObject
from policy.rules.common import STACK_CONFIG, UNKNOWN
from policy.rules.resource_options import NO_IGNORED_SECURITY_FIELDS, PROTECT_STATEFUL, RELEASE_KEY
from tests.policy.builders import deployment, harbor_connection, pg_connection, res

CLUSTER = "kubernetes:databases.dataservices.vmware.com/v1alpha1:PostgresCluster"
PROJECT = "pulumi-python:dynamic/harbor:Project"
ROLE = "pulumi-python:dynamic/postgres:Role"


class TestProtect:
    @pytest.mark.parametrize(
        "type_",
        [CLUSTER, "pulumi-python:dynamic/postgres:Database", PROJECT, "postgresql:index/database:Database"],
    )
    def test_protected_stateful_resources_pass(self, type_: str) -> None:
        assert PROTECT_STATEFUL.evaluate(res(type_, {"force_destroy": False}, protect=True)) == []

    def test_unprotected_database_fails(self) -> None:
        database = res(
            "pulumi-python:dynamic/postgres:Database", {**pg_connection(), "name": "chat"}, name="db"
        )
        assert PROTECT_STATEFUL.evaluate(database) == [
            "Database 'db' holds data but is not protected: set protect=True in its resource options"
        ]

    def test_force_destroy_fails_even_when_protected(self) -> None:
        project = res(PROJECT, {**harbor_connection(), "force_destroy": True}, name="p", protect=True)
        assert PROTECT_STATEFUL.evaluate(project) == [
            "Project 'p' sets force_destroy, so a destroy deletes its contents: set it to false"
        ]

    def test_stateless_resources_need_no_protection(self) -> None:
        assert PROTECT_STATEFUL.evaluate(deployment()) == []
        assert PROTECT_STATEFUL.evaluate(res("pulumi-python:dynamic/postgres:Grant", pg_connection())) == []
        # The app's login role owns nothing (components/stateful.py).
        assert PROTECT_STATEFUL.evaluate(res(ROLE, {**pg_connection(), "name": "chat_app", "login": True})) == []

    @pytest.mark.parametrize("entry", STATEFUL_TYPES, ids=[t.token.rsplit(":", 1)[-1] for t in STATEFUL_TYPES])
    def test_every_type_that_holds_data_must_be_protected(self, entry: StatefulType) -> None:
        [message] = PROTECT_STATEFUL.evaluate(res(entry.token, {"name": "x"}, name="x"))
        assert message.endswith("holds data but is not protected: set protect=True in its resource options")

    def test_a_release_lets_exactly_the_named_objects_through(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """paif:protection.release, as the engine hands the pack the stack's config."""
        monkeypatch.setattr(STACK_CONFIG, "plain", {"paif:protection": json.dumps({"release": ["database"]})})
        for token in ("Database", "Schema", "Role"):
            assert PROTECT_STATEFUL.evaluate(res(f"pulumi-python:dynamic/postgres:{token}", {"name": "x"})) == []
        [message] = PROTECT_STATEFUL.evaluate(res(CLUSTER, {}, name="chat-pg"))
        assert "not protected" in message
        # force_destroy is never released.
        project = res(PROJECT, {"force_destroy": True}, name="p", protect=True)
        monkeypatch.setattr(STACK_CONFIG, "plain", {"paif:protection": json.dumps({"release": ["harborProject"]})})
        assert len(PROTECT_STATEFUL.evaluate(project)) == 1

    @pytest.mark.parametrize("value", ["not json", "[]", '{"release": "database"}', '{"other": 1}'])
    def test_a_release_the_pack_cannot_read_releases_nothing(self, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
        monkeypatch.setattr(STACK_CONFIG, "plain", {"paif:protection": value})
        assert len(PROTECT_STATEFUL.evaluate(res("pulumi-python:dynamic/postgres:Database", {"name": "x"}))) == 1

    def test_release_names_are_the_programs(self) -> None:
        assert {t.release for t in STATEFUL_TYPES} == set(get_args(StatefulObject))
        assert f"{NAMESPACE}:protection" == RELEASE_KEY


class TestIgnoreChanges:
    def test_ignoring_replicas_passes(self) -> None:
        assert (
            NO_IGNORED_SECURITY_FIELDS.evaluate(res(deployment().type, {}, ignore_changes=("spec.replicas",)))
            == []
        )

    @pytest.mark.parametrize(
        "path",
        [
            "spec.template.spec.containers[0].securityContext",
            "spec.template.spec.containers[*].image",
            "insecure",
            "deployment_security",
            "stringData",
        ],
    )
    def test_ignoring_security_fields_fails(self, path: str) -> None:
        assert NO_IGNORED_SECURITY_FIELDS.evaluate(
            res(deployment().type, {}, name="d", ignore_changes=(path, "spec.replicas"))
        ) == [
            f"Deployment 'd' ignores changes to {path}, which carry security settings: remove them from "
            "ignore_changes (ignore only the exact field another controller owns)"
        ]

    @pytest.mark.parametrize(
        "path", ["spec", "spec.template", "spec.template.spec", "spec.template.spec.containers", '["spec"]']
    )
    def test_ignoring_a_parent_of_security_fields_fails(self, path: str) -> None:
        workload = deployment()
        hidden = res(workload.type, dict(workload.props), ignore_changes=(path,))
        assert len(NO_IGNORED_SECURITY_FIELDS.evaluate(hidden)) == 1
        not_known = res(workload.type, {"spec": UNKNOWN}, ignore_changes=(path,))
        assert len(NO_IGNORED_SECURITY_FIELDS.evaluate(not_known)) == 1

    @pytest.mark.parametrize(
        "path", ["spec.replicas", "metadata", "metadata.annotations", "spec.template.metadata.annotations"]
    )
    def test_ignoring_parents_without_security_fields_passes(self, path: str) -> None:
        workload = deployment()
        assert (
            NO_IGNORED_SECURITY_FIELDS.evaluate(
                res(workload.type, dict(workload.props), ignore_changes=(path,))
            )
            == []
        )

    def test_a_parent_of_a_secret_s_data_fails(self) -> None:
        secret = res("kubernetes:core/v1:Secret", {"stringData": {"a": "b"}}, ignore_changes=("*",))
        assert len(NO_IGNORED_SECURITY_FIELDS.evaluate(secret)) == 1

    def test_fields_are_configurable(self) -> None:
        resource = res(deployment().type, {}, ignore_changes=("metadata.annotations",))
        assert NO_IGNORED_SECURITY_FIELDS.evaluate(resource, {"securityFields": ["annotations"]}) != []
