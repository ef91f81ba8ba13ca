"""Secrets handling: secrets live in Secrets and in Pulumi secret outputs, nowhere else.

Three kinds of evidence, each owned by one rule so that one leak is reported once:
- names and shapes (no-secrets-in-configmap, no-secret-literal-env): a setting called like a
  secret whose value could be one (`DB_PASSWORD: hunter2`, not `TOKEN_LIMIT: "8192"`), or a
  value shaped like one (a PEM key, a token, a URL with a password; base64 `binaryData`
  decoded first, a DER certificate or key store too); a value that is a config file (YAML,
  JSON, .env, .properties, .ini) is judged by its settings, with references (`${VAR}`, a
  file path, a placeholder) and the names of where a secret is kept (`existingSecret`) passing;
- secret-ness (no-secret-data-flow): a ConfigMap value or literal env value that the engine
  marks as a Pulumi secret (`policy/secretness.py`), that is computed from a resource that
  generates secrets (`property_dependencies`, when the marker was dropped with `unsecret`),
  or that equals a secret the stack holds (a resource's, or a secure config value); what the
  first rules already report is left out;
- a Kubernetes Secret filled from a plain config value or a literal (secret-outputs-marked), so
  the plaintext sits in the stack's config and in the state's inputs. The kubernetes
  provider's Check marks every Secret value secret whatever went in, so on the real engine a
  value equal to a plain config value is what shows it (the stack config the engine hands the
  pack, `STACK_CONFIG`); a missing marker shows it where the marker survives.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import yaml

from policy.rules.common import (
    DYNAMIC,
    STACK_CONFIG,
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
    is_secret,
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
        # settings *about* secrets: TOKEN_LIMIT, PASSWORD_MIN_LENGTH, API_KEY_ROTATION_DAYS ...
        "limit",
        "limits",
        "max",
        "min",
        "count",
        "size",
        "bytes",
        "budget",
        "window",
        "interval",
        "period",
        "days",
        "hours",
        "minutes",
        "lifetime",
        "expires",
        "expiration",
        "duration",
        "retries",
        "attempts",
        "rate",
        "quota",
        "threshold",
        "enabled",
        "mode",
        "version",
        "format",
        "encoding",
        "algorithm",
        "prefix",
        "kind",
        # how secrets are kept or handled: PASSWORD_POLICY, SECRET_STORE, PASSWORD_HASHER ...
        "policy",
        "policies",
        "store",
        "backend",
        "provider",
        "manager",
        "hasher",
        "scheme",
        "method",
        "strategy",
        "rotation",
        "complexity",
        "rules",
        "pattern",
        "location",
        "dir",
        "namespace",
    ]
)
# What a Kubernetes Secret named by `<word>_SECRET` holds: the key names the object, not a secret.
_SECRET_OBJECT_CONTENTS = frozenset(
    {"password", "passwords", "credential", "credentials", "tls", "cert", "certificate", "pull", "kubeconfig"}
)
# Values no secret looks like: numbers, booleans, switches, quantities and durations.
_NOT_SECRET_VALUE = re.compile(
    r"-?[0-9]+(\.[0-9]+)?([eE][0-9]+|ms|s|m|h|d|w|Ki|Mi|Gi|Ti|k|M|G|T|%)?"
    r"|true|false|yes|no|on|off|none|null|enabled?|disabled?",
    re.IGNORECASE,
)
_SECRET_VALUES = [
    (re.compile(r"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----"), "a PEM private key"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), "a JSON web token"),
    (re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@", re.I), "a URL with an embedded password"),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "an AWS access key"),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"), "a GitHub token"),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), "a Slack token"),
    (re.compile(r"^(Basic|Bearer)\s+[A-Za-z0-9+/=._-]{16,}$"), "an HTTP credential"),
]
# Below this length a match between a plaintext value and a secret is likely a coincidence.
MIN_SECRET_LENGTH = 8
# Secret keys whose values are public by design (certificates).
_PUBLIC_SECRET_KEYS = frozenset({"tls.crt", "ca.crt"})
# A Secret entry whose key ends in one of these names *where* or *who*, not a credential
# (unless its value looks like one).
_PUBLIC_SECRET_WORDS = frozenset(
    {
        "user",
        "username",
        "host",
        "hostname",
        "port",
        "database",
        "dbname",
        "namespace",
        "name",
        "region",
        "crt",
    }
)
_PEM_IN_BINARY = [
    (re.compile(rb"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----"), "a PEM private key"),
    (re.compile(rb"-----BEGIN ([A-Z0-9]+ )*CERTIFICATE-----"), "a PEM certificate"),
]
# Java key stores: JKS and JCEKS magic numbers.
_KEYSTORE_MAGIC = (b"\xfe\xed\xfe\xed", b"\xce\xce\xce\xce")

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
    if len(words) > 1 and words[-1] in ("secret", "secrets") and words[-2] in _SECRET_OBJECT_CONTENTS | {"existing"}:
        return False  # DB_PASSWORD_SECRET, TLS_SECRET, existingSecret: the Kubernetes Secret that holds it
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


def plainly_not_secret(value: Any) -> bool:
    """Whether `value` cannot be a secret whatever its name: empty, a number, a boolean, a
    quantity or a duration (`TOKEN_LIMIT: "8192"`, `PASSWORD_ROTATION: 30d`)."""
    if isinstance(value, bool | int | float) or value is None:
        return True
    return isinstance(value, str) and (not value.strip() or bool(_NOT_SECRET_VALUE.fullmatch(value.strip())))


def named_like_a_secret(key: str, value: Any) -> bool:
    """A secret by its name: the name says so and the value could be one (names alone
    misfire on settings about secrets)."""
    return secret_looking_key(key) and not plainly_not_secret(value)


def _der_structure(blob: bytes) -> bool:
    """Whether `blob` is one DER/BER ASN.1 SEQUENCE (a certificate, a PKCS#8 key, a PKCS#12
    store): tag 0x30 and a length that accounts for the whole blob."""
    if len(blob) < 4 or blob[0] != 0x30:
        return False
    first_len = blob[1]
    if first_len == 0x80:
        return blob.endswith(b"\x00\x00")
    if first_len < 0x80:
        return len(blob) == 2 + first_len
    count = first_len & 0x7F
    if not 1 <= count <= 4 or len(blob) < 2 + count:
        return False
    return len(blob) == 2 + count + int.from_bytes(blob[2 : 2 + count], "big")


def _decoded_text(blob: bytes) -> str | None:
    try:
        return blob.decode()
    except UnicodeDecodeError:
        return None


def binary_key_material(encoded: Any) -> str | None:
    """What key or certificate a base64 `binaryData` value holds (PEM or DER, a key store)."""
    try:
        blob = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else b""
    except (binascii.Error, ValueError):
        blob = b""
    found = next((what for pattern, what in _PEM_IN_BINARY if pattern.search(blob)), None)
    if found is None and blob.startswith(_KEYSTORE_MAGIC):
        found = "a Java key store"
    if found is None and _der_structure(blob):
        found = "a DER certificate or key (ASN.1)"
    return found or secret_looking_value(_decoded_text(blob))


# One `NAME=value`, `name: value` or `name = value` line of a .env, .properties or .ini file.
_FILE_SETTING = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*[=:]\s*(.*?)\s*$")
# What a config file writes where the value comes from elsewhere: a value that uses ${VAR},
# $VAR, $(cmd), {{ template }} or %(name)s, or is a <placeholder> or a file path.
_USES_REFERENCE = re.compile(r"\$\{|\$\(|\$[A-Za-z_]|\{\{|%\([^)]*\)s")
_REFERENCE = re.compile(r"<[^<>]*>|/\S*|file:\S*")


def _scalars(document: Any) -> Iterator[tuple[str, Any]]:
    """(name, value) of every scalar entry of a parsed document's mappings, walking at most
    MAX_FILE_SETTINGS nodes."""
    stack, budget = [document], MAX_FILE_SETTINGS
    while stack and budget > 0:
        node = stack.pop()
        budget -= 1
        if isinstance(node, Mapping):
            for name, value in node.items():
                if isinstance(value, Mapping | list):
                    stack.append(value)
                else:
                    yield str(name), value
        elif isinstance(node, list):
            stack.extend(reversed(node))


# ConfigMap keys that name a config file: its one line is a setting, not a plain value.
_CONFIG_FILE = re.compile(r"(^|\.)(env|properties|ini|conf|cfg|ya?ml|json|toml)$", re.IGNORECASE)
MAX_FILE_SETTINGS = 10_000
"""The most mappings and lists walked in one value: YAML aliases can make a small document's
tree exponentially large (a "billion laughs"), and a policy check must stay bounded."""


def file_settings(text: Any, file_name: str = "") -> Iterator[tuple[str, Any]]:
    """The settings of a config file held in one value: a JSON or YAML document's scalar
    entries, else its `NAME=value` / `name: value` / `name = value` lines (.env, .properties,
    .ini). Nothing for a single plain value, unless `file_name` (a ConfigMap key) names a
    config file."""
    if not isinstance(text, str):
        return
    stripped = text.strip()
    if "\n" not in stripped and not stripped.startswith(("{", "[")) and not _CONFIG_FILE.search(file_name):
        return
    try:
        document = json.loads(stripped)
    except ValueError:
        try:
            document = yaml.safe_load(stripped)
        except yaml.YAMLError:
            document = None
    if isinstance(document, Mapping | list):
        yield from _scalars(document)
        return
    for line in stripped.splitlines():
        if not line.lstrip().startswith(("#", ";", "//", "[")) and (match := _FILE_SETTING.match(line)):
            yield match[1], match[2].strip("'\"")


def _names_its_secret(name: str, value: Any) -> bool:
    """A `...Key` setting whose value repeats its secret word names the key a secret is kept
    under (`adminPasswordKey: admin-password`, `tokenKey: token`), as chart values do; a
    `password: password123` is a (weak) password all the same."""
    words = _words(name)
    secret_words = set(words[:-1]) & _SECRET_WORDS
    return (
        len(words) > 1
        and words[-1] == "key"
        and isinstance(value, str)
        and any(word in value.lower() for word in secret_words)
    )


def file_setting_problem(text: Any, file_name: str = "") -> str | None:
    """The first setting of a config file in `text` named like a secret and given a value
    that could be one (not a reference to a variable, a template or a file, nor the name of
    the place the secret is kept)."""
    for name, value in file_settings(text, file_name):
        reference = isinstance(value, str) and (
            bool(_USES_REFERENCE.search(value)) or bool(_REFERENCE.fullmatch(value.strip()))
        )
        if named_like_a_secret(name, value) and not reference and not _names_its_secret(name, value):
            return name
    return None


def configmap_problem(section: str, key: str, value: Any) -> str | None:
    """Why a ConfigMap entry holds a secret by its name or shape, or None."""
    if section == "binaryData":
        what = binary_key_material(value)
        return None if what is None else f"binaryData key '{key}' holds {what}"
    if named_like_a_secret(key, value):
        return f"has the secret-looking key '{key}'"
    what = secret_looking_value(value)
    if what is not None:
        return f"key '{key}' holds {what}"
    setting = file_setting_problem(value, key)
    return None if setting is None else f"key '{key}' holds a file that sets the secret-looking '{setting}'"


def env_problem(name: str, value: Any) -> str | None:
    """Why a literal env value is a secret by its name or shape, or None."""
    if named_like_a_secret(name, value):
        return f"sets the secret-looking env {name} literally"
    what = secret_looking_value(value)
    if what is not None:
        return f"env {name} holds {what}"
    setting = file_setting_problem(value)
    return None if setting is None else f"env {name} holds settings with the secret-looking '{setting}'"


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
            if key not in allowed and (problem := configmap_problem(section, key, value)) is not None:
                problems.append(f"{describe(resource)} {problem}: move it to a Secret")
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
            if name not in allowed and (problem := env_problem(name, value)) is not None:
                where = f"{container.kind} '{container.name}' of {describe(resource)}"
                problems.append(f"{where} {problem}: use valueFrom.secretKeyRef")
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


class _Setting(NamedTuple):
    where: str
    section: str
    """data / binaryData of a ConfigMap, spec of a workload."""
    value: Any
    named_or_shaped: bool
    """Whether no-secrets-in-configmap / no-secret-literal-env reports it already."""


def _settings(resource: Res) -> Iterator[_Setting]:
    """Each ConfigMap data value and literal env value of a resource."""
    if k8s_kind(resource.type) == "ConfigMap":
        for section in ("data", "binaryData"):
            data = resource.props.get(section)
            if isinstance(data, Mapping):
                for key, value in data.items():
                    flagged = configmap_problem(section, key, value) is not None
                    yield _Setting(f"{describe(resource)} {section}.{key}", section, value, flagged)
    for _, container in workload_containers(resource):
        for name, value in literal_env(container):
            where = f"{container.kind} '{container.name}' of {describe(resource)} env {name}"
            yield _Setting(where, "spec", value, env_problem(name, value) is not None)


def check_secret_data_flow(resources: Sequence[Res], ctx: Context) -> list[Violation]:
    producers = set(ctx.strings("producerTypes"))
    by_urn = {r.urn: r for r in resources}
    secrets: list[tuple[str, str | None, str]] = [
        (describe(r), r.urn, value) for r in resources for value in known_secret_values(r)
    ]
    # The stack's secure config values too (a copy that lost its marker: unsecret, a literal).
    secrets += [
        (f"the secret config key {key}", None, value)
        for key, value in STACK_CONFIG.secret.items()
        if len(value) >= MIN_SECRET_LENGTH
    ]
    violations: list[Violation] = []
    for resource in resources:
        settings = list(_settings(resource))
        marked = {s.section for s in settings if is_secret(s.value)}
        for setting in settings:
            if setting.named_or_shaped:
                continue
            if is_secret(setting.value):
                violations.append(
                    Violation(
                        f"{setting.where} is a Pulumi secret in plaintext: put it in a Secret and reference it "
                        "with secretKeyRef (envFrom secretRef)",
                        resource.urn,
                    )
                )
                continue
            if not isinstance(setting.value, str):
                continue
            holder = next(
                (label for label, urn, secret in secrets if urn != resource.urn and secret in setting.value), None
            )
            if holder is not None:
                violations.append(
                    Violation(
                        f"{setting.where} holds the plaintext of a secret of {holder}: "
                        "reference the Secret (secretKeyRef / envFrom secretRef) instead",
                        resource.urn,
                    )
                )
        if k8s_kind(resource.type) != "ConfigMap":
            continue
        # A section computed from a secret producer whose values carry no marker: unsecret'ed.
        for section in ("data", "binaryData"):
            in_section = [s for s in settings if s.section == section]
            # Skipped only when the markers are there or every value is already reported by
            # name or shape (an unknown, unmarked value next to a reported one still counts:
            # a preview may not know a generated value, nor carry its marker).
            if section in marked or (in_section and all(s.named_or_shaped for s in in_section)):
                continue
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


def _public_secret_entry(key: str, value: Any) -> bool:
    if key in _PUBLIC_SECRET_KEYS:
        return True
    words = _words(key)
    return bool(words) and words[-1] in _PUBLIC_SECRET_WORDS and secret_looking_value(value) is None


def _secret_values(resource: Res) -> Iterator[tuple[str, str, str, str]]:
    """(section, key, value as given, value decoded) of each string value of a Kubernetes
    Secret, the public entries (a CA certificate, a user name) left out."""
    if k8s_kind(resource.type) != "Secret":
        return
    for section in ("data", "stringData"):
        values = resource.props.get(section)
        if not isinstance(values, Mapping):
            continue
        for key, value in values.items():
            if isinstance(value, str) and not _public_secret_entry(key, value):
                yield section, key, value, _decoded(section, value)


def plain_secret_entries(resource: Res) -> Iterator[str]:
    """`section.key` of each value of a Kubernetes Secret that is not a Pulumi secret.

    Only where markers survive (a program's own inputs, mocks): the kubernetes provider's Check
    marks every value of a Secret secret; `config_filled_entries` covers the real engine."""
    for section, key, value, shown in _secret_values(resource):
        if not is_secret(value) and (secret_looking_key(key) or not plainly_not_secret(shown)):
            yield f"{section}.{key}"


def config_filled_entries(resource: Res) -> Iterator[str]:
    """`section.key (from <config key>)` of each value of a Kubernetes Secret equal to a plain
    (not secure) value of the stack's config: whatever marker the provider put on it, its
    plaintext sits in the stack file."""
    if not STACK_CONFIG.plain:
        return
    for section, key, _value, shown in _secret_values(resource):
        source = next(
            (k for k, v in STACK_CONFIG.plain.items() if len(v) >= MIN_SECRET_LENGTH and v == shown), None
        )
        if source is not None:
            yield f"{section}.{key} (the plain config value of {source})"


HELM_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")
# The last word of a Helm value's key that says the value is a credential. "secret" is not one:
# in charts' values `existingSecret`, `secretName` name a Secret, they do not hold one.
_CREDENTIAL_WORDS = frozenset(
    {"password", "passwd", "passphrase", "pwd", "token", "apikey", "credential", "credentials"}
)


def credential_key(key: str) -> bool:
    """Whether a chart value's key says it holds a credential (adminPassword, apiToken,
    secretKey), not a reference to one (existingSecret, passwordKey, existingSecretKey)."""
    words = _words(key)
    if not words or words[0] == "existing":
        return False
    return words[-1] in _CREDENTIAL_WORDS or (len(words) > 1 and (words[-2], words[-1]) in _SECRET_PAIRS)


def helm_value_credentials(resource: Res) -> Iterator[str]:
    """`values.<path>` of each plaintext credential in a Helm release's values: a value shaped
    like a secret (a PEM key, a token), or a literal under a credential's key."""
    if resource.type not in HELM_TYPES:
        return

    def walk(node: Any, path: str, key: str) -> Iterator[str]:
        if isinstance(node, Mapping):
            for k, v in node.items():
                yield from walk(v, f"{path}.{k}", str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from walk(v, f"{path}[{i}]", key)
        elif isinstance(node, str) and not is_secret(node) and not is_unknown(node):
            what = secret_looking_value(node)
            if what is not None:
                yield f"{path} ({what})"
            elif credential_key(key) and not plainly_not_secret(node):
                yield path

    yield from walk(resource.props.get("values"), "values", "")


def check_secret_outputs(resource: Res, _ctx: Context) -> list[str]:
    filled = list(config_filled_entries(resource))
    named = {entry.split(" ", 1)[0] for entry in filled}
    helm = list(helm_value_credentials(resource))
    if plain := [*filled, *(entry for entry in plain_secret_entries(resource) if entry not in named), *helm]:
        return [
            f"{describe(resource)} {', '.join(plain)} {'is' if len(plain) == 1 else 'are'} not a Pulumi secret "
            "(a plain config value or a literal), so the plaintext sits in the stack config or program and in "
            "the state's inputs: set it with `pulumi config set --secret` and read it with require_secret "
            "(or wrap it in pulumi.Output.secret)"
        ]
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
    description="Generated secrets, credentials and Secret values (robot secrets, passwords, keys) are Pulumi secrets.",
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
