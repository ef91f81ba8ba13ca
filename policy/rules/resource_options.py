"""Resource options: stateful resources are protected, security settings are never ignored."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from components.stateful import stateful_type
from policy.rules.common import (
    STACK_CONFIG,
    WORKLOAD_KINDS,
    Context,
    Res,
    ResourceRule,
    Rule,
    describe,
    first,
    k8s_kind,
    truthy,
)

# The program's config key that lifts protections for one run (infra/config/protection.py).
RELEASE_KEY = "paif:protection"
# The same resources declared through the Terraform-bridged providers (other programs).
BRIDGED_STATEFUL_TYPES = frozenset({"postgresql:index/database:Database", "harbor:index/project:Project"})
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


def released() -> set[str]:
    """The stateful objects the stack's `paif:protection.release` lifts the protection of for
    this run (the engine hands the pack the stack's config; empty without it)."""
    text = STACK_CONFIG.plain.get(RELEASE_KEY)
    try:
        names = json.loads(text)["release"] if text else []
    except (ValueError, KeyError, TypeError):
        return set()
    return {str(name) for name in names} if isinstance(names, list) else set()


def check_protect(resource: Res, _ctx: Context) -> list[str]:
    entry = stateful_type(resource.type, resource.props)
    if entry is None and resource.type not in BRIDGED_STATEFUL_TYPES:
        return []
    problems = []
    # Unprotected on purpose for this run: paif:protection.release names it (README: Data protection).
    if not resource.protect and (entry is None or entry.release not in released()):
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
    description="What holds data (components/stateful.py: databases, schemas, data-owning roles, DSM "
    "clusters, PVCs, Supervisor namespaces, VKS clusters, Harbor projects) is protected, unless the stack's "
    "paif:protection.release names it for this run, and never force-destroyed.",
    check=check_protect,
    prod_only=True,
)


_POD_SPEC_PATHS = {
    "CronJob": ["spec", "jobTemplate", "spec", "template", "spec"],
    "Pod": ["spec"],
}
_DEFAULT_POD_SPEC_PATH = ["spec", "template", "spec"]
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def _segments(path: str) -> list[str]:
    return [s for s in re.split(r"[.\[\]\"']+", path) if s and s != "*" and not s.isdigit()]


def _steps(path: str) -> list[str]:
    """The steps of a property path (`spec.template.spec.containers[0]`, `spec["template"]`)."""
    return [s for s in re.split(r"[.\[\]\"']+", path) if s]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _children(value: Any, step: str) -> list[Any]:
    if step == "*":
        if isinstance(value, Mapping):
            return list(value.values())
        return list(value) if isinstance(value, list) else []
    if isinstance(value, list):
        return [value[int(step)]] if step.isdigit() and int(step) < len(value) else []
    if isinstance(value, Mapping):
        for key in (step, _camel(step)):
            if key in value:
                return [value[key]]
    return []


def _holds_field(value: Any, fields: set[str]) -> bool:
    if isinstance(value, Mapping):
        return any(str(k) in fields or _holds_field(v, fields) for k, v in value.items())
    return isinstance(value, list) and any(_holds_field(item, fields) for item in value)


def _covers_security(resource: Res, path: str, fields: set[str]) -> bool:
    """Whether ignoring `path` hides a security field: the path names one, or what it points at
    (a parent such as `spec` or `spec.template.spec`) holds one, or, where the value is not
    known, it is a parent of the workload's pod spec."""
    if fields & set(_segments(path)):
        return True
    steps = _steps(path)
    values: list[Any] = [resource.props]
    for step in steps:
        if step == "*" and any(isinstance(v, Mapping) and fields & set(map(str, v)) for v in values):
            return True
        values = [child for value in values for child in _children(value, step)]
    if any(_holds_field(value, fields) for value in values):
        return True
    kind = k8s_kind(resource.type)
    if kind not in WORKLOAD_KINDS:
        return False
    pod_spec = _POD_SPEC_PATHS.get(kind, _DEFAULT_POD_SPEC_PATH)
    named = [s for s in steps if s != "*" and not s.isdigit()]
    parents = [pod_spec[:n] for n in range(len(pod_spec) + 1)]
    return named in parents or named in [[*pod_spec, key] for key in _CONTAINER_LISTS]


def check_ignore_changes(resource: Res, ctx: Context) -> list[str]:
    fields = set(ctx.strings("securityFields"))
    ignored = [path for path in resource.ignore_changes if _covers_security(resource, path, fields)]
    if not ignored:
        return []
    return [
        f"{describe(resource)} ignores changes to {', '.join(ignored)}, which carry security settings: "
        "remove them from ignore_changes (ignore only the exact field another controller owns)"
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
            "description": "property names that no ignore_changes path may name or contain",
        }
    },
)

RULES: list[Rule] = [PROTECT_STATEFUL, NO_IGNORED_SECURITY_FIELDS]
