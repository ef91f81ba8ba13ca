"""`make up` / `make down` (`python -m localenv up|down`) as background runs that the fault
suite can watch and kill at a chosen phase of their Pulumi run.

The runner streams the Pulumi CLI's output line by line; a reader thread keeps every line
with the time it arrived. The engine's pid and its private temp directory (TMPDIR, where
Pulumi's file backend writes each checkpoint before renaming it over the stack file) come
from `.localenv/state.json`, where the runner records the Pulumi run in progress.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from localenv import processes
from localenv.layout import ROOT, Layout

BANNERS = {"up": "Updating (local):", "destroy": "Destroying (local):"}
"""The line the CLI prints when the real run (not the preview) of the command starts."""


@dataclass
class Engine:
    pid: int
    temp_dir: Path


@dataclass
class Run:
    """One background `python -m localenv <command>`."""

    command: str
    process: subprocess.Popen[str]
    started: float
    ended: float | None = None
    lines: list[tuple[float, str]] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _reader: threading.Thread | None = None

    @classmethod
    def start(cls, command: str) -> Run:
        process = subprocess.Popen(
            [sys.executable, "-m", "localenv", command],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        run = cls(command, process, time.monotonic())
        run._reader = threading.Thread(target=run._read, name=f"localenv-{command}", daemon=True)
        run._reader.start()
        return run

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def text(self) -> str:
        with self._changed:
            return "\n".join(line for _, line in self.lines)

    def phase_lines(self, pulumi_command: str) -> list[str]:
        """The lines printed since the real run of `pulumi_command` began (its preview excluded)."""
        with self._changed:
            texts = [line for _, line in self.lines]
        banner = BANNERS[pulumi_command]
        if banner not in texts:
            return []
        return texts[texts.index(banner) + 1 :]

    def count(self, pulumi_command: str, pattern: str) -> int:
        return sum(1 for line in self.phase_lines(pulumi_command) if re.search(pattern, line))

    def wait_for(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Wait until `condition()` holds (checked whenever a line arrives), at most `timeout` s;
        False when the time ran out or the run ended first."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.process.poll() is not None and not self._reading()):
                    return condition()
                self._changed.wait(min(remaining, 0.5))
        return True

    def _reading(self) -> bool:
        return self._reader is not None and self._reader.is_alive()

    def engine(self, pulumi_command: str, layout: Layout, timeout: float) -> Engine:
        """The Pulumi process the runner started for `pulumi_command` (as recorded in state.json)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            entry = layout.load_state().get("pulumi") or {}
            if entry.get("command") == pulumi_command and processes.alive(entry["pid"], entry.get("started")):
                try:
                    environ = Path(f"/proc/{entry['pid']}/environ").read_bytes().split(b"\0")
                except OSError:
                    continue
                temp = next(
                    (item[len(b"TMPDIR=") :] for item in environ if item.startswith(b"TMPDIR=")), None
                )
                if temp:
                    return Engine(int(entry["pid"]), Path(temp.decode()))
            time.sleep(0.05)
        raise AssertionError(
            f"no pulumi {pulumi_command} started within {timeout:.0f} s:\n{self.text()[-4000:]}"
        )

    def crash(self, engine: Engine | None) -> None:
        """SIGKILL the engine (if not dead already) and the runner: neither cleans up."""
        if engine is not None:
            processes.signal_pid(engine.pid, signal.SIGKILL)
        self.process.kill()
        self.finish(timeout=30)
        if engine is not None:
            assert processes.wait_gone([engine.pid], 10) == [], f"pulumi {engine.pid} survived SIGKILL"

    def finish(self, timeout: float) -> int:
        """Wait for the runner to end (killed after `timeout`); its exit code."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(timeout=30)
        self.ended = self.ended or time.monotonic()
        if self._reader is not None:
            self._reader.join(timeout=30)
        return code

    @property
    def seconds(self) -> float:
        """From the start to the end of the runner (to now while it runs)."""
        return (self.ended or time.monotonic()) - self.started


def run_to_end(command: str, timeout: float) -> tuple[int, float, str]:
    """`python -m localenv <command>` to its end: (exit code, seconds, output)."""
    run = Run.start(command)
    code = run.finish(timeout)
    return code, run.seconds, run.text()
