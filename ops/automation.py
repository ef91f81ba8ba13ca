"""The one way this project runs Pulumi from Python: the Automation API (`pulumi.automation`).

    project = Project(work_dir, Settings.from_env())
    stack = project.stack("dev")                      # an existing stack (create=True to init one)
    outcome = project.run(stack, "preview", policy=PolicyPack.for_stack("dev"))
    print(outcome.changes, [s.name for s in outcome.replaced_or_deleted])

What every run gets, whatever calls it (the gate, drift detection, deploys, tests):

- the backend from `PULUMI_BACKEND_URL` (default `file://<repo>/.pulumi-state`, what the
  Makefile sets) or a `postgres://` URL; a URL that carries a password is refused (the
  PostgreSQL password goes in `PGPASSWORD` or a passfile, never in a URL or argument);
- the passphrase secrets provider: `Settings.passphrase_file` when given (the environment's
  `PULUMI_CONFIG_PASSPHRASE*` are then removed), else the caller's environment;
- a fresh private (0700) temp directory per CLI invocation (`TMPDIR`, `TEMP`, `TMP`), removed
  after it: the kubernetes provider writes the kubeconfig it is given, credentials included,
  to a file in the temp directory and never deletes it;
- output streamed line by line to `on_output` while the command runs, structured engine
  events collected into an `Outcome` (counts per operation, each step, policy violations,
  errors) with a JSON form (`Outcome.summary()`);
- a clear error for a locked stack (`StackLocked`) and a missing plugin (`run make setup`);
- previews and refreshes without the engine's per-step checkpoint (`CHECKPOINT_FREE`).

Where the Automation API (SDK 3.272.0) cannot do what the project needs, and what is used
instead, for that part only:

1. `PulumiCommand.run` always starts from `os.environ` (a variable cannot be removed, e.g. a
   passphrase the caller's shell exported) and shares the system temp directory: `PrivateCommand`
   overrides `run` to build the environment from `Settings` and give each invocation its own
   temp directory; the SDK still builds every argument list and reads the events.
2. `LocalWorkspace.set_config(..., ConfigValue(secret=True))` puts the secret value on the
   command line (`pulumi config set --secret KEY -- VALUE`), visible in the process table:
   `Project.set_secret` runs `pulumi config set --secret KEY` with the value on stdin.
3. The SDK's `up`/`refresh`/`destroy` read the stack history and outputs with `--show-secrets`
   by default: every call here passes `show_secrets=False`.

`localenv/stack.py` starts its CLI commands through `PrivateCommand` too (with its own run
environment, which marks the processes for the service supervisor, and `on_start` recording
the pid so a killed run is found); its commands are the CLI's own (`stack init`, `config set`,
`up --config-file ... --policy-pack ...`), so it does not use the `auto.Stack` methods.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pulumi import automation as auto
from pulumi.automation._cmd import CommandResult, PulumiCommand
from pulumi.automation.errors import CommandError, StackNotFoundError, create_command_error
from semver import VersionInfo

from ops.state_guard import repair_torn_sidecars

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / ".tools" / "bin"
DEFAULT_BACKEND = f"file://{ROOT / '.pulumi-state'}"
PASSPHRASE_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")
TEMP_VARS = ("TMPDIR", "TEMP", "TMP")
DEFAULT_TIMEOUT_SECONDS = 3600
# The engine's words for a plugin it has not got (and could not download).
MISSING_PLUGIN = re.compile(
    r"(?:Could not automatically download and install|no) (?P<kind>\w+) plugin 'pulumi-\w+-(?P<name>[\w-]+)'(?P<rest>.*)"
)
# The DIY backends' lock (pkg/backend/diy/lock.go): one lock object per running update.
LOCKED = re.compile(r"the stack is currently locked by \d+ lock\(s\)[^\n]*(?:\n\s+\S.*)*")
CHANGE_OPS = frozenset(
    {"create", "update", "delete", "replace", "create-replacement", "delete-replaced", "import", "discard"}
)
"""Step operations that change something (a refresh's `refresh`, `same` and `read` do not)."""
DATA_LOSS_OPS = frozenset({"delete", "replace", "create-replacement", "delete-replaced", "discard"})
"""Step operations that remove the object the state describes (a replacement removes the old one)."""

Command = Literal["preview", "up", "refresh", "preview-refresh", "destroy"]
CHECKPOINT_FREE: frozenset[Command] = frozenset({"preview", "refresh", "preview-refresh"})
"""Commands run with `PULUMI_SKIP_CHECKPOINTS=true`: the engine then writes the state once at
the end instead of serializing the whole snapshot after every step (O(resources²); 95 → 39 s
for a 1,150-resource preview, bench/README.md). A preview persists nothing anyway; a refresh
only reads, and one that is interrupted leaves the previous state, which the next refresh
redoes. Never for `up`/`destroy`: their per-step checkpoint is what a killed run resumes from."""
GO_GC_PERCENT = "400"
"""`GOGC` for the CLI and its Go plugins (the engine, the kubernetes provider) unless the caller
sets one: Go's default (100) spent about a fifth of the engine's CPU in the garbage collector on
a no-op refresh of 1,203 resources; at 400 the CLI's process tree used 15% less CPU (user
12.4 → 10.5 s, median of 5 interleaved runs) for a largest resident set of 0.8 GB instead of
0.6 GB (bench/README.md, "Garbage collection")."""
OutputSink = Callable[[str], None]


class AutomationError(RuntimeError):
    """Pulumi could not be run as asked (no CLI, no stack, bad backend URL, missing plugin)."""


class StackLocked(AutomationError):
    """Another update holds the stack's lock."""


def missing_plugin(output: str) -> str | None:
    """What to tell the user when the engine stopped for want of a plugin; None otherwise.
    Plugins are built and installed by `make setup`, never downloaded."""
    match = MISSING_PLUGIN.search(output)
    if match is None:
        return None
    version = re.search(r"at version (v[\w.+-]+)", match["rest"])
    at = f" {version[1]}" if version else ""
    return f"the Pulumi {match['kind']} plugin '{match['name']}'{at} is not installed: run `make setup`"


def redact(url: str) -> str:
    """`url` without a password (for messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:****@{netloc}"))


def check_backend_url(url: str) -> str:
    """`url` when it is a backend this project uses (file://, postgres://, or another DIY bucket)."""
    parts = urlsplit(url)
    if parts.scheme == "postgresql":
        raise AutomationError(
            f"PULUMI_BACKEND_URL={redact(url)!r}: the Pulumi PostgreSQL backend's scheme is 'postgres://', "
            "not 'postgresql://'"
        )
    if parts.scheme == "postgres" and parts.password is not None:
        raise AutomationError(
            f"PULUMI_BACKEND_URL={redact(url)!r} carries a password: remove it from the URL and give it in "
            "PGPASSWORD or a passfile (PGPASSFILE), so it never appears in a command line or a log"
        )
    if not parts.scheme:
        raise AutomationError(
            f"PULUMI_BACKEND_URL={url!r} is not a URL: use file:///path or postgres://user@host:port/db?sslmode=verify-full"
        )
    return url


def backend_url(env: Mapping[str, str] | None = None) -> str:
    """The state backend: `PULUMI_BACKEND_URL`, default the repository's file backend (created
    on first use, as the file backend refuses a missing directory)."""
    env = os.environ if env is None else env
    url = check_backend_url(env.get("PULUMI_BACKEND_URL") or DEFAULT_BACKEND)
    if url.startswith("file://"):
        Path(url.removeprefix("file://").split("?")[0]).expanduser().mkdir(parents=True, exist_ok=True)
    return url


@dataclass(frozen=True)
class Settings:
    """What every Pulumi invocation of a `Project` runs with."""

    backend_url: str
    passphrase_file: Path | None = None
    """The stacks' passphrase; None: `PULUMI_CONFIG_PASSPHRASE(_FILE)` from the environment."""
    temp_parent: Path | None = None
    """Where the per-run temp directories go (default: the system temp directory)."""
    extra_env: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    """A command still running after this gets SIGINT (the engine saves its state), then SIGKILL."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        return cls(backend_url=backend_url(env), **overrides)

    def environment(self, base: Mapping[str, str], temp_dir: Path) -> dict[str, str]:
        """The full environment of one CLI invocation."""
        env = dict(base)
        env.setdefault("GOGC", GO_GC_PERCENT)
        if self.passphrase_file is not None:
            for name in PASSPHRASE_VARS:
                env.pop(name, None)
            env["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(self.passphrase_file)
        env.update(
            {
                "PATH": os.pathsep.join([str(TOOLS), str(ROOT / ".venv" / "bin"), base.get("PATH", "")]),
                "PULUMI_BACKEND_URL": check_backend_url(self.backend_url),
                "PULUMI_SKIP_UPDATE_CHECK": "true",
                "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
                # A stack file without an encryption salt (a fresh checkout, CI) uses the
                # secrets provider recorded in the stack's state instead of minting a new one.
                "PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER": "true",
                **self.extra_env,
                # Go (engine, providers) reads TMPDIR; Python's tempfile also TEMP and TMP.
                **{name: str(temp_dir) for name in TEMP_VARS},
            }
        )
        return env


def pulumi_cli() -> Path:
    """The pinned CLI in .tools/bin, else the first `pulumi` on PATH."""
    if (TOOLS / "pulumi").exists():
        return TOOLS / "pulumi"
    found = shutil.which("pulumi")
    if found is None:
        raise AutomationError(f"pulumi CLI not found in {TOOLS} or on PATH: run `make setup`")
    return Path(found)


class PrivateCommand(PulumiCommand):
    """`PulumiCommand` whose every invocation gets the environment of `settings` (not the
    caller's passphrase when a file is given) and a private temp directory, removed after it;
    `on_start(pid, args)` is called once the CLI process runs (for a caller that records it)."""

    def __init__(
        self, settings: Settings, *, on_start: Callable[[int, Sequence[str]], None] | None = None
    ) -> None:
        # Not the SDK's constructor: it runs `pulumi version` with the caller's environment.
        self.settings = settings
        self.on_start = on_start
        self.command = str(pulumi_cli())
        version = subprocess.run(
            [self.command, "version"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
            env={**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"},
        ).stdout.strip()
        try:
            self.version: VersionInfo | None = VersionInfo.parse(version.removeprefix("v"))
        except ValueError:
            raise AutomationError(f"{self.command} version printed {version!r}, not a version") from None
        self.last: CommandResult | None = None

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: Callable[[str], Any] | None = None,
        on_error: Callable[[str], Any] | None = None,
        *,
        stdin: str | None = None,
    ) -> CommandResult:
        """The SDK's `run`, plus `stdin` (a secret value given to the command without an argument)."""
        args = list(args)
        end = args.index("--") if "--" in args else len(args)
        if "--non-interactive" not in args[:end]:
            args.insert(0, "--non-interactive")
        parent = self.settings.temp_parent
        if parent is not None:
            parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temp_dir = Path(tempfile.mkdtemp(prefix=f"pulumi-{os.getpid()}-", dir=parent))
        try:
            env = self.settings.environment(os.environ, temp_dir)
            env.update({k: v for k, v in additional_env.items() if k not in TEMP_VARS})
            env["PULUMI_AUTOMATION_API"] = "true"
            result = self.spawn([self.command, *args], cwd, env, (on_output, on_error), stdin)
        finally:
            shutil.rmtree(temp_dir, ignore_errors=True)
        self.last = result
        if result.code != 0:
            raise create_command_error(result)
        return result

    def spawn(
        self,
        argv: list[str],
        cwd: str,
        env: dict[str, str],
        sinks: tuple[Callable[[str], Any] | None, Callable[[str], Any] | None],
        stdin: str | None,
        *,
        notice: Callable[[str], Any] | None = None,
    ) -> CommandResult:
        """Run `argv` (the CLI and its arguments, exactly as given) with `env`, each line of its
        output and error streams given to `sinks` as it is printed; every CLI start of the
        project (the gate, deploys, drift, localenv) goes through here. What this runner does
        itself is told to `notice` (default: the error sink, else stderr), never mixed into
        output a caller parses."""
        # What a kill inside the file backend's sidecar write leaves (ops/state_guard.py).
        tell = notice or sinks[1] or (lambda line: print(line, file=sys.stderr))
        repair_torn_sidecars(env.get("PULUMI_BACKEND_URL", self.settings.backend_url), tell)
        on_output, on_error = sinks
        out: list[str] = []
        err: list[str] = []

        def consume(stream: IO[str], callback: Callable[[str], Any] | None, chunks: list[str]) -> None:
            for line in iter(stream.readline, ""):
                stripped = line.rstrip("\n")
                if callback is not None:
                    callback(stripped)
                chunks.append(stripped)
            stream.close()

        with subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",
        ) as process:
            if self.on_start is not None:
                self.on_start(process.pid, argv[1:])
            assert process.stdout is not None and process.stderr is not None
            readers = [
                threading.Thread(target=consume, args=(process.stdout, on_output, out), daemon=True),
                threading.Thread(target=consume, args=(process.stderr, on_error, err), daemon=True),
            ]
            for reader in readers:
                reader.start()
            if stdin is not None and process.stdin is not None:
                process.stdin.write(stdin)
                process.stdin.close()
            try:
                code = process.wait(timeout=self.settings.timeout_seconds)
            except subprocess.TimeoutExpired:
                # Let the engine finish the steps in flight and save its state, then stop it.
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                raise AutomationError(
                    f"`pulumi {' '.join(argv[1:3])}` did not finish in {self.settings.timeout_seconds:.0f} s "
                    "and was interrupted"
                ) from None
            except BaseException:
                # Ctrl-C: the engine gets SIGINT too, so it saves its state before exiting.
                process.send_signal(signal.SIGINT)
                process.wait()
                raise
            for reader in readers:
                reader.join()
        return CommandResult(stdout="\n".join(out), stderr="\n".join(err), code=code)


@dataclass(frozen=True)
class PolicyPack:
    """A policy pack directory and the config file of one stack."""

    path: Path
    config: Path

    @classmethod
    def for_stack(cls, stack: str, root: Path = ROOT) -> PolicyPack:
        config = root / "policy" / "config" / f"{stack}.json"
        if not config.exists():
            known = ", ".join(sorted(p.stem for p in config.parent.glob("*.json")))
            raise AutomationError(f"stack {stack!r}: no policy config {config} (have: {known})")
        return cls(root / "policy", config)


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


@dataclass(frozen=True)
class Step:
    """One resource step the engine planned or performed."""

    urn: str
    type: str
    op: str
    diffs: tuple[str, ...] = ()
    """The properties that differ."""
    replace_keys: tuple[str, ...] = ()
    """The properties that force a replacement."""
    old_inputs: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """The inputs in state of a resource that would be replaced or deleted (secrets masked)."""

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    def describe(self) -> str:
        detail = f" ({', '.join(self.replace_keys or self.diffs)})" if self.replace_keys or self.diffs else ""
        return f"{self.op} {self.type} {self.name}{detail}"


@dataclass
class Outcome:
    """What one preview/up/refresh/destroy did or would do."""

    command: str
    stack: str
    ok: bool
    seconds: float
    changes: dict[str, int] = field(default_factory=dict)
    """The summary's resource counts by operation (`same` included)."""
    steps: list[Step] = field(default_factory=list)
    """The steps as planned (ResourcePreEvent)."""
    observed: list[Step] = field(default_factory=list)
    """The steps as they ended (ResOutputsEvent): a refresh's real operation and diff."""
    violations: list[PolicyViolation] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    output: str = ""
    """The tail of what the CLI printed (stdout then stderr)."""

    @property
    def mandatory(self) -> list[PolicyViolation]:
        return [v for v in self.violations if v.level == "mandatory"]

    @property
    def changed(self) -> dict[str, int]:
        """The counts of operations that change something."""
        return {op: n for op, n in sorted(self.changes.items()) if op in CHANGE_OPS and n}

    @property
    def change_steps(self) -> list[Step]:
        return [s for s in self.steps if s.op in CHANGE_OPS]

    @property
    def replaced_or_deleted(self) -> list[Step]:
        """One step per resource that would be replaced or deleted (the replacement's
        create-replacement/delete-replaced halves are folded into `replace`)."""
        found: dict[str, Step] = {}
        for step in self.steps:
            if step.op in DATA_LOSS_OPS:
                op = "delete" if step.op in ("delete", "discard") else "replace"
                previous = found.get(step.urn)
                keys = step.replace_keys or (previous.replace_keys if previous else ())
                inputs = step.old_inputs or (previous.old_inputs if previous else {})
                found[step.urn] = Step(step.urn, step.type, op, step.diffs, keys, inputs)
        return list(found.values())

    def summary(self) -> dict[str, Any]:
        """The JSON change summary."""
        return {
            "command": self.command,
            "stack": self.stack,
            "ok": self.ok,
            "seconds": round(self.seconds, 1),
            "changes": self.changed,
            "same": self.changes.get("same", 0),
            "steps": [
                {"op": s.op, "type": s.type, "name": s.name, "urn": s.urn, "diffs": list(s.diffs)}
                for s in self.change_steps
            ],
            "replacedOrDeleted": [s.urn for s in self.replaced_or_deleted],
            "violations": [
                {"policy": v.policy, "level": v.level, "urn": v.urn, "message": v.message}
                for v in self.violations
            ],
            "errors": self.errors,
        }


class EventRecorder:
    """Collects the engine events of one command (called from the SDK's gRPC threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.steps: list[Step] = []
        self.observed: list[Step] = []
        self.violations: list[PolicyViolation] = []
        self.errors: list[str] = []
        self.changes: dict[str, int] = {}

    def __call__(self, event: auto.EngineEvent) -> None:
        with self._lock:
            if (pre := event.resource_pre_event) is not None:
                meta = pre.metadata
                loses = _value(meta.op) in DATA_LOSS_OPS
                self.steps.append(
                    Step(
                        urn=meta.urn,
                        type=meta.type,
                        op=_value(meta.op),
                        diffs=tuple(meta.diffs or ()),
                        replace_keys=tuple(meta.keys or ()) if loses else (),
                        old_inputs=dict(meta.old.inputs or {}) if loses and meta.old is not None else {},
                    )
                )
            elif (done := event.res_outputs_event) is not None:
                meta = done.metadata
                diffs = tuple(meta.diffs or ()) or tuple((meta.detailed_diff or {}).keys())
                self.observed.append(Step(urn=meta.urn, type=meta.type, op=_value(meta.op), diffs=diffs))
            elif (policy := event.policy_event) is not None:
                self.violations.append(
                    PolicyViolation(
                        policy=policy.policy_name,
                        level=policy.enforcement_level,
                        urn=policy.resource_urn or "",
                        message=policy.message.strip(),
                    )
                )
            elif (diagnostic := event.diagnostic_event) is not None and diagnostic.severity == "error":
                self.errors.append(diagnostic.message.strip())
            elif (summary := event.summary_event) is not None:
                self.changes = {_value(op): int(n) for op, n in summary.resource_changes.items()}


def _value(op: object) -> str:
    return str(getattr(op, "value", op))


def print_line(line: str) -> None:
    print(line, flush=True)


class Project:
    """A Pulumi project directory (Pulumi.yaml) run through the Automation API."""

    def __init__(
        self,
        work_dir: Path,
        settings: Settings,
        *,
        on_start: Callable[[int, Sequence[str]], None] | None = None,
    ) -> None:
        self.work_dir = work_dir
        self.settings = settings
        self.command = PrivateCommand(settings, on_start=on_start)
        self.workspace = auto.LocalWorkspace(work_dir=str(work_dir), pulumi_command=self.command)

    def stack_names(self) -> list[str]:
        return sorted(s.name for s in self.workspace.list_stacks())

    def stack(self, name: str, *, create: bool = False) -> auto.Stack:
        """The stack `name` in the backend; with `create`, initialized with the passphrase
        secrets provider when it does not exist."""
        try:
            return auto.Stack.select(name, self.workspace)
        except StackNotFoundError:
            if not create:
                raise AutomationError(
                    f"stack {name!r} does not exist in {redact(self.settings.backend_url)} "
                    f"(have: {', '.join(self.stack_names()) or 'none'})"
                ) from None
        except CommandError as exc:
            raise AutomationError(f"cannot select stack {name!r}: {_command_message(exc)}") from None
        self.workspace.secrets_provider = "passphrase"
        try:
            return auto.Stack.create(name, self.workspace)
        except CommandError as exc:
            raise AutomationError(f"cannot create stack {name!r}: {_command_message(exc)}") from None

    def set_secret(self, stack: str, key: str, value: str, *, config_file: Path | None = None) -> None:
        """`pulumi config set --secret KEY` with the value on stdin (never in the command line)."""
        args = ["config", "set", "--secret", key, "--stack", stack]
        if config_file is not None:
            args += ["--config-file", str(config_file)]
        try:
            self.command.run(args, str(self.work_dir), {}, stdin=value)
        except CommandError as exc:
            raise AutomationError(f"cannot set {key} on stack {stack!r}: {_command_message(exc)}") from None

    def recover(self, stack: auto.Stack, *, config_file: Path | None = None) -> list[str]:
        """After an update was killed: release its lock and drop the creates it left pending
        (`refresh --clear-pending-creates`; whether such an object was made is unknown, the
        next `up` declares it again). Returns the URNs of the pending operations cleared.
        Only for an update known to be dead: the lock of a running one is released too."""
        stack.cancel()
        pending = [op["resource"]["urn"] for op in self.export(stack.name)["deployment"].get("pending_operations") or []]
        if pending:
            kwargs: dict[str, Any] = {"clear_pending_creates": True, "show_secrets": False, "color": "never"}
            if config_file is not None:
                kwargs["config_file"] = str(config_file)
            try:
                stack.refresh(**kwargs)
            except CommandError as exc:
                raise AutomationError(f"cannot clear the pending operations of {stack.name!r}: {_command_message(exc)}") from None
        return pending

    def export(self, stack: str) -> dict[str, Any]:
        deployment = self.workspace.export_stack(stack)
        return {"version": deployment.version, "deployment": deployment.deployment}

    def run(
        self,
        stack: auto.Stack,
        command: Command,
        *,
        policy: PolicyPack | None = None,
        config_file: Path | None = None,
        refresh: bool = False,
        expect_no_changes: bool = False,
        run_program: bool | None = None,
        on_output: OutputSink | None = print_line,
    ) -> Outcome:
        """Run `command` on `stack`; a failed command gives `ok=False` with its errors, except a
        locked stack (`StackLocked`) and a missing plugin (`AutomationError`)."""
        events = EventRecorder()
        common: dict[str, Any] = {
            "on_output": on_output,
            "on_error": on_output,
            "on_event": events,
            "color": "never",
        }
        # The SDK's up/refresh/destroy default to `--show-secrets` for the stack history and
        # outputs they read afterwards, which would hand secrets to `on_output`.
        hidden: dict[str, Any] = {"show_secrets": False}
        if config_file is not None:
            common["config_file"] = str(config_file)
        if run_program is not None:
            common["run_program"] = run_program
        if expect_no_changes:
            common["expect_no_changes"] = True
        packs: dict[str, Any] = {}
        if policy is not None:
            packs = {"policy_packs": [str(policy.path)], "policy_pack_configs": [str(policy.config)]}
        started = time.monotonic()
        ok = True
        self.command.last = None
        saved_env = dict(self.workspace.env_vars)
        if command in CHECKPOINT_FREE:
            self.workspace.env_vars = {**saved_env, "PULUMI_SKIP_CHECKPOINTS": "true"}
        try:
            if command == "preview":
                stack.preview(refresh=refresh or None, **common, **packs)
            elif command == "up":
                stack.up(refresh=refresh or None, **common, **packs, **hidden)
            elif command == "refresh":
                stack.refresh(**common, **hidden)
            elif command == "preview-refresh":
                stack.preview_refresh(**common, **hidden)
            elif command == "destroy":
                stack.destroy(refresh=refresh or None, **common, **hidden)
            else:
                raise AutomationError(f"unknown command {command!r}: preview, up, refresh, preview-refresh, destroy")
        except CommandError:
            ok = False
        except RuntimeError as exc:
            if "summary event never found" not in str(exc):
                raise
            ok = False
        finally:
            self.workspace.env_vars = saved_env
        seconds = time.monotonic() - started
        result = self.command.last
        output = f"{result.stdout}\n{result.stderr}" if result is not None else ""
        if not ok:
            if locked := LOCKED.search(output):
                raise StackLocked(
                    f"stack {stack.name!r} is being updated by someone else: {locked[0].strip()}\n"
                    "wait for that update to end; if it was killed, release its lock and clear what it left "
                    f"pending with `python -m ops.automation recover {stack.name}`"
                )
            if hint := missing_plugin(output):
                raise AutomationError(hint)
        return Outcome(
            command=command,
            stack=stack.name,
            ok=ok,
            seconds=seconds,
            changes=events.changes,
            steps=events.steps,
            observed=events.observed,
            violations=events.violations,
            errors=events.errors or ([] if ok else _error_lines(output)),
            output=output[-8000:],
        )


def _error_lines(output: str) -> list[str]:
    lines = [line.strip() for line in output.splitlines() if "error:" in line]
    return lines[-10:] or [line for line in output.splitlines() if line.strip()][-10:]


def _command_message(exc: CommandError) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return "; ".join(errors[-3:] or lines[-3:])


def format_changes(changes: Mapping[str, int]) -> str:
    return ", ".join(f"{op} {n}" for op, n in sorted(changes.items())) or "no changes"


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops.automation",
        description="Run one Pulumi command on a stack of this project through the Automation API.",
    )
    parser.add_argument("command", choices=["preview", "up", "refresh", "preview-refresh", "destroy", "recover"])
    parser.add_argument("stack")
    parser.add_argument("--config-file", type=Path, help="a stack config file other than stacks/Pulumi.<stack>.yaml")
    parser.add_argument("--policy", action="store_true", help="with the policy pack and policy/config/<stack>.json")
    parser.add_argument("--refresh", action="store_true", help="refresh before preview/up/destroy")
    parser.add_argument("--summary", type=Path, help="also write the JSON change summary to this file")
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        project = Project(ROOT, Settings.from_env())
        stack = project.stack(args.stack)
        if args.command == "recover":
            cleared = project.recover(stack, config_file=args.config_file)
            print(f"released the lock of stack {args.stack!r}; cleared {len(cleared)} pending operation(s)")
            return 0
        outcome = project.run(
            stack,
            args.command,
            policy=PolicyPack.for_stack(args.stack) if args.policy else None,
            config_file=args.config_file,
            refresh=args.refresh,
        )
    except AutomationError as exc:
        print(f"ops.automation: {exc}", file=sys.stderr)
        return 2
    summary = json.dumps(outcome.summary(), indent=2)
    if args.summary:
        args.summary.write_text(summary + "\n")
    print(summary)
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
