"""The connection description every dynamic-provider family carries in each resource's
inputs: flat properties (one per field), the credentials among them as Pulumi secrets, and
`connection_config` (which stack config key each came from; see `effective_props`).

A family declares its fields in a frozen dataclass derived from `Connection` and names its
secret fields; `keys()` is what its provider treats as connection settings (never a
replacement, see components/dynamic/provider.py); a resource's args carry it
(components/dynamic/resource.py), which lists the secrets as secret outputs so state holds
them encrypted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import pulumi

from components.dynamic.provider import CONNECTION_CONFIG_KEY, connection_config

CONFIG_KEYS_FIELD = "config_keys"


@dataclass(frozen=True, kw_only=True)
class Connection:
    """How a family reaches its server, as resource inputs."""

    config_keys: Mapping[str, str] | None = None
    """Connection property -> the stack config key it came from (e.g. "host" ->
    "paif:database.host"): refresh, update and delete then use that key's current value, so a
    moved endpoint or a rotated password in the config never wedges them."""

    secret_keys: ClassVar[tuple[str, ...]] = ()
    """Fields that are credentials: always Pulumi secrets (None only in a preview without them)."""

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The connection properties, in declaration order."""
        return tuple(f.name for f in fields(cls) if f.name != CONFIG_KEYS_FIELD)

    def values(self) -> dict[str, Any]:
        """The properties' values (a family may put them in canonical form)."""
        return {key: getattr(self, key) for key in self.keys()}

    def props(self) -> dict[str, Any]:
        """The flat resource properties: credentials wrapped as secrets, and where each came from."""
        values = self.values()
        for key in self.secret_keys:
            if values[key] is not None:
                values[key] = pulumi.Output.secret(values[key])
        return {**values, CONNECTION_CONFIG_KEY: connection_config(self.config_keys)}


@dataclass(frozen=True, kw_only=True)
class HttpConnection(Connection):
    """The TLS and retry settings of a REST family (vCenter, Harbor)."""

    insecure: bool = False
    """Skip TLS verification (plain http needs it); simulators only, never in production."""
    ca_bundle: str | None = None
    """PEM CA bundle (a path on the machine running Pulumi) for a server with a private CA; the
    system trust store when None."""
    timeout: float = 30.0
    """Seconds per request."""
    attempts: int = 5
    """Attempts (with exponential backoff) while the server is unreachable or busy."""
