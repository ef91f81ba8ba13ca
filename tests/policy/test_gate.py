"""The pull-request gate (`python -m policy.gate`): event parsing, the throwaway project copy,
the report, the data-loss guard and its approvals, the job summary, and one real run on a
project laid out like ours (the runs against a deployed stack's real state are in
tests/integration/test_gate_real_state.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ops.automation import Step
from policy.gate import (
    APPROVAL_ENV,
    CANNOT_CHECK_CONFIG_GROUP,
    GateError,
    PolicyViolation,
    Preview,
    StackResult,
    approvals_from,
    parse_changes,
    parse_events,
    policy_config,
    prepare_project,
    report,
    run_gate,
    step_summary,
)

GATE_PROJECT = Path(__file__).parent / "fixtures" / "gate_project"
URN = "urn:pulumi:prod::paif-app::paif:app:AiApp$kubernetes:core/v1:ConfigMap::chat-config"


def event(**payload: object) -> str:
    return json.dumps({"sequence": 1, "timestamp": 0, **payload})


def test_parse_events_reads_policy_events_errors_and_the_result() -> None:
    stdout = "\n".join(
        [
            event(policyLoadEvent={}),
            event(
                policyEvent={
                    "resourceUrn": URN,
                    "message": "ConfigMaps hold no secret-looking keys or values.\nmove it\n",
                    "policyName": "no-secrets-in-configmap",
                    "enforcementLevel": "mandatory",
                }
            ),
            event(diagnosticEvent={"message": "debug\n", "severity": "debug"}),
            event(diagnosticEvent={"message": "preview failed\n", "severity": "error"}),
            "not json {",
            event(summaryEvent={"result": "failed", "resourceChanges": {"create": 3}}),
        ]
    )
    violations, errors, result = parse_events(stdout)
    assert violations == [
        PolicyViolation(
            policy="no-secrets-in-configmap",
            level="mandatory",
            urn=URN,
            message="ConfigMaps hold no secret-looking keys or values.\nmove it",
        )
    ]
    assert violations[0].resource == "kubernetes:core/v1:ConfigMap: chat-config"
    assert errors == ["preview failed"]
    assert result == "failed"


def test_project_copy_has_an_absolute_virtualenv_and_copies_of_the_stack_files(tmp_path: Path) -> None:
    copy = prepare_project(GATE_PROJECT, ["prod"], tmp_path)
    text = (copy / "Pulumi.yaml").read_text()
    assert f"virtualenv: {Path(__file__).resolve().parents[2] / '.venv'}" in text
    assert (copy / "app").resolve() == (GATE_PROJECT / "app").resolve()
    assert (copy / "stacks" / "Pulumi.prod.yaml").read_text() == (
        GATE_PROJECT / "stacks" / "Pulumi.prod.yaml"
    ).read_text()
    assert not (copy / "stacks" / "Pulumi.prod.yaml").is_symlink()


def test_missing_stack_file_or_policy_config_is_named(tmp_path: Path) -> None:
    with pytest.raises(GateError, match=r"no stack file stacks/Pulumi.qa.yaml"):
        prepare_project(GATE_PROJECT, ["qa"], tmp_path)
    with pytest.raises(GateError, match=r"no policy config policy/config/qa.json \(have: dev, local, prod\)"):
        policy_config("qa")


def test_report_lists_violations_and_the_overhead() -> None:
    violation = PolicyViolation(
        "no-secrets-in-configmap", "mandatory", URN, "description\nmove it to a Secret"
    )
    result = StackResult(
        stack="prod",
        with_pack=Preview(returncode=1, seconds=3.0, violations=[violation], result="failed"),
        baseline=Preview(returncode=0, seconds=2.0),
    )
    assert not result.passed
    assert report(result) == (
        "[FAIL] prod: 1 mandatory, 0 advisory violation(s); preview with the pack 3.0 s, without 2.0 s (x1.50)\n"
        "    [mandatory] no-secrets-in-configmap (kubernetes:core/v1:ConfigMap: chat-config): move it to a Secret"
    )


def test_failed_preview_without_violations_fails_the_gate() -> None:
    result = StackResult("dev", Preview(returncode=255, seconds=1.0, errors=["boom", "preview failed"]), None)
    assert not result.passed
    assert report(result).endswith("    the preview itself failed:\n    | boom")


@pytest.mark.integration
def test_gate_fails_on_a_mandatory_violation_and_leaves_the_stack_file_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    committed = (GATE_PROJECT / "stacks" / "Pulumi.prod.yaml").read_text()
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path / 'state'}")
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)

    assert run_gate(["prod"], root=GATE_PROJECT) == 1

    out = capsys.readouterr().out
    assert out.startswith("[FAIL] prod: 1 mandatory, 0 advisory violation(s); preview with the pack ")
    assert ", without " in out
    assert (
        "[mandatory] no-secrets-in-configmap (kubernetes:core/v1:ConfigMap: settings): ConfigMap 'app/settings' "
        "has the secret-looking key 'DB_PASSWORD': move it to a Secret"
    ) in out
    assert (GATE_PROJECT / "stacks" / "Pulumi.prod.yaml").read_text() == committed
    assert sorted(p.name for p in (GATE_PROJECT / "stacks").iterdir()) == ["Pulumi.prod.yaml"]


def test_parse_changes_reads_the_summary_counts() -> None:
    stdout = "\n".join(
        [
            '{"sequence": 1, "preludeEvent": {}}',
            "not json",
            '{"sequence": 9, "summaryEvent": {"result": "succeeded", "resourceChanges": {"create": 52, "same": 2}}}',
        ]
    )
    assert parse_changes(stdout) == {"create": 52, "same": 2}
    assert parse_changes("") == {}


def test_a_config_group_the_gate_cannot_check_is_named() -> None:
    error = (
        "kubernetes:yaml/v2:ConfigGroup resource 'addons': failed to determine if the following GVK is "
        "namespaced: example.com/v1, Kind=Widget"
    )
    result = StackResult("prod", Preview(returncode=255, seconds=1.0, errors=[error, "preview failed"]), None)
    assert not result.passed
    assert report(result).splitlines()[1:] == [
        f"    {CANNOT_CHECK_CONFIG_GROUP}",
        "    the preview itself failed:",
        f"    | {error}",
    ]


DB_URN = (
    "urn:pulumi:prod::paif-app::paif:data:DsmPostgres$paif:data:PostgresAppDatabase"
    "$pulumi-python:dynamic/postgres:Database::postgres-db"
)
APP_ROLE_URN = "urn:pulumi:prod::paif-app::paif:data:PostgresAppDatabase$pulumi-python:dynamic/postgres:Role::app"


def _replacing(*steps: Step) -> Preview:
    return Preview(returncode=0, seconds=1.0, changes={"replace": len(steps), "same": 3}, replaced_or_deleted=list(steps))


def test_replacing_a_stateful_resource_fails_until_its_urn_is_approved() -> None:
    db = Step(DB_URN, "pulumi-python:dynamic/postgres:Database", "replace", replace_keys=("name",))
    result = StackResult("prod", _replacing(db), None)
    assert not result.passed
    text = report(result)
    assert "[DATA LOSS] replace of PostgreSQL database 'postgres-db': " + DB_URN in text
    assert f"{APPROVAL_ENV}='{DB_URN}'" in text
    approved = StackResult("prod", _replacing(db), None, approvals=frozenset({DB_URN}))
    assert approved.passed
    assert "[approved] replace of PostgreSQL database" in report(approved)


def test_a_login_role_or_a_configmap_is_not_stateful() -> None:
    role = Step(APP_ROLE_URN, "pulumi-python:dynamic/postgres:Role", "delete", old_inputs={"login": True})
    config_map = Step(URN, "kubernetes:core/v1:ConfigMap", "replace")
    result = StackResult("prod", _replacing(role, config_map), None)
    assert result.passed and result.data_loss == []
    owner = Step(APP_ROLE_URN, "pulumi-python:dynamic/postgres:Role", "delete", old_inputs={"login": False})
    assert [loss.human for loss in StackResult("prod", _replacing(owner), None).data_loss] == [
        "PostgreSQL role that owns data"
    ]


def test_a_preview_stopped_by_protection_names_the_resource_and_the_release() -> None:
    error = (
        f'unable to replace resource "{DB_URN}"\nas it is currently marked for protection. To unprotect the resource, ...'
    )
    result = StackResult("prod", Preview(returncode=1, seconds=1.0, errors=[error]), None)
    [loss] = result.data_loss
    assert loss.protected and loss.step.name == "postgres-db" and not loss.approved
    text = report(result)
    assert "replace of PostgreSQL database 'postgres-db' (protected: the preview stopped here)" in text
    assert "paif:protection.release[0]" in text


def test_a_planned_replacement_the_engine_then_refused_as_protected_names_the_release() -> None:
    """A replacement announced as a step, then refused by the resource's protection: one loss,
    marked protected, with the release hint."""
    error = f'unable to replace resource "{DB_URN}"\nas it is currently marked for protection.'
    db = Step(DB_URN, "pulumi-python:dynamic/postgres:Database", "replace", replace_keys=("encoding",))
    preview = _replacing(db)
    preview.returncode, preview.errors = 1, [error]
    [loss] = StackResult("prod", preview, None).data_loss
    assert loss.protected and not loss.approved
    assert "paif:protection.release[0]" in report(StackResult("prod", preview, None))


def test_approvals_are_urns(monkeypatch: pytest.MonkeyPatch) -> None:
    assert approvals_from([DB_URN], {APPROVAL_ENV: f" {APP_ROLE_URN},{DB_URN} "}) == {DB_URN, APP_ROLE_URN}
    with pytest.raises(GateError, match=r"'postgres-db' is not a resource URN"):
        approvals_from(["postgres-db"], {})


def test_step_summary_lists_counts_and_what_is_replaced() -> None:
    db = Step(DB_URN, "pulumi-python:dynamic/postgres:Database", "replace")
    text = step_summary([StackResult("prod", _replacing(db), None)])
    assert "| prod | FAIL | replace 1 (same 3) | 1 | 1 blocked, 0 approved | 0 | 0 | 1.0 / - |" in text
    assert f"**postgres-db** — **data loss: PostgreSQL database**  \n  `{DB_URN}`" in text
