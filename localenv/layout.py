"""Where the local environment keeps its files, and what it remembers between runs.

`.localenv/` (gitignored) holds, besides the services' data and logs:
- `state.json`: the running services (pid, port, log) and the ports they last used, so a
  restart after a crash keeps the same endpoints and the stack's config does not change;
- `secrets.json` and `passphrase` (0600): generated credentials, kept until `make clean`;
- `pki/`, `kubeconfig`: the API server's certificates and the admin kubeconfig;
- `Pulumi.local.yaml`: the committed stack file plus the endpoints and secrets.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localenv.files import write_private

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_HOME = ROOT / ".localenv"


@dataclass(frozen=True)
class Layout:
    """The paths under one `.localenv` directory (tests use a temporary one)."""

    home: Path = DEFAULT_HOME

    @property
    def state_file(self) -> Path:
        return self.home / "state.json"

    @property
    def secrets_file(self) -> Path:
        return self.home / "secrets.json"

    @property
    def passphrase_file(self) -> Path:
        return self.home / "passphrase"

    @property
    def lock_file(self) -> Path:
        return self.home / "lock"

    @property
    def pki_dir(self) -> Path:
        return self.home / "pki"

    @property
    def kubeconfig(self) -> Path:
        return self.home / "kubeconfig"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def etcd_dir(self) -> Path:
        return self.home / "etcd"

    @property
    def postgres_dir(self) -> Path:
        return self.home / "postgres"

    @property
    def stack_config(self) -> Path:
        return self.home / "Pulumi.local.yaml"

    @property
    def stack_init_dir(self) -> Path:
        """A scratch project where `pulumi stack init` may write its stack file."""
        return self.home / "stack-init"

    def prepare(self) -> None:
        """Create the directory: others may traverse it (the PostgreSQL server account needs
        to reach its data directory when we run as root) but not list it."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o711)
        self.logs.mkdir(exist_ok=True)

    def load_state(self) -> dict[str, Any]:
        try:
            state: dict[str, Any] = json.loads(self.state_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return state

    def save_state(self, state: dict[str, Any]) -> None:
        write_private(self.state_file, json.dumps(state, indent=2, sort_keys=True) + "\n")

    def secret(self, name: str) -> str:
        """A generated secret, created on first use and kept in secrets.json."""
        try:
            stored: dict[str, str] = json.loads(self.secrets_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            stored = {}
        if name not in stored:
            stored[name] = secrets.token_urlsafe(24)
            write_private(self.secrets_file, json.dumps(stored, indent=2, sort_keys=True) + "\n")
        return stored[name]

    def passphrase(self) -> Path:
        """The file holding the stack's passphrase (PULUMI_CONFIG_PASSPHRASE_FILE)."""
        if not self.passphrase_file.exists():
            write_private(self.passphrase_file, secrets.token_urlsafe(32))
        return self.passphrase_file
