"""The analyzer converts each resource once per request and answers exactly as before.

Drives the SDK's own servicer (`_PolicyAnalyzerServicer`, what the engine talks to) with the
whole pack, once as the SDK ships it and once with `request_scope.install()`, on the same
protobuf requests, and compares the answers and the number of conversions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pulumi_policy.policy as sdk_policy
import pytest
from google.protobuf import json_format
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel

from policy import request_scope, secretness
from policy.pack import build_policies
from tests.policy.builders import container, deployment_props, urn

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
PROVIDER = "pulumi:providers:kubernetes"


def _request(type_: str, name: str, props: dict[str, Any]) -> analyzer_pb2.AnalyzeRequest:
    request = analyzer_pb2.AnalyzeRequest(type=type_, urn=urn(type_, name), name=name)
    request.properties.update(props)
    request.provider.type = PROVIDER
    request.provider.urn = urn(PROVIDER, "workload")
    request.provider.name = "workload"
    request.provider.properties.update({"namespace": "paif", "kubeconfig": "unknown-in-tests"})
    return request


def _requests() -> list[analyzer_pb2.AnalyzeRequest]:
    unlimited = container()
    unlimited.pop("resources", None)  # a violation for the limits rules to report
    return [
        _request(DEPLOYMENT, "chat-backend", deployment_props()),
        _request(DEPLOYMENT, "chat-worker", deployment_props(containers=[unlimited])),
        _request(CONFIG_MAP, "chat-config", {"metadata": {"name": "chat-config"}, "data": {"LOG_LEVEL": "info"}}),
    ]


def _stack_request(requests: list[analyzer_pb2.AnalyzeRequest]) -> analyzer_pb2.AnalyzeStackRequest:
    stack = analyzer_pb2.AnalyzeStackRequest()
    for request in requests:
        resource = stack.resources.add(type=request.type, urn=request.urn, name=request.name)
        resource.properties.CopyFrom(request.properties)
        resource.provider.CopyFrom(request.provider)
    return stack


def _servicer() -> Any:
    return sdk_policy._PolicyAnalyzerServicer("paif", "0.0.1", build_policies(), EnforcementLevel.MANDATORY, None)


def _answers(servicer: Any) -> list[str]:
    requests = _requests()
    answers = [str(servicer.Analyze(r, None)) for r in requests]
    answers.append(str(servicer.AnalyzeStack(_stack_request(requests), None)))
    return answers


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The SDK as shipped (with our secret markers), counting its protobuf conversions."""
    calls = [0]
    convert = json_format.MessageToDict

    def message_to_dict(message: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return convert(message, **kwargs)

    for name in ("json_format", "deserialize_properties", "unknown_checking_proxy"):
        monkeypatch.setattr(sdk_policy, name, vars(sdk_policy)[name])
    for name in ("Analyze", "AnalyzeStack", "Remediate"):
        monkeypatch.setattr(sdk_policy._PolicyAnalyzerServicer, name, vars(sdk_policy._PolicyAnalyzerServicer)[name])
    monkeypatch.setattr(json_format, "MessageToDict", message_to_dict)
    secretness.install()
    yield calls


def test_same_answers_with_each_resource_converted_once_per_request(counted: list[int]) -> None:
    before = _answers(_servicer())
    conversions_before = counted[0]
    request_scope.install()
    counted[0] = 0
    after = _answers(_servicer())
    # 3 resources, each with its provider: 2 conversions per Analyze, 6 for the stack.
    assert counted[0] == 3 * 2 + 6
    assert conversions_before > 10 * counted[0]
    assert after == before
    # The answers say something: the worker without limits is reported, the backend is not.
    assert 'policyName: "container-resources"' in before[1]
    assert 'policyName: "container-resources"' not in before[0]


def test_nothing_is_kept_between_requests(counted: list[int]) -> None:
    request_scope.install()
    servicer = _servicer()
    request = _requests()[0]
    servicer.Analyze(request, None)
    first = counted[0]
    servicer.Analyze(request, None)  # the same message again: converted afresh
    assert counted[0] == 2 * first == 4


def test_outside_a_request_every_call_computes() -> None:
    source = object()
    results = [request_scope.once("step", source, object) for _ in range(2)]
    assert results[0] is not results[1]


def test_remediate_answers_the_same_without_converting_when_no_policy_remediates(counted: list[int]) -> None:
    """The engine calls Remediate for every resource before Analyze; no rule of ours remediates."""
    before = [str(_servicer().Remediate(request, None)) for request in _requests()]
    assert counted[0] >= 3, "the SDK converts each resource before it finds nothing to run"
    request_scope.install()
    counted[0] = 0
    after = [str(_servicer().Remediate(request, None)) for request in _requests()]
    assert after == before == ["", "", ""]
    assert counted[0] == 0


def test_a_policy_at_the_remediate_level_still_gets_the_sdks_remediate(counted: list[int]) -> None:
    request_scope.install()
    servicer = _servicer()
    assert str(servicer.Remediate(_requests()[0], None)) == "" and counted[0] == 0
    # A configuration that makes a policy remediate is seen by the next call.
    configure = analyzer_pb2.ConfigureAnalyzerRequest()
    configure.policyConfig["container-resources"].enforcementLevel = analyzer_pb2.REMEDIATE
    servicer.Configure(configure, None)
    answer = servicer.Remediate(_requests()[0], None)
    assert counted[0] > 0
    assert [n.policy_name for n in answer.not_applicable] == ["container-resources"]
