"""The issue-15 corpus (tests/policy/corpus.py): every bad prod stack fails with exactly its
rule, every good one with no mandatory violation."""

from __future__ import annotations

import pytest

from tests.policy.corpus import CASES, Case, mandatory_rules


def test_the_corpus_is_big_enough() -> None:
    assert len([c for c in CASES if c.rule]) >= 30
    assert len([c for c in CASES if not c.rule]) >= 10


@pytest.mark.parametrize("case", CASES, ids=[f"{c.category}/{c.name}" for c in CASES])
def test_case(case: Case) -> None:
    assert mandatory_rules(case.stack()) == ({case.rule} if case.rule else set())
