"""Each resource converted once per analyzer request, not once per policy.

pulumi-policy 1.21.0 runs every policy of the pack on its own copy of the request: for each
of our 29 resource rules `Analyze` converts the resource's protobuf properties to a dict
(`json_format.MessageToDict`, pure Python), deserializes them, wraps them in the
unknown-checking proxy and converts the provider's properties the same way; `AnalyzeStack`
does all of that for every resource of the stack once per stack rule (13). Our adapters
(`policy.pack`) then turned each proxy into plain data again, per policy. Measured with
py-spy on the benchmark's 20-app preview (bench/README.md): 70% of the analyzer's CPU was
this repetition, and the analyzer's CPU is what the policy pack adds to a preview.

`install()` wraps the SDK's `Analyze` and `AnalyzeStack` so that, for the duration of one
request (one gRPC worker thread), those steps are memoized by the identity of their input:
the request's protobuf messages (the upb runtime hands out the same wrapper object for a
field on every access), then each step's result. A memo lives only as long as its request
and holds its inputs, so an identity is never reused within it; nothing is cached across
requests, so a resource analyzed again (preview, then update) is converted afresh. Every
policy still runs and reports exactly as before; the results are read-only for the rules
(`Res` is frozen, our validations never write to the proxies).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, TypeVar

import pulumi_policy.policy as sdk_policy
from google.protobuf import json_format
from pulumi.runtime.proto import analyzer_pb2

T = TypeVar("T")

_local = threading.local()


@contextmanager
def _request() -> Iterator[None]:
    outer = getattr(_local, "memo", None)
    _local.memo = {} if outer is None else outer
    try:
        yield
    finally:
        _local.memo = outer


def once(step: str, source: object, compute: Callable[[], T]) -> T:
    """`compute()` for `source`, computed once per analyzer request (every time outside one)."""
    memo: dict[tuple[str, int], tuple[object, Any]] | None = getattr(_local, "memo", None)
    if memo is None:
        return compute()
    key = (step, id(source))
    hit = memo.get(key)
    if hit is None:
        hit = memo[key] = (source, compute())  # holds `source`: its id stays its own
    result: T = hit[1]
    return result


def _per_request(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: Any) -> Any:
        with _request():
            return method(self, request, context)

    return wrapper


def _message_to_dict(message: Any, **kwargs: Any) -> Any:
    step = f"dict{sorted(kwargs.items())}" if kwargs else "dict"
    return once(step, message, lambda: json_format.MessageToDict(message, **kwargs))


def _once_per_request(step: str, method: Callable[[Any, Any], T]) -> Callable[[Any, Any], T]:
    """`method(self, request)` computed once per request message."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any) -> T:
        return once(step, request, lambda: method(self, request))

    return wrapper


def _remediating(method: Callable[..., Any]) -> Callable[..., Any]:
    """`Remediate` that answers at once when no policy is at the remediate level. The engine
    calls it for every resource before `Analyze` (resource/deploy/step_generator.go); the SDK
    converts the resource's properties, options and provider first, then skips every policy
    that does not remediate and answers an empty response: the same answer, without the
    conversions. Whether any policy remediates is worked out once per configuration: the
    SDK's `Configure` replaces its table of configured levels, which is the cache's key."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: Any) -> Any:
        levels = self._PolicyAnalyzerServicer__policy_pack_config_enforcement_level  # the SDK's name-mangled table
        known: tuple[object, bool] | None = getattr(self, "_paif_remediates", None)
        if known is None or known[0] is not levels:
            policies = self._PolicyAnalyzerServicer__policies
            remediate = sdk_policy.EnforcementLevel.REMEDIATE
            known = (levels, any(self._get_enforcement_level(p) == remediate for p in policies))
            self._paif_remediates = known
        return method(self, request, context) if known[1] else analyzer_pb2.RemediateResponse()

    return wrapper


def install() -> None:
    """Memoize the SDK's per-policy conversions within each Analyze/AnalyzeStack request.
    Call after `policy.secretness.install()`, whose deserializer this wraps."""
    deserialize = sdk_policy.deserialize_properties  # type: ignore[attr-defined]
    proxy = sdk_policy.unknown_checking_proxy  # type: ignore[attr-defined]

    def deserialize_once(props: Any, proxy_secrets: bool = False) -> Any:
        return once(f"deserialize{proxy_secrets}", props, lambda: deserialize(props, proxy_secrets))

    def proxy_once(props: Any) -> Any:
        return once("proxy", props, lambda: proxy(props))

    sdk_policy.json_format = SimpleNamespace(MessageToDict=_message_to_dict)  # type: ignore[attr-defined]
    sdk_policy.deserialize_properties = deserialize_once  # type: ignore[attr-defined]
    sdk_policy.unknown_checking_proxy = proxy_once  # type: ignore[attr-defined]
    servicer = sdk_policy._PolicyAnalyzerServicer
    # The resource's options and its provider, which the SDK reads from the request per policy.
    options, provider = servicer._get_resource_options, servicer._get_provider_resource
    servicer._get_resource_options = _once_per_request("options", options)  # type: ignore[method-assign,assignment]
    servicer._get_provider_resource = _once_per_request("provider", provider)  # type: ignore[method-assign,assignment]
    servicer.Analyze = _per_request(servicer.Analyze)  # type: ignore[method-assign]
    servicer.AnalyzeStack = _per_request(servicer.AnalyzeStack)  # type: ignore[method-assign]
    servicer.Remediate = _remediating(servicer.Remediate)  # type: ignore[method-assign]
