"""The pull-request gate: a real `pulumi preview` of each stack with the policy pack.

    python -m policy.gate dev prod        # what `make policy-gate` and CI run
    python -m policy.gate prod --no-baseline

For each stack it previews once without the pack (the baseline, for the overhead ratio)
and once with `--policy-pack policy --policy-pack-config policy/config/<stack>.json`,
reports every violation and the timings, and exits non-zero when a mandatory policy is
violated or a preview fails.

The previews run from a throwaway copy of the project file and the stack files, so the
committed files are never modified (`pulumi stack init` writes an `encryptionsalt` into the
stack file) and the virtualenv is an absolute path (the dynamic-provider shim resolves a
relative one against the program directory, not the project root). State goes to
PULUMI_BACKEND_URL, or to a temporary file backend when it is unset; without
PULUMI_CONFIG_PASSPHRASE(_FILE) a fixed throwaway passphrase is used (previews need no secrets).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
PACK = ROOT / "policy"
CONFIG_DIR = PACK / "config"
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
THROWAWAY_PASSPHRASE = "paif-policy-gate"  # noqa: S105 - encrypts nothing: previews carry no secrets
PREVIEW_TIMEOUT_SECONDS = 900
# The engine's words for a plugin it has not got (and could not download).
MISSING_PLUGIN = re.compile(
    r"(?:Could not automatically download and install|no) (?P<kind>\w+) plugin 'pulumi-\w+-(?P<name>[\w-]+)'(?P<rest>.*)"
)


class GateError(RuntimeError):
    """The gate could not run (no policy config for a stack, no pulumi CLI, a stack cannot be created)."""


@dataclass(frozen=True)
class PolicyViolation:
    policy: str
    level: str
    """advisory or mandatory."""
    urn: str
    message: str

    @property
    def resource(self) -> str:
        """`type: name` of the resource (the stack for a stack-wide violation)."""
        if "::" not in self.urn:
            return "(stack)"
        parts = self.urn.split("::")
        return f"{parts[-2].rsplit('$', 1)[-1]}: {parts[-1]}"


@dataclass
class Preview:
    """What one `pulumi preview --json` (streamed events) reported."""

    returncode: int
    seconds: float
    violations: list[PolicyViolation] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    result: str = ""
    """The summary's result ("succeeded"/"failed"), empty when no summary was printed."""
    output: str = ""
    changes: dict[str, int] = field(default_factory=dict)
    """The summary's resource changes by operation (e.g. {"create": 54})."""

    @property
    def mandatory(self) -> list[PolicyViolation]:
        return [v for v in self.violations if v.level == "mandatory"]


@dataclass
class StackResult:
    stack: str
    with_pack: Preview
    baseline: Preview | None

    @property
    def passed(self) -> bool:
        return self.with_pack.returncode == 0 and not self.with_pack.mandatory

    @property
    def overhead(self) -> float | None:
        if self.baseline is None or self.baseline.seconds <= 0:
            return None
        return self.with_pack.seconds / self.baseline.seconds


def parse_events(stdout: str) -> tuple[list[PolicyViolation], list[str], str]:
    """Policy violations, error diagnostics and the result of a streamed `--json` preview."""
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
    """The resource changes of a streamed `--json` preview's summary, by operation."""
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


def missing_plugin(output: str) -> str | None:
    """What to tell the user when the engine stopped for want of a plugin; None otherwise.
    Plugins are built and installed by `make setup`, never downloaded."""
    match = MISSING_PLUGIN.search(output)
    if match is None:
        return None
    version = re.search(r"at version (v[\w.+-]+)", match["rest"])
    at = f" {version[1]}" if version else ""
    return f"the Pulumi {match['kind']} plugin '{match['name']}'{at} is not installed: run `make setup`"


def _environment(state_dir: Path, base: Mapping[str, str]) -> dict[str, str]:
    env = dict(base)
    tools = [str(ROOT / ".tools" / "bin"), str(ROOT / ".venv" / "bin")]
    env["PATH"] = os.pathsep.join([*tools, env.get("PATH", "")])
    env.setdefault("PULUMI_BACKEND_URL", f"file://{state_dir}")
    backend = env["PULUMI_BACKEND_URL"]
    if backend.startswith("file://"):
        # The file backend refuses a missing directory (`make` points it at .pulumi-state).
        Path(backend.removeprefix("file://")).expanduser().mkdir(parents=True, exist_ok=True)
    if not env.get("PULUMI_CONFIG_PASSPHRASE") and not env.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
        env["PULUMI_CONFIG_PASSPHRASE"] = THROWAWAY_PASSPHRASE
    env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
    env["PULUMI_DIY_BACKEND_NO_LEGACY_WARNING"] = "true"
    env["PULUMI_ENABLE_STREAMING_JSON_PREVIEW"] = "true"
    return env


class Workspace:
    """A prepared project copy and the environment to run pulumi in."""

    def __init__(self, project: Path, env: dict[str, str]) -> None:
        self.project = project
        self.env = env
        if shutil.which("pulumi", path=env["PATH"]) is None:
            raise GateError("pulumi CLI not found: run `make setup`")

    def pulumi(self, *args: str) -> subprocess.CompletedProcess[str]:
        # A private temp directory per run, removed after it: the kubernetes provider writes
        # the kubeconfig it is given (credentials included) to a file there and never deletes it.
        with tempfile.TemporaryDirectory(prefix="tmp-", dir=self.project.parent) as temp_dir:
            try:
                result = subprocess.run(
                    ["pulumi", *args, "--non-interactive"],
                    cwd=self.project,
                    env={**self.env, **{name: temp_dir for name in ("TMPDIR", "TEMP", "TMP")}},
                    capture_output=True,
                    text=True,
                    timeout=PREVIEW_TIMEOUT_SECONDS,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise GateError(
                    f"`pulumi {' '.join(args)}` did not finish in {PREVIEW_TIMEOUT_SECONDS} s"
                ) from None
        if result.returncode != 0 and (hint := missing_plugin(result.stdout + result.stderr)):
            raise GateError(hint)
        return result

    def ensure_stack(self, stack: str) -> None:
        listed = self.pulumi("stack", "ls", "--json")
        names = (
            {s.get("name") for s in json.loads(listed.stdout or "[]")} if listed.returncode == 0 else set()
        )
        if stack in names:
            return
        created = self.pulumi("stack", "init", stack, "--secrets-provider", "passphrase", "--no-select")
        if created.returncode != 0:
            raise GateError(
                f"cannot create stack {stack!r}: {created.stderr.strip() or created.stdout.strip()}"
            )

    def preview(self, stack: str, *policy_args: str) -> Preview:
        started = time.monotonic()
        result = self.pulumi("preview", "--stack", stack, "--json", *policy_args)
        seconds = time.monotonic() - started
        violations, errors, summary = parse_events(result.stdout)
        return Preview(
            returncode=result.returncode,
            seconds=seconds,
            violations=violations,
            errors=errors,
            result=summary,
            output=(result.stdout[-4000:] + result.stderr[-4000:]),
            changes=parse_changes(result.stdout),
        )


@contextmanager
def workspace(stacks: Sequence[str], root: Path = ROOT) -> Iterator[Workspace]:
    with tempfile.TemporaryDirectory(prefix="paif-gate-") as tmp:
        workdir = Path(tmp)
        (workdir / "state").mkdir()
        project = prepare_project(root, stacks, workdir)
        yield Workspace(project, _environment(workdir / "state", os.environ))


def gate_stack(ws: Workspace, stack: str, *, baseline: bool) -> StackResult:
    config = policy_config(stack)
    ws.ensure_stack(stack)
    before = ws.preview(stack) if baseline else None
    with_pack = ws.preview(stack, "--policy-pack", str(PACK), "--policy-pack-config", str(config))
    return StackResult(stack=stack, with_pack=with_pack, baseline=before)


def report(result: StackResult) -> str:
    preview = result.with_pack
    mandatory, advisory = len(preview.mandatory), len(preview.violations) - len(preview.mandatory)
    timing = f"preview with the pack {preview.seconds:.1f} s"
    if result.baseline is not None:
        timing += f", without {result.baseline.seconds:.1f} s"
        if result.overhead is not None:
            timing += f" (x{result.overhead:.2f})"
    verdict = "PASS" if result.passed else "FAIL"
    plan = ", ".join(f"{op} {n}" for op, n in sorted(preview.changes.items()))
    resources = f"; {sum(preview.changes.values())} resources ({plan})" if preview.changes else ""
    lines = [
        f"[{verdict}] {result.stack}: {mandatory} mandatory, {advisory} advisory violation(s); {timing}{resources}"
    ]
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


def _step_summary(results: Sequence[StackResult]) -> None:
    """A table for the GitHub Actions job summary, when running there."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    rows = ["| stack | result | mandatory | advisory | seconds (pack / baseline) |", "|---|---|---|---|---|"]
    for r in results:
        base = f"{r.baseline.seconds:.1f}" if r.baseline else "-"
        advisory = len(r.with_pack.violations) - len(r.with_pack.mandatory)
        rows.append(
            f"| {r.stack} | {'pass' if r.passed else 'FAIL'} | {len(r.with_pack.mandatory)} | {advisory} | "
            f"{r.with_pack.seconds:.1f} / {base} |"
        )
    with open(path, "a", encoding="utf-8") as summary:
        summary.write("## Policy gate\n\n" + "\n".join(rows) + "\n")


def run_gate(stacks: list[str], *, baseline: bool = True, root: Path = ROOT) -> int:
    """Preview each stack with the pack; 0 when no mandatory violation and no failed preview."""
    try:
        for stack in stacks:
            policy_config(stack)
        with workspace(stacks, root) as ws:
            results = []
            for stack in stacks:
                result = gate_stack(ws, stack, baseline=baseline)
                print(report(result), flush=True)
                results.append(result)
    except GateError as exc:
        print(f"policy gate: {exc}", file=sys.stderr)
        return 2
    _step_summary(results)
    return 0 if all(r.passed for r in results) else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m policy.gate", description="Preview stacks with the policy pack."
    )
    parser.add_argument("stacks", nargs="+", help="stacks to preview (each needs policy/config/<stack>.json)")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the preview without the pack (no overhead ratio)"
    )
    args = parser.parse_args(argv)
    return run_gate(list(args.stacks), baseline=not args.no_baseline)


if __name__ == "__main__":
    sys.exit(main())
