"""What the local environment leaves readable: service logs are owner-only."""

from __future__ import annotations

import stat
from pathlib import Path

from localenv import processes


def test_service_logs_are_owner_only_even_when_an_older_log_was_not(tmp_path: Path) -> None:
    log = tmp_path / "service.log"
    log.write_text("an older run's log\n")
    log.chmod(0o644)
    process = processes.spawn(["sh", "-c", "echo started"], home=tmp_path, log=log)
    assert process.wait(timeout=10) == 0
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert log.read_text() == "started\n"
