"""Start and stop vcsim (the vCenter simulator `make setup` builds) on a free loopback port.

    with Vcsim.start(vgpu_profiles=["grid_a100-40c"]) as sim:
        sim.host        # "127.0.0.1:41234"
        sim.url         # "https://127.0.0.1:41234"
        sim.username, sim.password

Each instance is a fresh simulator process: vcsim keeps its state in memory, so a new
process is an empty inventory (one datacenter DC0, cluster DC0_C0 with hosts
DC0_C0_H0..2, datastore LocalDS_0). Used by the integration tests and reusable by the
local environment runner; it does not depend on pytest.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[2] / ".tools" / "bin"
READY_MARKER = "GOVC_URL="


class VcsimError(RuntimeError):
    """vcsim is missing or did not come up."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Vcsim:
    """A running vcsim process (see the module doc)."""

    process: subprocess.Popen[bytes]
    port: int
    tls: bool
    username: str
    password: str
    vgpu_profiles: tuple[str, ...]
    log_file: Path
    """vcsim's output (removed by `stop`)."""

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def protocol(self) -> str:
        return "https" if self.tls else "http"

    @property
    def url(self) -> str:
        return f"{self.protocol}://{self.host}"

    @classmethod
    def start(
        cls,
        *,
        tls: bool = True,
        vgpu_profiles: Sequence[str] = (),
        username: str = "administrator@vsphere.local",
        password: str | None = None,
        port: int | None = None,
        binary: Path | None = None,
        ready_timeout: float = 20.0,
    ) -> Vcsim:
        """Start vcsim and wait until it serves. Only `username`/`password` can log in (a
        random password unless given). `vgpu_profiles`: what every host advertises in
        `config.sharedPassthruGpuTypes` (none by default, like hosts without the NVIDIA driver)."""
        executable = binary or TOOLS / "vcsim"
        if not executable.exists():
            raise VcsimError(f"vcsim not found at {executable}: run make setup")
        password = password or "Vcsim-" + secrets.token_hex(8)
        chosen = port or free_port()
        args = [str(executable), "-l", f"127.0.0.1:{chosen}", f"-tls={'true' if tls else 'false'}"]
        args += ["-username", username]
        if vgpu_profiles:
            args += ["-vgpu-profiles", ",".join(vgpu_profiles)]
        # A file, not a pipe: nobody drains a pipe once vcsim is up, and a full one would block it.
        log = tempfile.NamedTemporaryFile(prefix="vcsim-", suffix=".log", delete=False)  # noqa: SIM115
        process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "VCSIM_PASSWORD": password},
        )
        log.close()
        sim = cls(process, chosen, tls, username, password, tuple(vgpu_profiles), Path(log.name))
        sim._wait_ready(ready_timeout)
        return sim

    def output(self) -> str:
        """What vcsim printed so far."""
        return self.log_file.read_text(errors="replace")

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            if READY_MARKER in self.output():
                return
            time.sleep(0.05)
        text = self.output()
        self.stop()
        raise VcsimError(f"vcsim did not start on port {self.port}:\n{text[-3000:]}")

    def stop(self) -> None:
        """Stop the process (SIGTERM lets vcsim remove its temporary files), SIGKILL if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log_file.unlink(missing_ok=True)

    def __enter__(self) -> Vcsim:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
