"""Secret-ness for the rules: which property values are Pulumi secrets.

What the engine gives an analyzer: every property with its secret marker. The engine
(pulumi sdk/go/common/resource/plugin/analyzer_plugin.go, v3.274.1) marshals the properties
of `Analyze` and `AnalyzeStack` with `KeepSecrets: true`, so a secret arrives as
`{"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": ...}`,
an unknown secret (a password a preview has not generated) with the unknown sentinel as its
value. The Kubernetes provider's Check keeps the markers of the program's inputs
(`annotateSecrets`); only its *outputs* of a Secret are all marked, whatever went in.

What the Python policy SDK hands a validation: plain values. pulumi-policy 1.21.0's
`Analyze`/`AnalyzeStack` call `deserialize_properties(...)` without `proxy_secrets`, which
unwraps every secret; `ResourceValidationArgs` and `PolicyResource` carry no marker.

So the pack deserializes the engine's properties itself: `install()` replaces the SDK
module's `deserialize_properties` (the name `Analyze` and `AnalyzeStack` look up at call time)
with one that keeps the markers as `SecretText` strings and `SECRET_UNKNOWN`; everything else
deserializes exactly as before (tests/policy/test_pack.py checks both against the SDK).
Numbers and booleans stay plain: no rule needs their secret-ness.

What no marker shows: a Kubernetes Secret filled from a *plain* config value. The provider's
Check marks a Secret's `data`/`stringData` secret whatever went in (`annotateSecrets`, the
Secret-kind branch), so the pack sees a marker either way. The engine also hands every policy
pack the stack's decrypted configuration and which keys are secure (`ConfigureStack`,
engine/update.go `PolicyAnalyzerOptions`), which pulumi-policy 1.21.0 drops (it keeps the
tags): `install()` wraps that call to keep them in `STACK_CONFIG`, in memory only. A rule may
compare values with it and name a key; it never prints a value.
"""

from __future__ import annotations

from typing import Any

import pulumi_policy.policy as sdk_policy
from pulumi_policy.deserialize import (
    SPECIAL_SECRET_SIG,
    SPECIAL_SIG_KEY,
    _deserialize_property,
    deserialize_properties,
)

from policy.rules.common import SECRET_UNKNOWN, SENTINELS, STACK_CONFIG, SecretText

_SDK_DESERIALIZE = deserialize_properties


def _keeping_secrets(prop: Any, secret: bool) -> Any:
    if isinstance(prop, list):
        return [_keeping_secrets(item, secret) for item in prop]
    if isinstance(prop, dict):
        signature = prop.get(SPECIAL_SIG_KEY)
        if signature == SPECIAL_SECRET_SIG:
            return _keeping_secrets(prop.get("value"), True)
        if signature is not None:
            return _deserialize_property(prop)  # assets and archives
        return {key: _keeping_secrets(value, secret) for key, value in prop.items()}
    if secret and isinstance(prop, str):
        return SECRET_UNKNOWN if prop in SENTINELS else SecretText(prop)
    return prop


def deserialize_keeping_secrets(props: dict[str, Any], proxy_secrets: bool = False) -> Any:
    """The SDK's `deserialize_properties`, with secret strings as `SecretText` and unknown
    secrets as `SECRET_UNKNOWN` (secrets inside a secret object or list included)."""
    if proxy_secrets:  # remediations: the SDK's own secret-preserving proxies
        return _SDK_DESERIALIZE(props, proxy_secrets)
    return {key: _keeping_secrets(value, False) for key, value in props.items()}


_SDK_CONFIGURE_STACK = sdk_policy._PolicyAnalyzerServicer.ConfigureStack


def _configure_stack(self: Any, request: Any, context: Any) -> Any:
    STACK_CONFIG.record(dict(request.config), set(request.config_secret_keys))
    return _SDK_CONFIGURE_STACK(self, request, context)


def install() -> None:
    """Make the SDK's analyzer hand our validations secret-marked values, and keep the
    stack's configuration the engine sends."""
    sdk_policy.deserialize_properties = deserialize_keeping_secrets  # type: ignore[attr-defined]
    sdk_policy._PolicyAnalyzerServicer.ConfigureStack = _configure_stack  # type: ignore[method-assign,assignment]
