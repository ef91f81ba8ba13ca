"""Secrets handling: secrets live in Secrets and in Pulumi secret outputs, nowhere else.

Secret values reach a policy pack as plaintext (secret-ness is invisible there), so besides
names and shapes these rules follow data flow: which resources a property was computed
from (`property_dependencies`), and whether a plaintext value equals a known secret.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from policy.rules.common import (
    DYNAMIC,
    Context,
    Res,
    ResourceRule,
    Rule,
    StackRule,
    Violation,
    as_number,
    describe,
    dynamic,
    first,
    is_unknown,
    k8s_kind,
    literal_env,
    show,
    workload_containers,
)

_SECRET_WORDS = frozenset(
    {"password", "passwd", "passphrase", "pwd", "secret", "token", "apikey", "credential", "credentials"}
)
_SECRET_PAIRS = frozenset(
    {("api", "key"), ("private", "key"), ("access", "key"), ("secret", "key"), ("auth", "key")}
)
# A key ending in one of these names *where* a secret is or *how* it is used, not the secret.
_NON_SECRET_SUFFIXES = frozenset(
    [
        "url",
        "uri",
        "endpoint",
        "path",
        "file",
        "name",
        "ref",
        "ttl",
        "timeout",
        "seconds",
        "expiry",
        "header",
        "type",
        "length",
        "issuer",
        "audience",
        "id",
    ]
)
_SECRET_VALUES = [
    (re.compile(r"-----BEGIN ([A-Z]+ )*PRIVATE KEY-----"), "a PEM private key"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), "a JSON web token"),
    (re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.I), "a URL with an embedded password"),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "an AWS access key"),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"), "a GitHub token"),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), "a Slack token"),
    (re.compile(r"^(Basic|Bearer)\s+[A-Za-z0-9+/=._-]{16,}$"), "an HTTP credential"),
]
# Below this length a match between a plaintext value and a secret is likely a coincidence.
MIN_SECRET_LENGTH = 8
# Secret keys whose values are public by design (certificates).
_PUBLIC_SECRET_KEYS = frozenset({"tls.crt", "ca.crt"})

# Resources that generate a secret, and the outputs that hold secrets, per type. Our own
# dynamic resources must list these in additional_secret_outputs; official providers mark
# them in their schemas.
GENERATED_SECRETS: dict[str, tuple[str, ...]] = {
    dynamic("random", "Password"): ("result",),
    dynamic("harbor", "RobotAccount"): ("secret",),
    dynamic("tls", "SelfSignedCertificate"): ("key_pem",),
    "random:index/randomPassword:RandomPassword": ("result", "bcryptHash"),
    "harbor:index/robotAccount:RobotAccount": ("secret",),
    "tls:index/privateKey:PrivateKey": ("privateKeyPem", "privateKeyOpenssh", "privateKeyPemPkcs8"),
}
# Our dynamic resources' outputs that a provider generates as secrets: never among the
# inputs a policy sees, so always required in additional_secret_outputs.
DYNAMIC_GENERATED_SECRETS = {t: keys for t, keys in GENERATED_SECRETS.items() if t.startswith(DYNAMIC)}
# Our dynamic resources' credential inputs: required in additional_secret_outputs when given
# (previews run without them).
DYNAMIC_CREDENTIALS: dict[str, tuple[str, ...]] = {
    **{
        dynamic("harbor", kind): ("password",)
        for kind in ("Project", "RobotAccount", "RetentionPolicy", "ImmutableTagRule")
    },
    dynamic("postgres", "Role"): ("password", "admin_password"),
    **{
        dynamic("postgres", kind): ("admin_password",)
        for kind in ("Database", "Schema", "Grant", "DefaultPrivileges", "Extension")
    },
    **{dynamic("vsphere", kind): ("password",) for kind in ("SupervisorNamespace", "VmClass")},
}
# Values of these resources' outputs are secrets too (compared by value, not by dependency).
HELD_SECRETS: dict[str, tuple[str, ...]] = {
    **GENERATED_SECRETS,
    dynamic("postgres", "Role"): ("password",),
    "postgresql:index/role:Role": ("password",),
    "kubernetes:core/v1:Secret": ("data", "stringData"),
}


def _words(key: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def secret_looking_key(key: str) -> bool:
    """Whether a setting's name says it holds a secret (DB_PASSWORD, apiKey, tls.key ...)."""
    words = _words(key)
    if not words or words[-1] in _NON_SECRET_SUFFIXES:
        return False
    if any(w in _SECRET_WORDS for w in words):
        return True
    if any(pair in _SECRET_PAIRS for pair in itertools.pairwise(words)):
        return True
    return words[-1] == "key" and len(words) > 1 and words[-2] in ("tls", "ssl", "signing", "encryption")


def secret_looking_value(value: Any) -> str | None:
    """What kind of secret `value` looks like, or None."""
    if not isinstance(value, str):
        return None
    for pattern, what in _SECRET_VALUES:
        if pattern.search(value):
            return what
    return None


def check_configmap(resource: Res, ctx: Context) -> list[str]:
    if k8s_kind(resource.type) != "ConfigMap":
        return []
    allowed = set(ctx.strings("allowedKeys"))
    problems = []
    for section in ("data", "binaryData"):
        data = resource.props.get(section)
        if not isinstance(data, Mapping):
            continue
        for key, value in data.items():
            if key in allowed:
                continue
            if secret_looking_key(key):
                problems.append(
                    f"{describe(resource)} has the secret-looking key '{key}': move it to a Secret"
                )
            elif (what := secret_looking_value(value)) is not None:
                problems.append(f"{describe(resource)} key '{key}' holds {what}: move it to a Secret")
    return problems


NO_SECRETS_IN_CONFIGMAP = ResourceRule(
    name="no-secrets-in-configmap",
    description="ConfigMaps hold no secret-looking keys or values.",
    check=check_configmap,
    config={
        "allowedKeys": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "keys reviewed and known not to be secrets",
        }
    },
)


def check_literal_env(resource: Res, ctx: Context) -> list[str]:
    allowed = set(ctx.strings("allowedNames"))
    problems = []
    for _, container in workload_containers(resource):
        for name, value in literal_env(container):
            if name in allowed:
                continue
            where = f"{container.kind} '{container.name}' of {describe(resource)}"
            if secret_looking_key(name):
                problems.append(
                    f"{where} sets the secret-looking env {name} literally: use valueFrom.secretKeyRef"
                )
            elif (what := secret_looking_value(value)) is not None:
                problems.append(f"{where} env {name} holds {what}: use valueFrom.secretKeyRef")
    return problems


NO_SECRET_LITERAL_ENV = ResourceRule(
    name="no-secret-literal-env",
    description="Containers get secrets through secretKeyRef, never as literal env values.",
    check=check_literal_env,
    config={
        "allowedNames": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "env names reviewed and known not to be secrets",
        }
    },
)


def _decoded(section: str, value: str) -> str:
    if section != "data":
        return value
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return value


def known_secret_values(resource: Res) -> Iterator[str]:
    """The known plaintext secrets a resource holds (long enough to compare)."""
    for key in HELD_SECRETS.get(resource.type, ()):
        value = resource.props.get(key)
        if isinstance(value, Mapping):
            for item_key, item in value.items():
                if isinstance(item, str) and item_key not in _PUBLIC_SECRET_KEYS:
                    decoded = _decoded(key, item)
                    if len(decoded) >= MIN_SECRET_LENGTH:
                        yield decoded
        elif isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
            yield value


def _plaintext_values(resource: Res) -> Iterator[tuple[str, str, str]]:
    """(where, property, value) of each ConfigMap data value or literal env value."""
    if k8s_kind(resource.type) == "ConfigMap":
        for section in ("data", "binaryData"):
            data = resource.props.get(section)
            if isinstance(data, Mapping):
                for key, value in data.items():
                    if isinstance(value, str):
                        yield f"{describe(resource)} {section}.{key}", section, value
    for _, container in workload_containers(resource):
        for name, value in literal_env(container):
            if isinstance(value, str):
                yield f"{container.kind} '{container.name}' of {describe(resource)} env {name}", "spec", value


def check_secret_data_flow(resources: Sequence[Res], ctx: Context) -> list[Violation]:
    producers = set(ctx.strings("producerTypes"))
    by_urn = {r.urn: r for r in resources}
    secrets = [(r, value) for r in resources for value in known_secret_values(r)]
    violations: list[Violation] = []
    for resource in resources:
        if k8s_kind(resource.type) == "ConfigMap":
            for section in ("data", "binaryData"):
                for urn in resource.property_dependencies.get(section, ()):
                    source = by_urn.get(urn)
                    if source is not None and source.type in producers:
                        violations.append(
                            Violation(
                                f"{describe(resource)} {section} is computed from {describe(source)}, which "
                                "generates a secret: put that value in a Secret and reference it with secretKeyRef",
                                resource.urn,
                            )
                        )
        for where, _, value in _plaintext_values(resource):
            source = next((s for s, secret in secrets if s.urn != resource.urn and secret in value), None)
            if source is not None:
                violations.append(
                    Violation(
                        f"{where} holds the plaintext of a secret of {describe(source)}: "
                        "reference the Secret (secretKeyRef / envFrom secretRef) instead",
                        resource.urn,
                    )
                )
    return violations


NO_SECRET_DATA_FLOW = StackRule(
    name="no-secret-data-flow",
    description="No ConfigMap value or literal env value is derived from a secret.",
    check=check_secret_data_flow,
    config={
        "producerTypes": {
            "type": "array",
            "items": {"type": "string"},
            "default": sorted(GENERATED_SECRETS),
            "description": "resource types that generate secrets; a ConfigMap computed from one is a leak",
        }
    },
)


def check_secret_outputs(resource: Res, _ctx: Context) -> list[str]:
    required = [
        *DYNAMIC_GENERATED_SECRETS.get(resource.type, ()),
        *(key for key in DYNAMIC_CREDENTIALS.get(resource.type, ()) if resource.props.get(key) is not None),
    ]
    missing = [key for key in required if key not in resource.secret_outputs]
    if not missing:
        return []
    return [
        f"{describe(resource)} keeps {', '.join(missing)} in state as plaintext: "
        f"list {', '.join(repr(k) for k in missing)} in additional_secret_outputs"
    ]


SECRET_OUTPUTS = ResourceRule(
    name="secret-outputs-marked",
    description="Generated secrets and credentials (robot secrets, passwords, keys) are Pulumi secrets in state.",
    check=check_secret_outputs,
)

ROBOT_TYPES = (dynamic("harbor", "RobotAccount"), "harbor:index/robotAccount:RobotAccount")


def check_robot(resource: Res, ctx: Context) -> list[str]:
    if resource.type not in ROBOT_TYPES:
        return []
    props = resource.props
    problems = []
    duration = props.get("duration")
    days = as_number(duration)
    max_days = ctx.integer("maxDurationDays")
    if not is_unknown(duration) and (days is None or days <= 0):
        problems.append(
            f"{describe(resource)} never expires (duration {show(duration)}): set duration to 1..{max_days} days"
        )
    elif days is not None and days > max_days:
        problems.append(f"{describe(resource)} lives {days:g} days: set duration to at most {max_days} days")
    level = props.get("level")
    if not is_unknown(level) and level != "project":
        problems.append(
            f"{describe(resource)} has level {level!r}: make it a project robot (level 'project')"
        )
    permissions = props.get("permissions")
    project = first(props, "project", "namespace")
    if isinstance(permissions, list):
        for permission in permissions:
            if not isinstance(permission, Mapping):
                continue
            kind, namespace = permission.get("kind"), permission.get("namespace")
            if not is_unknown(kind) and kind != "project":
                problems.append(f"{describe(resource)} has a {kind!r} permission: grant only on its project")
            elif namespace == "*":
                problems.append(f"{describe(resource)} is granted every project ('*'): name its project")
            elif isinstance(namespace, str) and isinstance(project, str) and namespace != project:
                problems.append(
                    f"{describe(resource)} of project {project!r} is granted project {namespace!r}: grant only its own"
                )
    return problems


HARBOR_ROBOT = ResourceRule(
    name="harbor-robot-expiry-scope",
    description="Harbor robot accounts expire and are scoped to their own project.",
    check=check_robot,
    config={
        "maxDurationDays": {
            "type": "integer",
            "minimum": 1,
            "default": 365,
            "description": "longest robot lifetime in days",
        }
    },
)

RULES: list[Rule] = [
    NO_SECRETS_IN_CONFIGMAP,
    NO_SECRET_LITERAL_ENV,
    NO_SECRET_DATA_FLOW,
    SECRET_OUTPUTS,
    HARBOR_ROBOT,
]
