"""How the Harbor dynamic providers reach Harbor: one connection description, carried in
every resource's inputs as flat properties (`url`, `username`, `password`, `insecure`,
`ca_bundle`, `timeout`, `attempts`).

`password` is always a Pulumi secret and is listed in each resource's
`additional_secret_outputs`, so state holds it encrypted. It may be None during a preview
(CI has no Harbor credentials); nothing in `check`/`diff` contacts Harbor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pulumi

from components.dynamic.connection import HttpConnection


@dataclass(frozen=True)
class HarborConnection(HttpConnection):
    """A Harbor endpoint and the user that manages the project (a project creator; a system
    admin to set the storage quota)."""

    url: str
    """Harbor base URL, e.g. https://harbor.example.com (the API lives under /api/v2.0)."""
    username: str
    """Harbor user."""
    password: pulumi.Input[str] | None
    """The user's password, a Pulumi secret; None only for previews (`up` fails without it)."""

    secret_keys: ClassVar[tuple[str, ...]] = ("password",)

    def values(self) -> dict[str, Any]:
        return {**super().values(), "url": self.url.rstrip("/")}


CONNECTION_KEYS = HarborConnection.keys()
