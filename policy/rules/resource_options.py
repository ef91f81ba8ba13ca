"""Resource options: stateful resources are protected, security settings are never ignored."""

from __future__ import annotations

import re

from policy.rules.common import Context, Res, ResourceRule, Rule, describe, dynamic, first, truthy

STATEFUL_TYPES = frozenset(
    {
        "kubernetes:databases.dataservices.vmware.com/v1alpha1:PostgresCluster",
        dynamic("postgres", "Database"),
        "postgresql:index/database:Database",
        dynamic("harbor", "Project"),
        "harbor:index/project:Project",
    }
)
# Property names whose drift must never be ignored: they carry security settings.
SECURITY_FIELDS = [
    "securityContext",
    "privileged",
    "hostNetwork",
    "hostPID",
    "hostIPC",
    "hostPath",
    "capabilities",
    "image",
    "imagePullSecrets",
    "serviceAccountName",
    "automountServiceAccountToken",
    "tls",
    "insecure",
    "sslmode",
    "sslrootcert",
    "ca_bundle",
    "public",
    "vulnerability_scanning",
    "vulnerabilityScanning",
    "deployment_security",
    "deploymentSecurity",
    "enable_content_trust_cosign",
    "permissions",
    "level",
    "duration",
    "force_destroy",
    "forceDestroy",
    "password",
    "stringData",
    "podSelector",
    "policyTypes",
    "ingress",
    "egress",
    "superuser",
    "create_db",
    "create_role",
    "bypass_rls",
    "privileges",
    "access_list",
    "resource_spec",
    "storage_specs",
    "memory_reservation",
]


def check_protect(resource: Res, _ctx: Context) -> list[str]:
    if resource.type not in STATEFUL_TYPES:
        return []
    problems = []
    if not resource.protect:
        problems.append(
            f"{describe(resource)} holds data but is not protected: set protect=True in its resource options"
        )
    if truthy(first(resource.props, "force_destroy", "forceDestroy")):
        problems.append(
            f"{describe(resource)} sets force_destroy, so a destroy deletes its contents: set it to false"
        )
    return problems


PROTECT_STATEFUL = ResourceRule(
    name="protect-stateful-resources",
    description="DSM clusters, databases and Harbor projects are protected and never force-destroyed.",
    check=check_protect,
    prod_only=True,
)


def _segments(path: str) -> list[str]:
    return [s for s in re.split(r"[.\[\]\"']+", path) if s and s != "*" and not s.isdigit()]


def check_ignore_changes(resource: Res, ctx: Context) -> list[str]:
    fields = set(ctx.strings("securityFields"))
    ignored = [path for path in resource.ignore_changes if fields & set(_segments(path))]
    if not ignored:
        return []
    return [
        f"{describe(resource)} ignores changes to {', '.join(ignored)}, which carry security settings: "
        "remove them from ignore_changes"
    ]


NO_IGNORED_SECURITY_FIELDS = ResourceRule(
    name="no-ignore-changes-on-security-fields",
    description="ignore_changes never hides drift of security-relevant properties.",
    check=check_ignore_changes,
    config={
        "securityFields": {
            "type": "array",
            "items": {"type": "string"},
            "default": SECURITY_FIELDS,
            "description": "property names (any path segment) that must not be in ignore_changes",
        }
    },
)

RULES: list[Rule] = [PROTECT_STATEFUL, NO_IGNORED_SECURITY_FIELDS]
