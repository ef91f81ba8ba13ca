"""Drift detection: does the real infrastructure still match a stack's state?

    python -m ops.drift prod                       # what the scheduled workflow runs
    python -m ops.drift local --config-file .localenv/Pulumi.local.yaml --summary drift.json

Runs `pulumi refresh --preview-only` through the Automation API (`ops.automation`): every
resource is read from its provider and compared with the state, nothing is written. Exit 0
when nothing drifted, 1 with a drift summary (each drifted resource, the properties that
differ, and the counts), 2 when the check itself could not run. The credentials to read
the resources come as in `ops.deploy` (environment variables, a Supervisor login with
`--supervisor-server`). With GITHUB_STEP_SUMMARY
set the summary also goes to the job summary.

Why this form: `pulumi preview --refresh --json` crashes in the pinned CLI (3.274.1) on this
project's stacks, and `preview --refresh --expect-no-changes` also fails on a change the
program makes, which is not drift. `refresh --preview-only` compares the providers' view
with the state only; its engine events carry each resource's step and diff, read here from
the Automation API's event stream (no `--json` output is parsed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ops import deploy, supervisor_login
from ops.automation import ROOT, AutomationError, Outcome, Project, Settings, Step, format_changes


@dataclass(frozen=True)
class Drift:
    stack: str
    outcome: Outcome

    @property
    def drifted(self) -> list[Step]:
        """The resources whose real state differs from the stack's state."""
        # A refresh plans `refresh` for every resource; what it found is the operation its
        # outputs event reports (update with the properties that differ: changed out of band;
        # delete: gone). Components and providers report a bare `update` without a diff.
        return [s for s in self.outcome.observed if s.op == "delete" or (s.op == "update" and s.diffs)]

    @property
    def counts(self) -> dict[str, int]:
        return {op: n for op, n in sorted(self.outcome.changes.items()) if op != "same" and n}

    @property
    def found(self) -> bool:
        return bool(self.drifted or self.counts)

    def report(self) -> str:
        if not self.outcome.ok:
            errors = "\n".join(f"    | {e}" for e in self.outcome.errors)
            return f"[ERROR] {self.stack}: the drift check could not run ({self.outcome.seconds:.1f} s)\n{errors}"
        same = self.outcome.changes.get("same", 0)
        if not self.found:
            return f"[OK] {self.stack}: no drift ({same} resources match the state; {self.outcome.seconds:.1f} s)"
        lines = [
            f"[DRIFT] {self.stack}: {len(self.drifted)} resource(s) differ from the state "
            f"({format_changes(self.counts)}; {same} unchanged; {self.outcome.seconds:.1f} s)"
        ]
        for step in self.drifted:
            what = f": {', '.join(step.diffs)}" if step.diffs else ""
            lines.append(f"    {'deleted out of band' if step.op == 'delete' else 'changed'} {step.type} {step.name}{what}")
        lines.append(
            "    bring it back with `pulumi up` (the program wins) or accept it with `pulumi refresh` "
            "and a change to the program"
        )
        return "\n".join(lines)

    def markdown(self) -> str:
        return f"## Drift: {self.stack}\n\n```\n{self.report()}\n```\n"


def check(
    stack: str,
    *,
    project_dir: Path = ROOT,
    settings: Settings | None = None,
    config_file: Path | None = None,
    login: argparse.Namespace | None = None,
) -> Drift:
    project = Project(project_dir, settings or Settings.from_env())
    handle = project.stack(stack)
    # The providers read the real resources with the credentials of this run (a Supervisor
    # login now: the token recorded at the last deploy has expired).
    deploy.set_credentials(project, stack, os.environ, config_file=config_file, login=login)
    # The program runs so providers get the current endpoints/credentials from the config
    # (the state's copy may be stale); nothing is planned from it.
    outcome = project.run(handle, "preview-refresh", config_file=config_file, run_program=True, on_output=None)
    return Drift(stack, outcome)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.drift", description="Report drift of stacks.")
    parser.add_argument("stacks", nargs="+")
    parser.add_argument("--config-file", type=Path, help="the stack config file (one stack only)")
    parser.add_argument("--summary", type=Path, help="write the JSON summaries here")
    deploy.add_login_arguments(parser)
    args = parser.parse_args(argv)
    if args.config_file and len(args.stacks) != 1:
        print("ops.drift: --config-file goes with exactly one stack", file=sys.stderr)
        return 2
    results: list[Drift] = []
    try:
        login = deploy.login_args(args.supervisor_server, args.supervisor_ca, args.supervisor_namespace)
        for stack in args.stacks:
            results.append(check(stack, config_file=args.config_file, login=login))
            print(results[-1].report(), flush=True)
    except (AutomationError, supervisor_login.LoginError) as exc:
        print(f"ops.drift: {exc}", file=sys.stderr)
        return 2
    if args.summary:
        args.summary.write_text(
            json.dumps(
                [
                    {**d.outcome.summary(), "drifted": [{"urn": s.urn, "op": s.op, "diffs": list(s.diffs)} for s in d.drifted]}
                    for d in results
                ],
                indent=2,
            )
        )
    if path := os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(path, "a", encoding="utf-8") as summary:
            summary.write("".join(d.markdown() for d in results))
    if any(not d.outcome.ok for d in results):
        return 2
    return 1 if any(d.found for d in results) else 0


if __name__ == "__main__":
    sys.exit(main())
