"""The pull-request gate: a real `pulumi preview` of each stack with the policy pack, against
the stack's real state, with a data-loss guard.

    python -m policy.gate dev prod                    # what `make policy-gate` runs
    python -m policy.gate dev prod --shared-state     # CI: the stacks' shared state (must exist)
    python -m policy.gate local --shared-state --config-file local=.localenv/Pulumi.local.yaml
    PAIF_APPROVE_DATA_LOSS='urn:pulumi:prod::...' python -m policy.gate prod --shared-state

For each stack it previews once without the pack (the baseline, for the overhead ratio,
unless `--no-baseline`) and once with `--policy-pack policy --policy-pack-config
policy/config/<stack>.json`, through the Automation API (`ops.automation`). It reports the
resource changes per operation and every resource that would be replaced or deleted, every
policy violation and the timings, and exits non-zero when a mandatory policy is violated, a
preview fails, or a preview would replace or delete a stateful resource
(`components/stateful.py`) that is not approved by its URN.

With `--shared-state` the previews run against the stacks as they are in `PULUMI_BACKEND_URL`
(read access to the backend and the stack's passphrase are enough; no target credentials):
the diff is the true one. Without it, a stack missing from the backend is created (the
zero-config local use; with PULUMI_BACKEND_URL unset, in a throwaway file backend, with a
throwaway passphrase when none is set), so everything shows as a create.

The previews run from a throwaway copy of the project file and the stack files, so the
committed files are never modified (`pulumi stack init` writes an `encryptionsalt` into the
stack file) and the virtualenv is an absolute path (the dynamic-provider shim resolves a
relative one against the program directory, not the project root).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.stateful import stateful_type
from ops.automation import (
    AutomationError,
    Outcome,
    PolicyPack,
    PolicyViolation,
    Project,
    Settings,
    Step,
    backend_url,
    format_changes,
    missing_plugin,
)

__all__ = ["PolicyViolation", "missing_plugin"]

ROOT = Path(__file__).resolve().parents[1]
PACK = ROOT / "policy"
CONFIG_DIR = PACK / "config"
APPROVAL_ENV = "PAIF_APPROVE_DATA_LOSS"
# pulumi-kubernetes' yaml/v2 ConfigGroup/ConfigFile registers each object it parses as an ordinary
# resource, so the pack checks those like any other, without a cluster; except that an object
# without metadata.namespace whose kind is neither built in nor a CRD declared alongside needs
# the cluster to know its scope, and the preview stops with this error.
SCOPE_NEEDS_CLUSTER = "failed to determine if the following GVK is namespaced"
CANNOT_CHECK_CONFIG_GROUP = (
    "the gate cannot check this stack without a cluster: a kubernetes:yaml/v2 ConfigGroup/ConfigFile holds a "
    "custom resource whose scope only the cluster knows; give it metadata.namespace (or declare its CRD in the "
    "same ConfigGroup) so the preview, and the policy pack, can see it"
)
# The engine's error when a change would replace or delete a protected resource (protect-by-
# default, `paif:protection`): the preview stops there, without a step event for it.
PROTECTED = re.compile(r'unable to (?P<op>replace|delete) resource "(?P<urn>urn:pulumi:[^"]+)"')
THROWAWAY_PASSPHRASE = "paif-policy-gate"  # noqa: S105 - encrypts nothing: a throwaway state holds no secrets
PREVIEW_TIMEOUT_SECONDS = 900


class GateError(RuntimeError):
    """The gate could not run (no policy config for a stack, no pulumi CLI, a stack cannot be found)."""


@dataclass
class Preview:
    """What one preview reported."""

    returncode: int
    seconds: float
    violations: list[PolicyViolation] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    result: str = ""
    """"succeeded"/"failed"."""
    output: str = ""
    changes: dict[str, int] = field(default_factory=dict)
    """The summary's resource counts by operation (e.g. {"create": 54, "same": 2})."""
    replaced_or_deleted: list[Step] = field(default_factory=list)

    @property
    def mandatory(self) -> list[PolicyViolation]:
        return [v for v in self.violations if v.level == "mandatory"]

    @classmethod
    def of(cls, outcome: Outcome) -> Preview:
        return cls(
            returncode=0 if outcome.ok else 1,
            seconds=outcome.seconds,
            violations=outcome.violations,
            errors=outcome.errors,
            result="succeeded" if outcome.ok else "failed",
            output=outcome.output,
            changes=outcome.changes,
            replaced_or_deleted=outcome.replaced_or_deleted,
        )


@dataclass(frozen=True)
class DataLoss:
    """A stateful resource the preview would replace or delete."""

    step: Step
    human: str
    approved: bool
    protected: bool = False
    """The preview stopped at its protection (it must be released first)."""


def protected_steps(errors: Sequence[str]) -> list[Step]:
    """The replacements/deletions a preview stopped at because the resource is protected."""
    found: dict[str, Step] = {}
    for error in errors:
        for match in PROTECTED.finditer(error):
            urn = match["urn"]
            found.setdefault(urn, Step(urn=urn, type=urn.split("::")[2].rsplit("$", 1)[-1], op=match["op"]))
    return list(found.values())


@dataclass
class StackResult:
    stack: str
    with_pack: Preview
    baseline: Preview | None
    approvals: frozenset[str] = frozenset()

    @property
    def data_loss(self) -> list[DataLoss]:
        found = []
        stopped = protected_steps(self.with_pack.errors)
        protected = {step.urn for step in stopped}
        for step in self.with_pack.replaced_or_deleted:
            entry = stateful_type(step.type, step.old_inputs)
            if entry is not None:
                found.append(DataLoss(step, entry.human, step.urn in self.approvals, step.urn in protected))
        seen = {loss.step.urn for loss in found}
        for step in stopped:
            entry = stateful_type(step.type)
            if entry is not None and step.urn not in seen:
                found.append(DataLoss(step, entry.human, approved=False, protected=True))
        return found

    @property
    def passed(self) -> bool:
        return (
            self.with_pack.returncode == 0
            and not self.with_pack.mandatory
            and not any(not loss.approved for loss in self.data_loss)
        )

    @property
    def overhead(self) -> float | None:
        if self.baseline is None or self.baseline.seconds <= 0:
            return None
        return self.with_pack.seconds / self.baseline.seconds


def parse_events(stdout: str) -> tuple[list[PolicyViolation], list[str], str]:
    """Policy violations, error diagnostics and the result of a streamed `pulumi preview --json`
    (the CLI's own output; the gate itself reads the Automation API's events)."""
    violations, errors, result = [], [], ""
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        try:
            event: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError:
            continue
        if policy := event.get("policyEvent"):
            violations.append(
                PolicyViolation(
                    policy=policy.get("policyName", ""),
                    level=policy.get("enforcementLevel", ""),
                    urn=policy.get("resourceUrn", ""),
                    message=policy.get("message", "").strip(),
                )
            )
        elif (diagnostic := event.get("diagnosticEvent")) and diagnostic.get("severity") == "error":
            errors.append(diagnostic.get("message", "").strip())
        elif summary := event.get("summaryEvent"):
            result = summary.get("result", "")
    return violations, errors, result


def parse_changes(stdout: str) -> dict[str, int]:
    """The resource changes of a streamed `pulumi preview --json` summary, by operation."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("{") and '"summaryEvent"' in line:
            with contextlib.suppress(json.JSONDecodeError):
                changes = json.loads(line)["summaryEvent"].get("resourceChanges") or {}
                return {str(op): int(n) for op, n in changes.items()}
    return {}


def prepare_project(root: Path, stacks: Sequence[str], workdir: Path) -> Path:
    """A project directory in `workdir` that runs `root`'s program with copies of its stack files."""
    project: dict[str, Any] = yaml.safe_load((root / "Pulumi.yaml").read_text())
    options = (
        project.get("runtime", {}).get("options", {}) if isinstance(project.get("runtime"), dict) else {}
    )
    if options.get("virtualenv"):
        options["virtualenv"] = str((root / options["virtualenv"]).resolve())
    main = str(project.get("main", ".")).rstrip("/") or "."
    copy = workdir / "project"
    copy.mkdir(parents=True)
    if main != ".":
        (copy / main).symlink_to(root / main, target_is_directory=True)
    config_dir = project.get("stackConfigDir", ".")
    (copy / config_dir).mkdir(parents=True, exist_ok=True)
    for stack in stacks:
        source = root / config_dir / f"Pulumi.{stack}.yaml"
        if not source.exists():
            raise GateError(f"stack {stack!r}: no stack file {source.relative_to(root)}")
        shutil.copyfile(source, copy / config_dir / source.name)
    (copy / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    return copy


def policy_config(stack: str) -> Path:
    path = CONFIG_DIR / f"{stack}.json"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.json")))
        raise GateError(f"stack {stack!r}: no policy config {path.relative_to(ROOT)} (have: {known})")
    return path


def approvals_from(values: Sequence[str], env: Mapping[str, str]) -> frozenset[str]:
    """The URNs approved for replacement/deletion: `--approve-data-loss` values and the
    whitespace- or comma-separated `PAIF_APPROVE_DATA_LOSS`."""
    raw = [*values, env.get(APPROVAL_ENV, "")]
    urns = {u for item in raw for u in re.split(r"[\s,]+", item) if u}
    bad = sorted(u for u in urns if not u.startswith("urn:pulumi:"))
    if bad:
        raise GateError(
            f"{APPROVAL_ENV}/--approve-data-loss: {bad[0]!r} is not a resource URN; approve each object "
            "by its full URN as the gate prints it (urn:pulumi:<stack>::<project>::<type>::<name>)"
        )
    return frozenset(urns)


class Workspace:
    """A prepared project copy run through `ops.automation`."""

    def __init__(self, project: Path, settings: Settings, *, shared_state: bool) -> None:
        self.project_dir = project
        self.shared_state = shared_state
        try:
            self.project = Project(project, settings)
        except AutomationError as exc:
            raise GateError(str(exc)) from None

    def preview(
        self, stack: str, *, policy: PolicyPack | None = None, config_file: Path | None = None
    ) -> Preview:
        try:
            handle = self.project.stack(stack, create=not self.shared_state)
            outcome = self.project.run(handle, "preview", policy=policy, config_file=config_file, on_output=None)
        except AutomationError as exc:
            raise GateError(str(exc)) from None
        return Preview.of(outcome)


@contextmanager
def workspace(
    stacks: Sequence[str], root: Path = ROOT, *, shared_state: bool = False
) -> Iterator[Workspace]:
    with tempfile.TemporaryDirectory(prefix="paif-gate-") as tmp:
        workdir = Path(tmp)
        project = prepare_project(root, stacks, workdir)
        env = dict(os.environ)
        if shared_state:
            if "PULUMI_BACKEND_URL" not in env:
                raise GateError("--shared-state needs PULUMI_BACKEND_URL (the stacks' shared state backend)")
            if not env.get("PULUMI_CONFIG_PASSPHRASE") and not env.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
                raise GateError(
                    "--shared-state needs the stacks' passphrase in PULUMI_CONFIG_PASSPHRASE or "
                    "PULUMI_CONFIG_PASSPHRASE_FILE (to read the secrets in their state)"
                )
        else:
            env.setdefault("PULUMI_BACKEND_URL", f"file://{workdir / 'state'}")
        passphrase_file = None
        if not env.get("PULUMI_CONFIG_PASSPHRASE") and not env.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
            passphrase_file = workdir / "passphrase"
            passphrase_file.write_text(THROWAWAY_PASSPHRASE)
            passphrase_file.chmod(0o600)
        try:
            settings = Settings(
                backend_url=backend_url(env),
                passphrase_file=passphrase_file,
                temp_parent=workdir / "tmp",
                timeout_seconds=PREVIEW_TIMEOUT_SECONDS,
            )
        except AutomationError as exc:
            raise GateError(str(exc)) from None
        yield Workspace(project, settings, shared_state=shared_state)


def gate_stack(
    ws: Workspace,
    stack: str,
    *,
    baseline: bool,
    config_file: Path | None = None,
    approvals: frozenset[str] = frozenset(),
) -> StackResult:
    pack = PolicyPack(PACK, policy_config(stack))
    before = ws.preview(stack, config_file=config_file) if baseline else None
    with_pack = ws.preview(stack, policy=pack, config_file=config_file)
    return StackResult(stack=stack, with_pack=with_pack, baseline=before, approvals=approvals)


def approval_hint(losses: Sequence[DataLoss]) -> str:
    urns = " ".join(loss.step.urn for loss in losses)
    lines = [
        "    to do this on purpose (back up its data first): approve each object by its URN for this run, "
        f"{APPROVAL_ENV}='{urns}' (or --approve-data-loss URN per object)"
    ]
    if any(loss.protected for loss in losses):
        lines.append(
            "    and release its protection by name for one run: pulumi config set --path "
            "'paif:protection.release[0]' <database|postgresCluster|uploadsVolume|supervisorNamespace|vksCluster|"
            "harborProject> (README: Data protection)"
        )
    return "\n".join(lines)


def report(result: StackResult) -> str:
    preview = result.with_pack
    mandatory, advisory = len(preview.mandatory), len(preview.violations) - len(preview.mandatory)
    timing = f"preview with the pack {preview.seconds:.1f} s"
    if result.baseline is not None:
        timing += f", without {result.baseline.seconds:.1f} s"
        if result.overhead is not None:
            timing += f" (x{result.overhead:.2f})"
    verdict = "PASS" if result.passed else "FAIL"
    resources = f"; {sum(preview.changes.values())} resources ({format_changes(preview.changes)})" if preview.changes else ""
    lines = [
        f"[{verdict}] {result.stack}: {mandatory} mandatory, {advisory} advisory violation(s); {timing}{resources}"
    ]
    for step in preview.replaced_or_deleted:
        lines.append(f"    {step.describe()}")
    losses = result.data_loss
    blocked = [loss for loss in losses if not loss.approved]
    for loss in losses:
        state = "approved" if loss.approved else "DATA LOSS"
        protected = " (protected: the preview stopped here)" if loss.protected else ""
        lines.append(f"    [{state}] {loss.step.op} of {loss.human} {loss.step.name!r}{protected}: {loss.step.urn}")
    if blocked:
        lines.append(approval_hint(blocked))
    for v in sorted(preview.violations, key=lambda v: (v.level != "mandatory", v.policy, v.urn)):
        detail = v.message.splitlines()[-1] if v.message else ""
        lines.append(f"    [{v.level}] {v.policy} ({v.resource}): {detail}")
    if preview.returncode != 0 and not preview.mandatory:
        if any(SCOPE_NEEDS_CLUSTER in e for e in preview.errors):
            lines.append(f"    {CANNOT_CHECK_CONFIG_GROUP}")
        lines.append("    the preview itself failed:")
        lines += [f"    | {e}" for e in preview.errors if e != "preview failed"] or [
            f"    | {line}" for line in preview.output.splitlines()[-20:]
        ]
    return "\n".join(lines)


def step_summary(results: Sequence[StackResult]) -> str:
    """Markdown for the GitHub Actions job summary."""
    rows = [
        "| stack | result | changes | replaced / deleted | data loss | mandatory | advisory | seconds (pack / baseline) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    details: list[str] = []
    for r in results:
        preview = r.with_pack
        base = f"{r.baseline.seconds:.1f}" if r.baseline else "-"
        advisory = len(preview.violations) - len(preview.mandatory)
        changed = {op: n for op, n in preview.changes.items() if op != "same"}
        losses = r.data_loss
        blocked = sum(1 for loss in losses if not loss.approved)
        rows.append(
            f"| {r.stack} | {'pass' if r.passed else 'FAIL'} | {format_changes(changed)} "
            f"(same {preview.changes.get('same', 0)}) | {len(preview.replaced_or_deleted)} | "
            f"{blocked} blocked, {len(losses) - blocked} approved | {len(preview.mandatory)} | {advisory} | "
            f"{preview.seconds:.1f} / {base} |"
        )
        if preview.replaced_or_deleted:
            details.append(f"\n### {r.stack}: replaced or deleted\n")
            for step in preview.replaced_or_deleted:
                loss = next((x for x in losses if x.step.urn == step.urn), None)
                mark = "" if loss is None else (" — approved" if loss.approved else f" — **data loss: {loss.human}**")
                details.append(f"- `{step.op}` `{step.type}` **{step.name}**{mark}  \n  `{step.urn}`")
            if blocked:
                details.append(f"\nApprove on purpose, per object: set `{APPROVAL_ENV}` to the URNs above.")
    return "## Pulumi preview gate\n\n" + "\n".join(rows) + "\n" + "\n".join(details) + "\n"


def run_gate(
    stacks: list[str],
    *,
    baseline: bool = True,
    root: Path = ROOT,
    shared_state: bool = False,
    config_files: Mapping[str, Path] | None = None,
    approvals: frozenset[str] = frozenset(),
) -> int:
    """Preview each stack with the pack; 0 when no mandatory violation, no failed preview and
    no unapproved loss of a stateful resource."""
    config_files = config_files or {}
    try:
        for stack in stacks:
            policy_config(stack)
        for stack, path in config_files.items():
            if stack not in stacks:
                raise GateError(f"--config-file {stack}={path}: {stack!r} is not one of the stacks ({', '.join(stacks)})")
            if not path.is_file():
                raise GateError(f"--config-file {stack}={path}: no such file")
        with workspace(stacks, root, shared_state=shared_state) as ws:
            results = []
            for stack in stacks:
                config_file = config_files.get(stack)
                result = gate_stack(
                    ws,
                    stack,
                    baseline=baseline,
                    config_file=config_file.resolve() if config_file else None,
                    approvals=approvals,
                )
                print(report(result), flush=True)
                results.append(result)
    except GateError as exc:
        print(f"policy gate: {exc}", file=sys.stderr)
        return 2
    if summary_path := os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(summary_path, "a", encoding="utf-8") as summary:
            summary.write(step_summary(results))
    return 0 if all(r.passed for r in results) else 1


def _config_file_arg(value: str) -> tuple[str, Path]:
    stack, sep, path = value.partition("=")
    if not sep or not stack or not path:
        raise argparse.ArgumentTypeError(f"{value!r}: expected STACK=PATH, e.g. local=.localenv/Pulumi.local.yaml")
    return stack, Path(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m policy.gate", description="Preview stacks with the policy pack and the data-loss guard."
    )
    parser.add_argument("stacks", nargs="+", help="stacks to preview (each needs policy/config/<stack>.json)")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the preview without the pack (no overhead ratio)"
    )
    parser.add_argument(
        "--shared-state",
        action="store_true",
        help="preview against the stacks' existing state in PULUMI_BACKEND_URL (never create one)",
    )
    parser.add_argument(
        "--config-file",
        action="append",
        type=_config_file_arg,
        default=[],
        metavar="STACK=PATH",
        help="the stack config file of STACK (default stacks/Pulumi.<stack>.yaml)",
    )
    parser.add_argument(
        "--approve-data-loss",
        action="append",
        default=[],
        metavar="URN",
        help=f"a stateful resource that may be replaced or deleted (also {APPROVAL_ENV})",
    )
    args = parser.parse_args(argv)
    try:
        approvals = approvals_from(args.approve_data_loss, os.environ)
    except GateError as exc:
        print(f"policy gate: {exc}", file=sys.stderr)
        return 2
    return run_gate(
        list(args.stacks),
        baseline=not args.no_baseline,
        shared_state=args.shared_state,
        config_files=dict(args.config_file),
        approvals=approvals,
    )


if __name__ == "__main__":
    sys.exit(main())
