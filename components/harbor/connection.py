"""How the Harbor dynamic providers reach Harbor: one connection description, carried in
every resource's inputs as flat properties (`url`, `username`, `password`, `insecure`,
`ca_bundle`, `timeout`, `attempts`).

`password` is always a Pulumi secret and is listed in each resource's
`additional_secret_outputs`, so state holds it encrypted. It may be None during a preview
(CI has no Harbor credentials); nothing in `check`/`diff` contacts Harbor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from components.dynamic.provider import CONNECTION_CONFIG_KEY, connection_config
from components.dynamic.provider import secret_options as dynamic_secret_options

CONNECTION_KEYS = ("url", "username", "password", "insecure", "ca_bundle", "timeout", "attempts")
SECRET_CONNECTION_KEYS = ("password",)


@dataclass(frozen=True)
class HarborConnection:
    """A Harbor endpoint and the user that manages the project (a project creator; a system
    admin to set the storage quota)."""

    url: str
    """Harbor base URL, e.g. https://harbor.example.com (the API lives under /api/v2.0)."""
    username: str
    """Harbor user."""
    password: pulumi.Input[str] | None
    """The user's password, a Pulumi secret; None only for previews (`up` fails without it)."""
    insecure: bool = False
    """Skip TLS verification (plain http needs it); never in production."""
    ca_bundle: str | None = None
    """PEM CA bundle for a Harbor with a private CA; the system trust store when None."""
    timeout: float = 30.0
    """Seconds per request."""
    attempts: int = 5
    """Attempts (with exponential backoff) while Harbor is unreachable or answers 5xx."""
    config_keys: Mapping[str, str] | None = None
    """Connection property -> the stack config key it came from (e.g. "host" ->
    "paif:harbor.url"): refresh, update and delete then use that key's current value, so a moved
    endpoint or a rotated password in the config never wedges them."""

    def props(self) -> dict[str, Any]:
        return {
            "url": self.url.rstrip("/"),
            "username": self.username,
            "password": None if self.password is None else pulumi.Output.secret(self.password),
            "insecure": self.insecure,
            "ca_bundle": self.ca_bundle,
            "timeout": self.timeout,
            "attempts": self.attempts,
            CONNECTION_CONFIG_KEY: connection_config(self.config_keys),
        }


def secret_options(opts: pulumi.ResourceOptions | None, *extra: str) -> pulumi.ResourceOptions:
    """`opts` plus the password (and `extra`) as secret outputs."""
    return dynamic_secret_options(opts, *SECRET_CONNECTION_KEYS, *extra)
