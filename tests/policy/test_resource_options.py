"""Resource-option rules: protect stateful resources, never ignore security fields."""

from __future__ import annotations

import pytest

from policy.rules.common import UNKNOWN
from policy.rules.resource_options import NO_IGNORED_SECURITY_FIELDS, PROTECT_STATEFUL
from tests.policy.builders import deployment, harbor_connection, pg_connection, res

CLUSTER = "kubernetes:databases.dataservices.vmware.com/v1alpha1:PostgresCluster"
PROJECT = "pulumi-python:dynamic/harbor:Project"


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
