"""Background processes that can be found again after the runner itself is gone.

Every process the runner starts carries `PAIF_LOCALENV=<.localenv path>` in its
environment, which its children inherit. A later run finds leftovers of a crashed one by
that marker in /proc (not by a name pattern, and not only by recorded pids, which the
kernel may have handed to someone else meanwhile), so it only ever signals its own.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

MARKER = "PAIF_LOCALENV"


class ProcessError(RuntimeError):
    """A process did not start, or would not stop."""


def spawn(
    argv: Sequence[str],
    *,
    home: Path,
    log: Path,
    account: pwd.struct_passwd | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start `argv` in its own session with output to `log` (truncated, 0600), marked as ours.

    `account`: run as this user (PostgreSQL refuses to run as root). `env`: added to ours.
    """
    env = {**os.environ, **(env or {}), MARKER: str(home)}
    # Owner-only: a service may log what it was sent (a statement, a request).
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as out:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            extra_groups=[] if account else None,
        )


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (field 3, the state, first), None
    if the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after its end.
    return stat[stat.rindex(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """The process's start time (clock ticks after boot), None if it is gone or a zombie."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] == "Z":
        return None
    return int(fields[19])


def alive(pid: int, started: int | None) -> bool:
    """Whether `pid` still is the process that was recorded with start time `started`."""
    now = start_time(pid)
    return now is not None and (started is None or now == started)


def marked(home: Path) -> list[int]:
    """Pids of live processes carrying our marker for `home` (never this process)."""
    wanted = f"{MARKER}={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if wanted in environ.split(b"\0") and start_time(int(entry.name)) is not None:
            found.append(int(entry.name))
    return found


def parent(pid: int) -> int | None:
    """The parent process id of `pid`, None if it is gone."""
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[1])


def session(pid: int) -> int | None:
    """The session id of `pid` (a process `spawn` started leads its own), None if it is gone."""
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[3])


def executable(pid: int) -> Path | None:
    """The program `pid` runs, None if it is gone, a zombie or not ours to read."""
    try:
        return Path(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return None


def left_behind(home: Path, leader: int, program: Path | None = None) -> list[int]:
    """Our processes that outlived a killed service: those still in the session `leader`
    led (containerd's shims), and with `program`, every one running it (PostgreSQL's
    children start sessions of their own)."""
    wanted = program.resolve() if program is not None else None
    return [
        pid
        for pid in marked(home)
        if pid != leader and (session(pid) == leader or (wanted is not None and executable(pid) == wanted))
    ]


def _reap(pid: int) -> None:
    """Collect the exit status if `pid` is our child (tests start services in-process)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Wait until none of `pids` runs; return those still running after `timeout`."""
    remaining = list(pids)
    deadline = time.monotonic() + timeout
    while True:
        for pid in remaining:
            _reap(pid)
        remaining = [pid for pid in remaining if start_time(pid) is not None]
        if not remaining or time.monotonic() >= deadline:
            return remaining
        time.sleep(0.05)


def log_tail(path: Path, limit: int = 3000) -> str:
    """The end of a service's log (for an error message); empty when it cannot be read."""
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


def wait_ready(
    what: str,
    check: Callable[[], bool],
    timeout: float,
    process: subprocess.Popen[bytes] | None,
    log: Path,
    *,
    error: type[Exception],
    interval: float = 0.2,
) -> None:
    """Wait until `check()` holds; raise `error` with the end of `log` when `process` exits
    first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise error(f"{what} exited with {process.returncode}; its log ({log}):\n{log_tail(log)}")
        if check():
            return
        time.sleep(interval)
    raise error(f"{what} not ready after {timeout:.0f} s; its log ({log}):\n{log_tail(log)}")


def signal_pid(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def stop(pid: int, started: int | None, sig: signal.Signals = signal.SIGTERM, timeout: float = 15) -> None:
    """Stop one recorded process: `sig`, then SIGKILL after `timeout`."""
    if not alive(pid, started):
        _reap(pid)
        return
    signal_pid(pid, sig)
    if wait_gone([pid], timeout):
        signal_pid(pid, signal.SIGKILL)
        if wait_gone([pid], 10):
            raise ProcessError(f"process {pid} survived SIGKILL")


def sweep(home: Path, timeout: float = 10) -> list[int]:
    """Stop every process still carrying our marker (SIGTERM, then SIGKILL). Returns their pids."""
    pids = marked(home)
    for pid in pids:
        signal_pid(pid, signal.SIGTERM)
    survivors = wait_gone(pids, timeout)
    for pid in survivors:
        signal_pid(pid, signal.SIGKILL)
    if wait_gone(survivors, 10):
        raise ProcessError(f"processes {survivors} survived SIGKILL")
    return pids


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def port_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:`port` (servers set SO_REUSEADDR, so
    connections lingering in TIME_WAIT do not count)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def port_open(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:`port`."""
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_ports_free(ports: Iterable[int], timeout: float) -> list[int]:
    """Wait until every port is free; return those still taken after `timeout`."""
    remaining = list(ports)
    deadline = time.monotonic() + timeout
    while True:
        remaining = [port for port in remaining if not port_free(port)]
        if not remaining or time.monotonic() >= deadline:
            return remaining
        time.sleep(0.1)
