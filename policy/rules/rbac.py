"""Access control: Roles and bindings grant what a workload needs, never the cluster."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policy.rules.common import Context, Res, ResourceRule, Rule, describe, get, k8s_kind, listed

ROLE_KINDS = frozenset({"Role", "ClusterRole"})
BINDING_KINDS = frozenset({"RoleBinding", "ClusterRoleBinding"})
# Built-in ClusterRoles that hand over (nearly) everything in their scope, Secrets included.
BROAD_ROLES = frozenset({"cluster-admin", "admin", "edit"})
# Verbs that let a subject grant itself more than it has.
ESCALATING_VERBS = frozenset({"escalate", "bind", "impersonate"})
READ_VERBS = frozenset({"get", "list", "watch", "*"})
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection", "*"})
# The privilege escalation risks of the Kubernetes RBAC good practices
# (kubernetes.io/docs/concepts/security/rbac-good-practices, "Kubernetes RBAC - privilege
# escalation risks") beyond the verbs above and reading Secrets: resource (as RBAC names it)
# -> the verbs that carry the risk, and what it gives.
ESCALATING_RESOURCES: dict[str, tuple[frozenset[str], str]] = {
    "nodes/proxy": (frozenset({"get", "create", "*"}), "the kubelet's API on every node (run commands in any pod)"),
    "serviceaccounts/token": (frozenset({"create", "*"}), "tokens of any service account in its scope"),
    "certificatesigningrequests/approval": (
        frozenset({"update", "patch", "*"}),
        "approving certificates, e.g. a client certificate as any user",
    ),
    "signers": (frozenset({"approve", "sign", "*"}), "issuing certificates as a cluster signer"),
    "mutatingwebhookconfigurations": (WRITE_VERBS, "rewriting every object admitted to the cluster"),
    "validatingwebhookconfigurations": (WRITE_VERBS, "reading every object admitted to the cluster"),
    "persistentvolumes": (frozenset({"create", "*"}), "a hostPath volume onto a node's filesystem"),
    # Not in that list, the same risk: a command in any pod in scope reads the Secrets mounted
    # there and acts as its service account (`get` still opened an exec over a WebSocket before
    # Kubernetes 1.30's AuthorizePodWebsocketUpgradeCreatePermission).
    "pods/exec": (frozenset({"create", "get", "*"}), "running commands in any pod in its scope (its Secrets)"),
    "pods/attach": (frozenset({"create", "get", "*"}), "the console of any pod in its scope"),
}
# Subjects that mean "anyone".
EVERYONE = frozenset({"system:anonymous", "system:unauthenticated", "system:authenticated"})


def _strings(value: Any) -> list[str]:
    return [str(v) for v in listed(value)]


def _role_problems(resource: Res) -> list[str]:
    problems = []
    rules = resource.props.get("rules")
    for index, rule in enumerate(rules if isinstance(rules, list) else []):
        if not isinstance(rule, Mapping):
            continue
        where = f"{describe(resource)} rule {index}"
        verbs, resources = _strings(rule.get("verbs")), _strings(rule.get("resources"))
        wildcards = [key for key in ("apiGroups", "resources", "verbs") if "*" in _strings(rule.get(key))]
        if wildcards:
            problems.append(f"{where} grants '*' in {', '.join(wildcards)}: list the groups, resources and verbs")
        if escalating := sorted(ESCALATING_VERBS.intersection(verbs)):
            problems.append(f"{where} grants {', '.join(escalating)}: a subject could grant itself more")
        for name in sorted(set(resources) & ESCALATING_RESOURCES.keys()):
            risky, gives = ESCALATING_RESOURCES[name]
            if granted := sorted(risky.intersection(verbs)):
                problems.append(f"{where} grants {', '.join(granted)} on {name}: that gives {gives}")
        reads_secrets = {"secrets", "*"} & set(resources) and READ_VERBS & set(verbs)
        if reads_secrets and not _strings(rule.get("resourceNames")):
            scope = "in every namespace" if k8s_kind(resource.type) == "ClusterRole" else "in its namespace"
            problems.append(f"{where} reads every Secret {scope}: name the Secrets (resourceNames)")
    return problems


def _binding_problems(resource: Res, allowed: set[str]) -> list[str]:
    problems = []
    subjects = [s for s in listed(resource.props.get("subjects")) if isinstance(s, Mapping)]
    for subject in subjects:
        if str(subject.get("name")) in EVERYONE:
            problems.append(f"{describe(resource)} binds {subject.get('name')!r}: bind named subjects only")
    role = get(resource.props, "roleRef", "name")
    if get(resource.props, "roleRef", "kind") == "ClusterRole" and str(role) in BROAD_ROLES:
        others = [
            f"{s.get('kind')}/{s.get('name')}" for s in subjects if f"{s.get('kind')}/{s.get('name')}" not in allowed
        ]
        if others:
            problems.append(
                f"{describe(resource)} binds the ClusterRole {role!r} to {', '.join(others)}: bind a Role with "
                "what the workload needs (or list the subject in this rule's privilegedSubjects)"
            )
    return problems


def check_rbac(resource: Res, ctx: Context) -> list[str]:
    kind = k8s_kind(resource.type)
    if kind in ROLE_KINDS:
        return _role_problems(resource)
    if kind in BINDING_KINDS:
        return _binding_problems(resource, {str(s) for s in ctx.config["privilegedSubjects"]})
    return []


RBAC = ResourceRule(
    name="rbac-least-privilege",
    description="Roles list their groups, resources and verbs (no '*', no escalate/bind/impersonate, no "
    "reading every Secret, none of the escalation risks of the RBAC good practices: nodes/proxy, "
    "token requests, CSR approval, webhooks, PersistentVolumes; nor pods/exec or pods/attach); bindings name their subjects and bind cluster-admin/admin/edit only to "
    "the listed privileged subjects.",
    check=check_rbac,
    config={
        "privilegedSubjects": {
            "type": "array",
            "items": {"type": "string"},
            # The package installer kapp-controller runs as (components/cluster_platform.py).
            "default": ["ServiceAccount/paif-package-installer"],
            "description": "subjects (Kind/name) that may hold cluster-admin, admin or edit",
        }
    },
)

RULES: list[Rule] = [RBAC]
