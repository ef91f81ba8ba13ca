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
from typing import Any, ClassVar, Literal

import pulumi

from components.dynamic.connection import HttpConnection
from components.vsphere.client import Endpoint


@dataclass(frozen=True)
class VcenterConnection(HttpConnection):
    """A vCenter endpoint and the user that manages namespaces and VM classes."""

    host: str
    """vCenter host[:port]."""
    username: str
    """vCenter user (needs the Namespaces.Manage and VM class privileges)."""
    password: pulumi.Input[str] | None
    """The user's password, a Pulumi secret; None only for previews (`up` fails without it)."""
    protocol: Literal["https", "http"] = "https"
    """https; http only for the simulator (and then insecure must be set)."""

    secret_keys: ClassVar[tuple[str, ...]] = ("password",)


CONNECTION_KEYS = VcenterConnection.keys()


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
