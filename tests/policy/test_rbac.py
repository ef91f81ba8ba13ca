"""rbac-least-privilege: Roles list what they grant; broad ClusterRoles go to listed subjects only."""

from __future__ import annotations

from typing import Any

import pytest

from policy.rules.rbac import RBAC
from tests.policy.builders import NAMESPACE, deployment, res

ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
CLUSTER_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
READ_CONFIGMAPS = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}


def role(*rules: dict[str, Any], type_: str = ROLE) -> Any:
    metadata = {"name": "reader", "namespace": NAMESPACE} if type_ == ROLE else {"name": "reader"}
    return res(type_, {"metadata": metadata, "rules": list(rules)}, name="reader")


def binding(role_name: str, *subjects: dict[str, Any], type_: str = CLUSTER_BINDING) -> Any:
    props = {
        "metadata": {"name": "b"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name},
        "subjects": list(subjects),
    }
    return res(type_, props, name="b")


def sa(name: str) -> dict[str, Any]:
    return {"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}


def test_a_listed_role_and_a_narrow_binding_pass() -> None:
    assert RBAC.evaluate(role(READ_CONFIGMAPS)) == []
    assert RBAC.evaluate(role(READ_CONFIGMAPS, type_=CLUSTER_ROLE)) == []
    assert RBAC.evaluate(binding("reader", sa("chat-backend"))) == []
    assert RBAC.evaluate(deployment()) == []


@pytest.mark.parametrize("key", ["apiGroups", "resources", "verbs"])
def test_wildcards_fail(key: str) -> None:
    rule = {**READ_CONFIGMAPS, key: ["*"]}
    [message] = [m for m in RBAC.evaluate(role(rule)) if "'*'" in m]
    assert f"grants '*' in {key}" in message


@pytest.mark.parametrize("verb", ["escalate", "bind", "impersonate"])
def test_escalating_verbs_fail(verb: str) -> None:
    [message] = RBAC.evaluate(role({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": [verb]}))
    assert verb in message and "grant itself more" in message


@pytest.mark.parametrize(
    ("group", "resource", "verbs", "gives"),
    [
        ("", "nodes/proxy", ["get"], "the kubelet's API"),
        ("", "serviceaccounts/token", ["create"], "tokens of any service account"),
        ("certificates.k8s.io", "certificatesigningrequests/approval", ["update"], "approving certificates"),
        ("certificates.k8s.io", "signers", ["approve"], "as a cluster signer"),
        ("admissionregistration.k8s.io", "mutatingwebhookconfigurations", ["create", "patch"], "rewriting every"),
        ("admissionregistration.k8s.io", "validatingwebhookconfigurations", ["update"], "reading every object"),
        ("", "persistentvolumes", ["create"], "hostPath volume"),
    ],
)
def test_the_escalation_risks_of_the_rbac_good_practices_fail(
    group: str, resource: str, verbs: list[str], gives: str
) -> None:
    """kubernetes.io/docs/concepts/security/rbac-good-practices: each grants more than it names."""
    [message] = RBAC.evaluate(role({"apiGroups": [group], "resources": [resource], "verbs": verbs}, type_=CLUSTER_ROLE))
    assert f"grants {', '.join(sorted(verbs))} on {resource}: that gives" in message and gives in message


@pytest.mark.parametrize(
    ("group", "resource", "verbs"),
    [
        ("", "persistentvolumes", ["get", "list", "watch"]),
        ("admissionregistration.k8s.io", "validatingwebhookconfigurations", ["get", "list"]),
        ("certificates.k8s.io", "certificatesigningrequests", ["create", "get"]),
        ("", "serviceaccounts", ["get"]),
    ],
)
def test_reading_or_requesting_is_not_an_escalation_risk(group: str, resource: str, verbs: list[str]) -> None:
    assert RBAC.evaluate(role({"apiGroups": [group], "resources": [resource], "verbs": verbs}, type_=CLUSTER_ROLE)) == []


@pytest.mark.parametrize(("type_", "scope"), [(ROLE, "in its namespace"), (CLUSTER_ROLE, "in every namespace")])
def test_reading_every_secret_fails_unless_named(type_: str, scope: str) -> None:
    secrets = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}
    [message] = RBAC.evaluate(role(secrets, type_=type_))
    assert f"reads every Secret {scope}" in message
    assert RBAC.evaluate(role({**secrets, "resourceNames": ["chat-secrets"]}, type_=type_)) == []
    assert RBAC.evaluate(role({**secrets, "verbs": ["create"]}, type_=type_)) == []


@pytest.mark.parametrize("role_name", ["cluster-admin", "admin", "edit"])
def test_broad_cluster_roles_go_to_listed_subjects_only(role_name: str) -> None:
    [message] = RBAC.evaluate(binding(role_name, sa("chat-backend")))
    assert f"binds the ClusterRole {role_name!r} to ServiceAccount/chat-backend" in message
    assert RBAC.evaluate(binding(role_name, sa("paif-package-installer"))) == []
    config = {"privilegedSubjects": ["ServiceAccount/ci-deployer"]}
    assert RBAC.evaluate(binding(role_name, sa("ci-deployer"), type_=BINDING), config) == []
    assert len(RBAC.evaluate(binding(role_name, sa("paif-package-installer")), config)) == 1


@pytest.mark.parametrize("name", ["system:anonymous", "system:unauthenticated", "system:authenticated"])
def test_binding_everyone_fails(name: str) -> None:
    [message] = RBAC.evaluate(binding("reader", {"kind": "Group", "name": name}))
    assert f"binds {name!r}" in message
