"""Hold a process at the moment it opens a file, to kill it at an exact point (fanotify).

A fanotify permission event (FAN_OPEN_PERM) stops the opening process inside `open(2)` until
the listener answers. The fault suite marks the private temp directory of one `pulumi up`
or `pulumi destroy` (the runner's TMPDIR: Pulumi's file backend writes each checkpoint to a
temp file there, then renames it over the stack file) and, when the engine opens the temp
file of the checkpoint it is about to write, decides whether to SIGKILL it there: the kill
then lands during that checkpoint write, every time, instead of at a moment a timer chose.

Only the marked directory's own files are held, only for as long as `decide` takes; every
other process's open is answered at once, and closing the gate answers whatever is pending.
Needs CAP_SYS_ADMIN (the local environment runs as root already). No Python library for
fanotify permission events is packaged (the kernel's interface is small: two calls and two
structs), so this talks to libc directly.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import signal
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

FAN_CLASS_CONTENT = 0x04
FAN_CLOEXEC = 0x01
FAN_NONBLOCK = 0x02
FAN_MARK_ADD = 0x01
FAN_OPEN_PERM = 0x0001_0000
FAN_EVENT_ON_CHILD = 0x0800_0000
FAN_ALLOW = 0x01
FAN_DENY = 0x02
AT_FDCWD = -100
EVENT = struct.Struct("IBBHQii")
"""struct fanotify_event_metadata: event_len, vers, reserved, metadata_len, mask, fd, pid."""
RESPONSE = struct.Struct("iI")
"""struct fanotify_response: fd, response."""


class GateError(RuntimeError):
    """fanotify is not available here."""


@dataclass(frozen=True)
class Opened:
    name: str
    pid: int
    seconds: float
    """Since the gate opened."""
    killed: bool


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.fanotify_init.argtypes = [ctypes.c_uint, ctypes.c_uint]
    libc.fanotify_mark.argtypes = [
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint64,
        ctypes.c_int,
        ctypes.c_char_p,
    ]
    return libc


@dataclass
class OpenGate:
    """While open: each file `pid` opens in `directory` is held until `decide(name)` returns;
    True kills `pid` (SIGKILL) while it is still inside that open."""

    directory: Path
    pid: int
    decide: Callable[[str], bool]
    opened: list[Opened] = field(default_factory=list)
    _fd: int = -1
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _started: float = 0.0

    def __enter__(self) -> OpenGate:
        libc = _libc()
        fd = libc.fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK, os.O_RDONLY | os.O_LARGEFILE)
        if fd < 0:
            raise GateError(f"fanotify_init: {os.strerror(ctypes.get_errno())} (needs CAP_SYS_ADMIN)")
        mask = FAN_OPEN_PERM | FAN_EVENT_ON_CHILD
        if libc.fanotify_mark(fd, FAN_MARK_ADD, mask, AT_FDCWD, str(self.directory).encode()) != 0:
            error = os.strerror(ctypes.get_errno())
            os.close(fd)
            raise GateError(f"fanotify_mark {self.directory}: {error}")
        self._fd = fd
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._serve, name="open-gate", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        # Closing the group answers every event still pending: nobody stays held.
        os.close(self._fd)

    @property
    def killed(self) -> Opened | None:
        return next((entry for entry in self.opened if entry.killed), None)

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._fd], [], [], 0.2)
            if not ready:
                continue
            try:
                buffer = os.read(self._fd, 64 * EVENT.size)
            except BlockingIOError:
                continue
            offset = 0
            while offset + EVENT.size <= len(buffer):
                length, _version, _reserved, _meta, _mask, event_fd, pid = EVENT.unpack_from(buffer, offset)
                offset += length
                if event_fd >= 0:
                    self._answer(event_fd, pid)

    def _answer(self, event_fd: int, pid: int) -> None:
        kill = False
        try:
            name = Path(os.readlink(f"/proc/self/fd/{event_fd}")).name
            kill = pid == self.pid and self.killed is None and self.decide(name)
            if kill:
                os.kill(self.pid, signal.SIGKILL)
            self.opened.append(Opened(name, pid, time.monotonic() - self._started, kill))
        finally:
            # Always answered (a failing `decide` lets the open through). A killed engine
            # never returns from this open; it is denied all the same.
            os.write(self._fd, RESPONSE.pack(event_fd, FAN_DENY if kill else FAN_ALLOW))
            os.close(event_fd)
