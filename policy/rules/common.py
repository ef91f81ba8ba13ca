"""What every rule module shares: the plain view of a resource, the rule types, unknown
values, and helpers for Kubernetes workloads, label selectors and resource types.

Rule functions take plain data (`Res`, `Context`) and return messages, so they are tested
without the engine; `policy.pack` adapts them to the SDK's validation policies.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple

from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

from policy.request_scope import once

DYNAMIC = "pulumi-python:dynamic"
SENTINELS: Final = frozenset(
    {
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_STRING_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_OBJECT_VALUE,
    }
)


class Unknown:
    """A value not known until apply (an output of a resource a preview has not created).

    Rules never report a violation from an unknown value: the engine runs the pack again
    during `up`, when the value is known. Its secret-ness is known, though (SECRET_UNKNOWN).
    """

    def __init__(self, *, secret: bool = False) -> None:
        self.secret = secret

    def __repr__(self) -> str:
        return "<unknown secret>" if self.secret else "<unknown>"


UNKNOWN: Final = Unknown()
SECRET_UNKNOWN: Final = Unknown(secret=True)
"""A Pulumi secret whose value a preview does not know yet (a generated password)."""


class SecretText(str):
    """A string the engine sent as a Pulumi secret (see policy/secretness.py): it compares,
    matches and prints like the plaintext it is, and says that it is a secret."""

    __slots__ = ()


def is_unknown(value: Any) -> bool:
    return isinstance(value, Unknown)


def is_secret(value: Any) -> bool:
    """Whether the engine marked `value` as a Pulumi secret (known or not)."""
    return isinstance(value, SecretText) or (isinstance(value, Unknown) and value.secret)


def plain(value: Any) -> Any:
    """`value` with the SDK's proxies turned into dicts and lists and unknowns into UNKNOWN.

    The SDK wraps properties in proxies that raise UnknownValueError on access to an
    unknown value; reading each item here, once, confines that to one place.
    """
    if isinstance(value, str):
        return UNKNOWN if value in SENTINELS else value
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key in value:
            try:
                item = value[key]
            except UnknownValueError:
                item = UNKNOWN
            result[str(key)] = plain(item)
        return result
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        items: list[Any] = []
        for index in range(len(value)):
            try:
                item = value[index]
            except UnknownValueError:
                item = UNKNOWN
            items.append(plain(item))
        return items
    return value


@dataclass(frozen=True)
class Res:
    """One resource as a rule sees it: its type and properties (inputs in a resource rule,
    outputs in a stack rule) and the options and dependencies the engine reports."""

    type: str
    props: Mapping[str, Any]
    name: str = ""
    """The Pulumi (logical) name."""
    urn: str = ""
    protect: bool = False
    ignore_changes: tuple[str, ...] = ()
    secret_outputs: tuple[str, ...] = ()
    """The resource's `additional_secret_outputs`."""
    parent: str | None = None
    dependencies: tuple[str, ...] = ()
    """URNs this resource depends on."""
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Property name -> URNs whose outputs flowed into it."""
    provider: Mapping[str, Any] | None = None
    """The properties of the resource's provider, when the engine reports one."""
    inputs: Mapping[str, Any] | None = None
    """In a stack rule, the inputs resource validation saw (None when it saw none): what the
    program asked for, before a provider or the API server filled in defaults."""


@dataclass(frozen=True)
class Context:
    """What a rule knows about the stack it checks: its settings, i.e. the schema defaults
    merged with the stack's policy config (policy/config/<stack>.json)."""

    config: Mapping[str, Any] = field(default_factory=dict)

    def integer(self, key: str) -> int:
        # JSON numbers reach the pack as floats.
        return int(self.config[key])

    def flag(self, key: str) -> bool:
        return bool(self.config[key])

    def text(self, key: str) -> str:
        return str(self.config[key])

    def strings(self, key: str) -> list[str]:
        return [str(item) for item in self.config.get(key) or []]


@dataclass
class StackConfig:
    """The configuration of the stack under analysis, as the engine gave it to the pack
    (recorded by policy/secretness.py; empty where no engine called, e.g. unit tests)."""

    plain: dict[str, str] = field(default_factory=dict)
    """Key -> value of every key that is not secure."""
    secret: dict[str, str] = field(default_factory=dict)
    """Key -> decrypted value of every secure key (never printed)."""

    def record(self, config: dict[str, str], secret_keys: set[str]) -> None:
        self.plain = {k: v for k, v in config.items() if k not in secret_keys}
        self.secret = {k: v for k, v in config.items() if k in secret_keys}


STACK_CONFIG = StackConfig()


class Violation(NamedTuple):
    message: str
    urn: str | None = None
    """The resource the violation is about; None for the stack as a whole."""


class NotApplicable(Exception):
    """Raised by a check when the rule cannot apply to this stack (the reason is reported)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Level = Literal["advisory", "mandatory", "disabled"]
Schema = Mapping[str, Mapping[str, Any]]


def _merged(schema: Schema, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    config = {key: prop["default"] for key, prop in schema.items() if "default" in prop}
    config.update({k: v for k, v in (overrides or {}).items() if k != "enforcementLevel"})
    return config


@dataclass(frozen=True)
class ResourceRule:
    """A rule about one resource at a time."""

    name: str
    description: str
    check: Callable[[Res, Context], list[str]]
    """Returns one message per problem, each saying what to change."""
    config: Schema = field(default_factory=dict)
    """JSON-schema properties (each with a default) the stack's policy config may set."""
    prod_only: bool = False
    """Disabled outside prod by the stacks' policy config (policy/config/*.json)."""

    def evaluate(self, resource: Res, config: Mapping[str, Any] | None = None) -> list[str]:
        return self.check(resource, Context(_merged(self.config, config)))


@dataclass(frozen=True)
class StackRule:
    """A rule about the whole stack (relations between resources)."""

    name: str
    description: str
    check: Callable[[Sequence[Res], Context], list[Violation]]
    config: Schema = field(default_factory=dict)
    prod_only: bool = False

    def evaluate(self, resources: Sequence[Res], config: Mapping[str, Any] | None = None) -> list[Violation]:
        return self.check(resources, Context(_merged(self.config, config)))


Rule = ResourceRule | StackRule


# -- resource types ------------------------------------------------------------------------
def dynamic(module: str, name: str) -> str:
    """The type token of one of our dynamic resources, e.g. dynamic("harbor", "Project")."""
    return f"{DYNAMIC}/{module}:{name}"


def k8s_kind(type_: str) -> str | None:
    """`Deployment` for `kubernetes:apps/v1:Deployment`; None for non-Kubernetes types."""
    if not type_.startswith("kubernetes:"):
        return None
    return type_.rsplit(":", 1)[-1]


WORKLOAD_KINDS: Final = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
)
BATCH_KINDS: Final = frozenset({"Job", "CronJob"})


def get(value: Any, *path: str | int) -> Any:
    """value[path[0]][path[1]]...; None where a step is missing, UNKNOWN where one is unknown."""
    for step in path:
        if is_unknown(value):
            return UNKNOWN
        if isinstance(step, int):
            if not isinstance(value, list) or step >= len(value):
                return None
            value = value[step]
        else:
            if not isinstance(value, Mapping):
                return None
            value = value.get(step)
    return value


def listed(value: Any) -> list[Any]:
    """The items of a list value; none for anything else (unset, unknown, or a shape the API
    server would refuse), so a rule iterating a field never raises on a malformed object."""
    return value if isinstance(value, list) else []


def first(props: Mapping[str, Any], *keys: str) -> Any:
    """The value of the first of `keys` present in `props` (snake_case or camelCase names)."""
    for key in keys:
        if key in props:
            return props[key]
    return None


def truthy(value: Any) -> bool | None:
    """A boolean property as a bool (providers sometimes send "true"/"false"); None if unknown."""
    if is_unknown(value):
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def as_number(value: Any) -> float | None:
    """A number, or None when the value is missing, unknown or not numeric."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", value.strip()):
            return float(value)
        return None
    return float(value)


def show(value: Any) -> str:
    """A property value for a message: 2 rather than 2.0 (the engine sends numbers as floats)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


def object_name(resource: Res) -> str:
    """`namespace/name` of a Kubernetes object (metadata.name, else the Pulumi name)."""
    meta = resource.props.get("metadata")
    name = get(meta, "name")
    namespace = get(meta, "namespace")
    shown = name if isinstance(name, str) else resource.name
    return f"{namespace}/{shown}" if isinstance(namespace, str) else shown


def describe(resource: Res) -> str:
    kind = k8s_kind(resource.type) or resource.type.rsplit(":", 1)[-1]
    shown = object_name(resource) if resource.type.startswith("kubernetes:") else resource.name
    return f"{kind} '{shown}'"


def namespace_of(resource: Res) -> str | Unknown | None:
    """metadata.namespace; None when unset (the provider's default namespace)."""
    value = get(resource.props.get("metadata"), "namespace")
    if is_unknown(value):
        return UNKNOWN
    return value if isinstance(value, str) and value else None


def same_namespace(a: Res, b: Res) -> bool:
    """Whether two objects share a namespace; an unknown namespace could be any, so True."""
    ns_a, ns_b = namespace_of(a), namespace_of(b)
    return is_unknown(ns_a) or is_unknown(ns_b) or ns_a == ns_b


# -- workloads -------------------------------------------------------------------------------
@dataclass(frozen=True)
class PodTemplate:
    """The pod a workload runs: its spec and labels (UNKNOWN where not known)."""

    spec: Mapping[str, Any]
    labels: Mapping[str, Any] | Unknown
    annotations: Mapping[str, Any] = field(default_factory=dict)


def pod_template(resource: Res) -> PodTemplate | None:
    """The pod template of a workload (Deployment, StatefulSet, ..., Pod); None for anything else
    or when the template is unknown. Read once per analyzer request (every rule asks)."""
    return once("pod template", resource, lambda: _pod_template(resource))


def _pod_template(resource: Res) -> PodTemplate | None:
    kind = k8s_kind(resource.type)
    if kind not in WORKLOAD_KINDS:
        return None
    props = resource.props
    if kind == "Pod":
        template = props
    elif kind == "CronJob":
        template = get(props, "spec", "jobTemplate", "spec", "template")
    else:
        template = get(props, "spec", "template")
    spec, labels = get(template, "spec"), get(template, "metadata", "labels")
    if not isinstance(spec, Mapping):
        return None
    if not isinstance(labels, Mapping) and not is_unknown(labels):
        labels = {}
    annotations = get(template, "metadata", "annotations")
    return PodTemplate(spec=spec, labels=labels, annotations=annotations if isinstance(annotations, Mapping) else {})


@dataclass(frozen=True)
class Container:
    kind: Literal["container", "initContainer", "ephemeralContainer"]
    spec: Mapping[str, Any]

    @property
    def name(self) -> str:
        name = self.spec.get("name")
        return name if isinstance(name, str) else "?"


def containers(pod_spec: Mapping[str, Any], *, init: bool = True) -> Iterator[Container]:
    """The pod's containers (known ones), init and ephemeral containers included unless `init` is False."""
    groups: list[tuple[Literal["container", "initContainer", "ephemeralContainer"], str]] = [
        ("container", "containers")
    ]
    if init:
        groups += [("initContainer", "initContainers"), ("ephemeralContainer", "ephemeralContainers")]
    for kind, key in groups:
        items = pod_spec.get(key)
        if not isinstance(items, list):
            continue
        for item in items:
            if isinstance(item, Mapping):
                yield Container(kind=kind, spec=item)


def workload_containers(resource: Res, *, init: bool = True) -> Iterator[tuple[PodTemplate, Container]]:
    template = pod_template(resource)
    if template is None:
        return
    for container in containers(template.spec, init=init):
        yield template, container


def literal_env(container: Container) -> Iterator[tuple[str, Any]]:
    """(name, value) of each env entry given as a literal `value` (not valueFrom)."""
    env = container.spec.get("env")
    if not isinstance(env, list):
        return
    for entry in env:
        if isinstance(entry, Mapping) and "value" in entry and entry.get("valueFrom") is None:
            name = entry.get("name")
            yield (name if isinstance(name, str) else "?"), entry["value"]


# -- label selectors -------------------------------------------------------------------------
def selector_matches(selector: Any, labels: Any) -> bool | None:
    """Whether a LabelSelector selects pods with `labels`; None when either is unknown.

    An empty selector selects every pod; a missing one (None) selects none.
    """
    if is_unknown(selector) or is_unknown(labels):
        return None
    match_labels = (selector.get("matchLabels") or {}) if isinstance(selector, Mapping) else None
    expressions = (selector.get("matchExpressions") or []) if isinstance(selector, Mapping) else None
    if is_unknown(match_labels) or is_unknown(expressions):
        return None
    if not isinstance(match_labels, Mapping) or not isinstance(expressions, list):
        return False  # no selector, or not one the API server would take: it selects nothing
    labels = labels if isinstance(labels, Mapping) else {}
    result: bool | None = True
    for key, value in match_labels.items():
        if is_unknown(value) or is_unknown(labels.get(key)):
            result = None
        elif labels.get(key) != value:
            return False
    for expression in expressions:
        verdict = _expression_matches(expression, labels)
        if verdict is False:
            return False
        if verdict is None:
            result = None
    return result


def _expression_matches(expression: Any, labels: Mapping[str, Any]) -> bool | None:
    if not isinstance(expression, Mapping):
        return None
    key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values")
    if any(is_unknown(v) for v in (key, operator, values)) or not isinstance(key, str):
        return None
    values = listed(values)
    present = key in labels
    verdicts = {
        "Exists": present,
        "DoesNotExist": not present,
        "In": present and labels.get(key) in values,
        "NotIn": not present or labels.get(key) not in values,
    }
    return verdicts.get(str(operator))
