"""Every rule on objects of a shape the API server would refuse (a selector given as text, a
list given as a number): the pack reports or passes them, it never raises. Each shape here
raised in a rule before (found by mutating the corpus stacks one value at a time)."""

from __future__ import annotations

from typing import Any

import pytest

from policy.rules import ALL_RULES
from policy.rules.common import NotApplicable, Res, ResourceRule
from tests.policy.builders import changed, default_deny, deployment_props, pdb, res
from tests.policy.corpus import PROD_CONFIG, base, batch_job, cluster_admin_binding
from tests.policy.test_dlvm import changed as dlvm_changed
from tests.policy.test_dlvm import vm


def _with(resource: Res, path: str, value: Any) -> Res:
    return res(resource.type, changed(resource.props, path, value), name=resource.name)


def _job_dropping(drop: Any) -> Res:
    job = batch_job()
    return _with(job, "spec.template.spec.containers.0.securityContext.capabilities.drop", drop)


SHAPES = {
    "pdb-match-labels-text": lambda: _with(pdb(), "spec.selector.matchLabels", "app=chat"),
    "pdb-match-expressions-number": lambda: _with(pdb(), "spec.selector.matchExpressions", 1),
    "network-policy-match-labels-text": lambda: _with(default_deny(), "spec.podSelector.matchLabels", "x"),
    "job-drop-number": lambda: _job_dropping(0),
    "job-drop-text": lambda: _job_dropping("ALL"),
    "binding-subjects-number": lambda: _with(cluster_admin_binding("chat"), "subjects", 1),
    "binding-subject-name-list": lambda: _with(cluster_admin_binding("chat"), "subjects.0.name", ["chat"]),
    "binding-role-name-list": lambda: _with(cluster_admin_binding("chat"), "roleRef.name", ["cluster-admin"]),
    "deployment-selector-text": lambda: res(
        "kubernetes:apps/v1:Deployment", changed(deployment_props(), "spec.selector.matchLabels", "x"), name="x"
    ),
}


DLVM_SHAPES = {
    "published-flag": lambda: vm(dlvm_changed(["published"], True)),
    "tls-protocols-number": lambda: vm(dlvm_changed(["tls", "protocols"], 0)),
}


def _evaluate_every_rule(stack: list[Res]) -> None:
    for rule in ALL_RULES:
        entry = PROD_CONFIG.get(rule.name, {})
        try:
            if isinstance(rule, ResourceRule):
                for resource in stack:
                    rule.evaluate(resource, entry)
            else:
                rule.evaluate(list(stack), entry)
        except NotApplicable:
            pass


@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
def test_no_rule_raises_on_a_malformed_object(shape: str) -> None:
    _evaluate_every_rule(base(extra=[SHAPES[shape]()]))


@pytest.mark.parametrize("shape", DLVM_SHAPES, ids=list(DLVM_SHAPES))
def test_no_rule_raises_on_a_malformed_dlvm_workload(shape: str) -> None:
    _evaluate_every_rule([DLVM_SHAPES[shape]()])


def test_a_selector_given_as_text_selects_nothing() -> None:
    from policy.rules.common import selector_matches

    assert selector_matches({"matchLabels": "app=chat"}, {"app": "chat"}) is False
    assert selector_matches({"matchExpressions": 1}, {"app": "chat"}) is False
    assert selector_matches({"matchLabels": {"app": "chat"}}, {"app": "chat"}) is True
    bad_values = {"matchExpressions": [{"key": "app", "operator": "In", "values": 1}]}
    assert selector_matches(bad_values, {"app": "chat"}) is False


def test_values_unknown_in_a_preview_leave_the_selector_undecided() -> None:
    from policy.rules.common import UNKNOWN, selector_matches

    unknown = {"matchExpressions": [{"key": "app", "operator": "In", "values": UNKNOWN}]}
    assert selector_matches(unknown, {"app": "chat"}) is None
