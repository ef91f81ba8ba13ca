"""Preview and no-op refresh of N production-shaped apps beside floors of the same size.

    python -m bench                               # N = 1, 5, 20, 50; best of 3; refresh of 50 apps
    python -m bench --counts 1,20 --repeat 1 --refresh-apps 0
    python -m bench --variants after          # only with the fixes (default: after, then before)

What runs (bench/README.md says why): a throwaway etcd + kube-apiserver on 127.0.0.1
(bench/cluster.py), the benchmark's program (bench/program) previewed through the
Automation API (`pulumi.automation`) in a temporary project copy with a file backend, and
for each N:
  app        N `AiApp`s with the prod profile's arguments (policy pack off, then on, then
             a pack of one no-op policy: the engine's and the SDK's floor for any pack)
  configmap  the same number of resources as plain ConfigMaps through a kubernetes provider
  component  the same number of resources as bare component resources (no provider)
then `up` of 50 apps (and of the ConfigMap floor of that size) and no-op refreshes of both.
Every figure is the best of `--repeat` runs; the spread (slowest - fastest) is printed beside it.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from resource import RUSAGE_CHILDREN, getrusage
from typing import Any

import yaml
from pulumi import automation as auto

from bench.cluster import Cluster, api_server
from components.vks_cluster import KUBE_CLIENT
from ops.automation import GO_GC_PERCENT

ROOT = Path(__file__).resolve().parents[1]
PROGRAM = Path(__file__).resolve().parent / "program"
TOOLS = ROOT / ".tools" / "bin"
VENV = ROOT / ".venv"
PACK = ROOT / "policy"
PACK_CONFIG = PACK / "config" / "prod.json"
NOOP_PACK = Path(__file__).resolve().parent / "noop_pack"
PACKS = {"app+policy": PACK, "app+noop-policy": NOOP_PACK}
"""Case -> the policy pack its app preview runs with."""
ALLOWED_REGISTRY = "harbor.paif.example.internal/paif-chat/"
PROD_STACK = ROOT / "stacks" / "Pulumi.prod.yaml"
PULUMI_FILES = (
    "pulumi",
    "pulumi-language-python",
    "pulumi-language-python-exec",
    "pulumi-resource-pulumi-python",
)
SNAPSHOT_PACKAGES = ("infra", "components")
DEFAULT_COUNTS = (1, 5, 20, 50)
ALL_MODES = ("app", *PACKS, "configmap", "component")
"""Every case a preview is measured in, in the report's order."""
# The targets of issue 16.
MAX_APP_OVER_FLOOR = 1.3
MAX_POLICY_OVERHEAD = 0.10
MAX_REFRESH_SECONDS = 10.0
REFRESH_APPS = 50
SKIP_CHECKPOINTS = "PULUMI_SKIP_CHECKPOINTS"


@dataclass(frozen=True)
class Variant:
    """How the program and the engine run: before or after the fixes (bench/README.md)."""

    name: str
    settle: bool
    """The program waits for its outputs itself (infra/settle.py), as infra/__main__.py does."""
    skip_checkpoints: bool
    """PULUMI_SKIP_CHECKPOINTS=true for previews and refreshes (the engine's per-step snapshot)."""
    client_limit: bool = False
    """The kubernetes providers' client limit the program now declares (components/vks_cluster.py
    KUBE_CLIENT), given to the refreshes as PULUMI_K8S_CLIENT_QPS/BURST: a refresh runs the
    provider with the inputs in state, which both variants share (one deployed stack), and the
    provider reads those variables exactly where it reads the inputs (its Configure)."""
    go_gc: bool = False
    """GOGC=400 for the CLI and its Go plugins, as ops.automation runs them (GO_GC_PERCENT)."""


VARIANTS = {
    "before": Variant("before", settle=False, skip_checkpoints=False),
    "after": Variant("after", settle=True, skip_checkpoints=True, client_limit=True, go_gc=True),
}


class BenchError(RuntimeError):
    """The benchmark could not run (no toolchain, a preview failed)."""


@dataclass
class Timing:
    """Wall-clock seconds of repeated runs of one operation, and the CPU seconds each took."""

    runs: list[float] = field(default_factory=list)
    resources: int = 0
    cpu: list[float] = field(default_factory=list)
    """User + system CPU seconds of the run's whole process tree (CLI, language host, program,
    plugins, policy pack): what the machine's other load does not stretch, unlike the wall clock."""

    @property
    def best(self) -> float:
        return min(self.runs)

    @property
    def spread(self) -> float:
        return max(self.runs) - min(self.runs)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def best_cpu(self) -> float:
        return min(self.cpu)

    def text(self) -> str:
        cpu = f", CPU {self.best_cpu:.1f} s" if self.cpu else ""
        return f"{self.best:7.2f} s (±{self.spread:.2f}, median {self.median:.2f}{cpu})"


@dataclass
class VariantResult:
    name: str
    previews: dict[tuple[str, int], Timing] = field(default_factory=dict)
    """(mode, N) -> timing; mode is app, app+policy, configmap or component."""
    refresh: dict[str, Timing] = field(default_factory=dict)
    """app / configmap -> no-op refresh of `refresh_apps` apps' worth."""
    refresh_apps: int = 0

    def best(self, mode: str, n: int) -> float:
        return self.previews[mode, n].best

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "previews": {
                f"{m}/{n}": {"runs": t.runs, "cpu": t.cpu, "resources": t.resources}
                for (m, n), t in self.previews.items()
            },
            "refresh": {m: {"runs": t.runs, "cpu": t.cpu, "resources": t.resources} for m, t in self.refresh.items()},
            "refreshApps": self.refresh_apps,
        }


def toolchain(root: Path) -> Path:
    """A directory with bin/ holding the pulumi CLI and, beside it (where the engine looks),
    our language host and the launchers, for the Automation API's PulumiCommand."""
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    for name in PULUMI_FILES:
        source = (TOOLS / name).resolve()
        if not source.exists():
            raise BenchError(f"{source} is missing: run `make setup`")
        try:
            os.link(source, bin_dir / name)
        except OSError:
            shutil.copy2(source, bin_dir / name)
    return root


def _prod_config() -> dict[str, Any]:
    doc = yaml.safe_load(PROD_STACK.read_text())
    config: dict[str, Any] = doc["config"]
    return config


class Bench:
    """One project copy, one file backend, one throwaway API server; stacks per (mode, N)."""

    def __init__(self, workdir: Path, cluster: Cluster, pulumi_root: Path, *, per_app: int = 0) -> None:
        self.cluster = cluster
        self.project = workdir / "program"
        if not self.project.exists():
            shutil.copytree(PROGRAM, self.project)
            # A snapshot of the code the program imports, taken now: the copies come first on
            # the program's sys.path, so edits made to the working tree during a run (which
            # takes half an hour) cannot change, or break, what later cases measure.
            for package in SNAPSHOT_PACKAGES:
                shutil.copytree(
                    ROOT / package,
                    self.project / package,
                    ignore=shutil.ignore_patterns("__pycache__", ".venv"),
                )
            settings = yaml.safe_load((PROGRAM / "Pulumi.yaml").read_text())
            settings["runtime"]["options"]["virtualenv"] = str(VENV)
            (self.project / "Pulumi.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
        state = workdir / "state"
        state.mkdir(exist_ok=True)
        temp = workdir / "tmp"
        temp.mkdir(exist_ok=True, mode=0o700)
        passphrase = workdir / "passphrase"
        if not passphrase.exists():
            passphrase.write_text(secrets.token_urlsafe(24))
            passphrase.chmod(0o600)
        self.env = {
            "PULUMI_BACKEND_URL": f"file://{state}",
            "PULUMI_CONFIG_PASSPHRASE_FILE": str(passphrase),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
            # The kubernetes provider writes its kubeconfig (an admin key) to TMPDIR: a private one.
            **{name: str(temp) for name in ("TMPDIR", "TEMP", "TMP")},
            "PATH": os.pathsep.join(
                [str(pulumi_root / "bin"), str(VENV / "bin"), os.environ.get("PATH", "")]
            ),
        }
        self.command = auto.PulumiCommand(root=str(pulumi_root), skip_version_check=True)
        self.workspace = auto.LocalWorkspace(
            work_dir=str(self.project), env_vars=self.env, pulumi_command=self.command
        )
        self.per_app = per_app
        # prod's policy config, every rule advisory: the benchmark measures what evaluating the
        # pack costs; the apps alone (no platform, no Harbor project) are not a compliant stack.
        pack_config = json.loads(PACK_CONFIG.read_text())
        for rule in pack_config.values():
            if isinstance(rule, dict):
                rule["enforcementLevel"] = "advisory"
        pack_config.setdefault("images-from-allowed-registry", {})["allowedRegistries"] = [ALLOWED_REGISTRY]
        self.pack_config = workdir / "policy-prod.json"
        self.pack_config.write_text(json.dumps(pack_config, indent=2))

    def stack(self, mode: str, n: int, *, variant: Variant | None = None) -> auto.Stack:
        """A previewed stack of `variant`, or (None) the deployed stack of this size."""
        deployed = variant is None
        name = f"{variant.name if variant else 'deployed'}-{mode}-{n}"
        stack_file = self.project / f"Pulumi.{name}.yaml"
        if not stack_file.exists():
            config = {**(_prod_config() if mode == "app" else {}), "bench:mode": mode, "bench:count": str(n)}
            if mode != "app":
                config["bench:perApp"] = str(self.per_app)
            if deployed:
                config["bench:skipAwait"] = "true"
            if variant is not None and variant.settle:
                config["bench:settle"] = "true"
            stack_file.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
        stack = auto.Stack.create_or_select(name, self.workspace)
        if mode != "component":
            stack.set_config("bench:kubeconfig", auto.ConfigValue(self.cluster.kubeconfig, secret=True))
        if deployed and mode == "app":
            # `up` needs the PAIS client secret (a preview does not): a throwaway one.
            stack.set_config(
                "paif:paisClientSecret", auto.ConfigValue(secrets.token_urlsafe(24), secret=True)
            )
        return stack

    @contextmanager
    def _engine_env(self, variant: Variant) -> Iterator[None]:
        extra = {SKIP_CHECKPOINTS: "true"} if variant.skip_checkpoints else {}
        if variant.client_limit:
            extra |= {"PULUMI_K8S_CLIENT_QPS": str(KUBE_CLIENT.qps), "PULUMI_K8S_CLIENT_BURST": str(KUBE_CLIENT.burst)}
        if variant.go_gc:
            extra["GOGC"] = GO_GC_PERCENT
        with self._extra_env(extra):
            yield

    @contextmanager
    def _extra_env(self, extra: dict[str, str]) -> Iterator[None]:
        """The workspace's environment plus `extra` for the commands run inside."""
        self.workspace.env_vars = {**self.env, **extra}
        try:
            yield
        finally:
            self.workspace.env_vars = dict(self.env)

    def preview(
        self, variant: Variant, mode: str, n: int, *, pack: Path | None = None, tracing: str | None = None
    ) -> tuple[float, int]:
        stack = self.stack(mode, n, variant=variant)
        extra: dict[str, Any] = {}
        if pack is not None:
            extra = {"policy_packs": [str(pack)]}
            if pack == PACK:
                extra["policy_pack_configs"] = [str(self.pack_config)]
        started = time.monotonic()
        try:
            with self._engine_env(variant):
                result = stack.preview(color="never", tracing=tracing, **extra)
        except auto.errors.CommandError as exc:
            raise BenchError(f"preview of {mode} N={n} failed:\n{str(exc)[-3000:]}") from None
        seconds = time.monotonic() - started
        return seconds, sum(result.change_summary.values())

    def up(self, mode: str, n: int) -> tuple[float, int]:
        stack = self.stack(mode, n)
        started = time.monotonic()
        # A throwaway state that no killed run will ever resume from: written once at the end
        # (the per-step snapshot made deploying 50 apps take 347 s instead of about 70).
        try:
            with self._extra_env({SKIP_CHECKPOINTS: "true"}):
                result = stack.up(color="never", show_secrets=False)
        except auto.errors.CommandError as exc:
            raise BenchError(f"up of {mode} N={n} failed:\n{str(exc)[-3000:]}") from None
        changes = result.summary.resource_changes or {}
        return time.monotonic() - started, sum(changes.values())

    def refresh(
        self, variant: Variant, mode: str, n: int, *, tracing: str | None = None
    ) -> tuple[float, int]:
        stack = self.stack(mode, n)
        started = time.monotonic()
        try:
            with self._engine_env(variant):
                result = stack.refresh(color="never", show_secrets=False, tracing=tracing)
        except auto.errors.CommandError as exc:
            raise BenchError(f"refresh of {mode} N={n} failed:\n{str(exc)[-3000:]}") from None
        seconds = time.monotonic() - started
        changes = result.summary.resource_changes or {}
        if set(changes) - {"same"}:
            raise BenchError(f"refresh of {mode} N={n} was not a no-op: {changes}")
        return seconds, sum(changes.values())


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _children_cpu() -> float:
    """CPU seconds of every descendant waited for so far: the CLI waits for its plugins and the
    language host for the program, so a finished run's whole tree is in it."""
    usage = getrusage(RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _measure(timing: Timing, run: Callable[[], tuple[float, int]], label: str) -> None:
    cpu_before = _children_cpu()
    seconds, resources = run()
    cpu = _children_cpu() - cpu_before
    timing.runs.append(seconds)
    timing.cpu.append(cpu)
    timing.resources = resources
    _log(f"  {label}: {seconds:.2f} s, CPU {cpu:.1f} s ({resources} resources)")


def run_variants(
    variants: Sequence[Variant],
    bench: Bench,
    counts: Sequence[int],
    repeat: int,
    *,
    refresh: int,
    policy: bool,
) -> list[VariantResult]:
    """Every preview `repeat` times; then, when `refresh` > 0, no-op refreshes of that many apps.

    Interleaved (round r of every case and variant before round r + 1, the variants side by
    side), so a burst of load from the machine's other users spreads over all cases and both
    variants instead of hitting one."""
    results = {v.name: VariantResult(v.name, refresh_apps=refresh) for v in variants}
    modes = [m for m in ALL_MODES if policy or m not in PACKS]
    for round_ in range(repeat if counts else 0):
        for n in counts:
            for mode in modes:
                for variant in variants:
                    program = "app" if mode in PACKS else mode
                    _measure(
                        results[variant.name].previews.setdefault((mode, n), Timing()),
                        functools.partial(bench.preview, variant, program, n, pack=PACKS.get(mode)),
                        f"[{variant.name} {round_ + 1}/{repeat}] preview {mode} N={n}",
                    )
    if refresh:
        for mode in ("app", "configmap"):
            seconds, resources = bench.up(mode, refresh)
            _log(f"  up {mode} N={refresh}: {seconds:.1f} s ({resources} resources)")
        for round_ in range(repeat):
            for mode in ("app", "configmap"):
                for variant in variants:
                    _measure(
                        results[variant.name].refresh.setdefault(mode, Timing()),
                        functools.partial(bench.refresh, variant, mode, refresh),
                        f"[{variant.name} {round_ + 1}/{repeat}] no-op refresh {mode} N={refresh}",
                    )
    return list(results.values())


def per_added_resource_ms(result: VariantResult, mode: str, low: int, high: int) -> float | None:
    if (mode, low) not in result.previews or (mode, high) not in result.previews:
        return None
    a, b = result.previews[mode, low], result.previews[mode, high]
    if b.resources == a.resources:
        return None
    return (b.best - a.best) / (b.resources - a.resources) * 1000


def _verdict(ok: bool) -> str:
    return "ok  " if ok else "MISS"


def report(result: VariantResult, counts: Sequence[int]) -> str:
    runs = len(next(iter(result.previews.values())).runs) if result.previews else 0
    lines = [f"== {result.name}: preview (best of {runs} runs) =="]
    counts = counts if result.previews else []
    modes = [
        m
        for m in ALL_MODES
        if counts and (m, counts[0]) in result.previews
    ]
    for n in counts:
        for mode in modes:
            t = result.previews[mode, n]
            lines.append(f"  N={n:<3} {mode:<16} {t.text()}  {t.resources} resources")
    lines.append("  ratios:" if counts else "  refresh only:")
    for n in counts:
        ratio = result.best("app", n) / result.best("configmap", n)
        lines.append(
            f"  [{_verdict(ratio <= MAX_APP_OVER_FLOOR)}] N={n:<3} app / ConfigMap floor = {ratio:.2f} "
            f"(target <= {MAX_APP_OVER_FLOOR}); app / component floor = "
            f"{result.best('app', n) / result.best('component', n):.2f}"
        )
    for mode in ("configmap", "app", "component"):
        steps = []
        for low, high in itertools.pairwise(counts):
            ms = per_added_resource_ms(result, mode, low, high)
            if ms is not None:
                steps.append(f"{low}->{high}: {ms:.1f}")
        lines.append(f"         {mode} ms per added resource: {', '.join(steps)}")
    if "app+policy" in modes:
        for n in counts:
            overhead = result.best("app+policy", n) / result.best("app", n) - 1
            cpu = result.previews["app+policy", n].best_cpu / result.previews["app", n].best_cpu - 1
            target = f" (target <= {MAX_POLICY_OVERHEAD:.0%})" if n == 20 else ""
            mark = _verdict(overhead <= MAX_POLICY_OVERHEAD) if n == 20 else "    "
            lines.append(f"  [{mark}] N={n:<3} policy overhead {overhead:+.1%}{target}; in CPU seconds {cpu:+.1%}")
            if ("app+noop-policy", n) in result.previews:
                floor = result.best("app+noop-policy", n) / result.best("app", n) - 1
                lines.append(
                    f"         N={n:<3} a pack of one no-op policy: {floor:+.1%} (the engine's and the SDK's "
                    f"share); ours beyond it: {(overhead - floor) * 100:+.1f} points"
                )
    for mode, t in result.refresh.items():
        target = f" (target <= {MAX_REFRESH_SECONDS:.0f} s)" if mode == "app" else ""
        mark = (
            _verdict(t.best <= MAX_REFRESH_SECONDS)
            if mode == "app" and result.refresh_apps == REFRESH_APPS
            else "    "
        )
        lines.append(
            f"  [{mark}] no-op refresh {mode} N={result.refresh_apps}: {t.text()}  {t.resources} resources{target}"
        )
    return "\n".join(lines)


def comparison(results: Sequence[VariantResult], counts: Sequence[int]) -> str:
    """A markdown before/after table of the variants of one run."""
    names = [r.name for r in results]
    header = "| figure | " + " | ".join(names) + " |"
    rows = [header, "|---|" + "---|" * len(names)]

    def row(label: str, values: Sequence[str]) -> None:
        rows.append(f"| {label} | " + " | ".join(values) + " |")

    counts = counts if results[0].previews else []
    modes = [
        m
        for m in ALL_MODES
        if counts and (m, counts[0]) in results[0].previews
    ]
    for mode in modes:
        for n in counts:
            row(
                f"preview {mode} N={n} (s)",
                [f"{r.best(mode, n):.2f} ±{r.previews[mode, n].spread:.2f}" for r in results],
            )
    for n in counts:
        row(
            f"app / ConfigMap floor N={n}",
            [f"{r.best('app', n) / r.best('configmap', n):.2f}" for r in results],
        )
    for mode in ("configmap", "app"):
        for low, high in itertools.pairwise(counts):
            values = [per_added_resource_ms(r, mode, low, high) for r in results]
            row(
                f"{mode} ms per added resource {low}->{high}",
                [f"{v:.1f}" if v is not None else "-" for v in values],
            )
    if "app+policy" in modes:
        for n in counts:
            row(
                f"policy overhead N={n}",
                [f"{r.best('app+policy', n) / r.best('app', n) - 1:+.1%}" for r in results],
            )
            if all(("app+noop-policy", n) in r.previews for r in results):
                row(
                    f"one no-op policy's overhead N={n}",
                    [f"{r.best('app+noop-policy', n) / r.best('app', n) - 1:+.1%}" for r in results],
                )
    for mode in ("app", "configmap"):
        if all(mode in r.refresh for r in results):
            row(
                f"no-op refresh {mode} N={results[0].refresh_apps} (s)",
                [f"{r.refresh[mode].best:.2f} ±{r.refresh[mode].spread:.2f}" for r in results],
            )
    return "\n".join(rows)


@contextmanager
def _workdir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="paif-bench-") as tmp:
        yield Path(tmp)


def _counts(text: str) -> list[int]:
    try:
        counts = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--counts {text!r}: expected comma-separated integers, e.g. 1,5,20,50"
        ) from None
    if not counts or counts[0] < 1:
        raise argparse.ArgumentTypeError(f"--counts {text!r}: every count must be 1 or more")
    return counts


def _variants(text: str) -> list[Variant]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"--variants {text!r}: expected a comma-separated list of {', '.join(VARIANTS)}"
        )
    return [VARIANTS[n] for n in dict.fromkeys(names)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--counts", type=_counts, default=list(DEFAULT_COUNTS), help="numbers of apps (default 1,5,20,50)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each measurement; the best is reported (default 3)"
    )
    parser.add_argument(
        "--refresh-apps",
        type=int,
        default=REFRESH_APPS,
        help=f"deploy this many apps (and a floor of that size) and refresh them (default {REFRESH_APPS}; 0: skip)",
    )
    parser.add_argument(
        "--refresh-only", action="store_true", help="skip the previews (deploy and refresh only)"
    )
    parser.add_argument("--no-policy", action="store_true", help="skip the previews with a policy pack (ours and the no-op floor)")
    parser.add_argument(
        "--variants",
        type=_variants,
        default=[VARIANTS["after"], VARIANTS["before"]],
        help="what to measure, in this order: after (the fixes), before (without them); default after,before",
    )
    parser.add_argument("--json", type=Path, help="write every run's figures to this file")
    parser.add_argument(
        "--workdir", type=Path, help="keep the project copies and state here (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat {args.repeat}: must be 1 or more")
    if args.refresh_apps < 0:
        parser.error(f"--refresh-apps {args.refresh_apps}: must be 0 (skip) or more")
    if not (TOOLS / "pulumi").exists():
        print("bench: the pulumi CLI is not in .tools/bin: run `make setup`", file=sys.stderr)
        return 2

    results: list[VariantResult] = []
    counts: list[int] = []
    try:
        with _workdir(args.workdir) as workdir, api_server() as cluster:
            _log(f"bench: API server at {cluster.url}; work directory {workdir}")
            bench = Bench(workdir / "bench", cluster, toolchain(workdir / "toolchain"))
            counts = [] if args.refresh_only else args.counts
            _, created = bench.preview(args.variants[0], "app", 1)
            bench.per_app = created - 2  # all but the stack and the provider
            _log(f"bench: one app registers {bench.per_app} resources besides the stack and the provider")
            results = run_variants(
                args.variants,
                bench,
                counts,
                args.repeat,
                refresh=args.refresh_apps,
                policy=not args.no_policy,
            )
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    for result in results:
        print(report(result, counts), flush=True)
    if len(results) > 1:
        print("\n" + comparison(results, counts))
    if args.json:
        args.json.write_text(json.dumps([r.to_json() for r in results], indent=2))
    return 0
