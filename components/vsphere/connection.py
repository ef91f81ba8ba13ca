"""How the vSphere dynamic providers reach vCenter: one connection description, carried in
every resource's inputs as flat properties (`host`, `username`, `password`, `protocol`,
`insecure`, `ca_bundle`, `timeout`, `attempts`).

`password` is always a Pulumi secret and is listed in each resource's
`additional_secret_outputs`, so state holds it encrypted. It may be None during a preview
(CI has no vCenter credentials); nothing in `check`/`diff` contacts vCenter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pulumi

from components.dynamic.provider import CONNECTION_CONFIG_KEY, connection_config
from components.dynamic.provider import secret_options as dynamic_secret_options
from components.vsphere.client import Endpoint

CONNECTION_KEYS = ("host", "username", "password", "protocol", "insecure", "ca_bundle", "timeout", "attempts")
SECRET_CONNECTION_KEYS = ("password",)


@dataclass(frozen=True)
class VcenterConnection:
    """A vCenter endpoint and the user that manages namespaces and VM classes."""

    host: str
    """vCenter host[:port]."""
    username: str
    """vCenter user (needs the Namespaces.Manage and VM class privileges)."""
    password: pulumi.Input[str] | None
    """The user's password, a Pulumi secret; None only for previews (`up` fails without it)."""
    insecure: bool = False
    """Skip TLS verification; for the simulator's self-signed certificate only."""
    ca_bundle: str | None = None
    """PEM CA bundle (a path on the machine running Pulumi) for a vCenter with a private CA."""
    protocol: Literal["https", "http"] = "https"
    """https; http only for the simulator (and then insecure must be set)."""
    timeout: float = 30.0
    """Seconds per request."""
    attempts: int = 5
    """Attempts (with exponential backoff) while vCenter is unreachable or answers 503."""
    config_keys: Mapping[str, str] | None = None
    """Connection property -> the stack config key it came from (e.g. "host" ->
    "paif:vsphere.host"): refresh, update and delete then use that key's current value, so a moved
    endpoint or a rotated password in the config never wedges them."""

    def props(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "username": self.username,
            "password": None if self.password is None else pulumi.Output.secret(self.password),
            "protocol": self.protocol,
            "insecure": self.insecure,
            "ca_bundle": self.ca_bundle,
            "timeout": self.timeout,
            "attempts": self.attempts,
            CONNECTION_CONFIG_KEY: connection_config(self.config_keys),
        }


def endpoint_from_props(props: Mapping[str, Any]) -> Endpoint:
    """The plain endpoint a provider connects with, from a resource's properties."""
    return Endpoint(
        host=str(props["host"]),
        username=str(props["username"]),
        password=str(props.get("password") or ""),
        protocol=str(props.get("protocol") or "https"),
        insecure=bool(props.get("insecure")),
        ca_bundle=props.get("ca_bundle") or None,
        timeout=float(props.get("timeout") or 30.0),
        attempts=int(props.get("attempts") or 5),
    )


def secret_options(opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    """`opts` plus the password as a secret output."""
    return dynamic_secret_options(opts, *SECRET_CONNECTION_KEYS)
