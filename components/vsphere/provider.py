"""The vSphere family of the dynamic providers (SupervisorNamespace, VmClass); the life
cycle is `components/dynamic/provider.py`.

`check` and `diff` only look at properties (previews never contact vCenter); create, read,
update and delete open one REST session each and log out afterwards.

Drift and fields a server does not echo: after every write the provider reads the object
back once and records, in the `ignored_by_server` output, the declared fields the server
did not report back as sent (vcsim drops a namespace's description, storage specs,
limits and access list; a real vCenter may omit fields too). `read` (refresh) then keeps
the declared value for exactly those fields, so they never show as a perpetual diff, and
reports the live value for every field the server does return, so real drift there is
detected and the next `up` puts it back.

Ownership: the description written to vCenter ends with this stack's marker
(`marked`), so a create vCenter confirmed but the engine never recorded is adopted by the
next `up` (`post_new`), and anyone else's object of the same name is refused untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any, ClassVar

from components.dynamic.provider import (
    OWNERSHIP_KEY,
    NotOwned,
    ObjectProvider,
    Props,
    is_unknown,
    marked,
    unmarked,
    whose,
)
from components.vsphere.client import VcenterClient, VcenterError
from components.vsphere.connection import CONNECTION_KEYS, endpoint_from_props

IGNORED_KEY = "ignored_by_server"
__all__ = [
    "IGNORED_KEY",
    "Props",
    "VsphereObjectProvider",
    "as_int",
    "is_unknown",
    "marked",
    "open_client",
    "unmarked",
]
def as_int(value: Any) -> int:
    """Numbers arrive from the engine as floats; vCenter's JSON decoder wants integers."""
    return int(value)


def open_client(props: Props) -> VcenterClient:
    return VcenterClient(endpoint_from_props(props))


class VsphereObjectProvider(ObjectProvider[VcenterClient]):
    """The vSphere family: one REST session per operation, drift over `tracked_keys`."""

    family = "vCenter"
    connection_keys = CONNECTION_KEYS
    marks_ownership = True
    tracked_keys: ClassVar[tuple[str, ...]] = ()
    """Declared properties whose live value `live` can report (drift detection)."""

    collection: ClassVar[str] = ""
    """The REST collection the kind's objects live in."""
    what: ClassVar[str] = "vSphere object"
    """What the kind is called in messages."""
    id_key: ClassVar[str] = ""
    """The property that names the object in its collection (and in vCenter)."""

    # -- kind hooks ----------------------------------------------------------------------

    def live(self, body: Mapping[str, Any], props: Props) -> dict[str, Any]:
        """The tracked properties `body` carries, in the shape of the inputs (absent ones left out)."""
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------
    def path(self, props: Props) -> str:
        """The object's REST path."""
        return f"{self.collection}/{props[self.id_key]}"

    def session(self, props: Props) -> AbstractContextManager[VcenterClient]:
        return open_client(props)

    def post_new(self, client: VcenterClient, props: Props, body: Any) -> dict[str, Any] | None:
        """POST a new object to the kind's collection: None when vCenter created it. When
        vCenter answers ALREADY_EXISTS, the object as vCenter reports it if its description
        carries this stack's marker for this resource (a create of this stack confirmed by
        vCenter and killed before the engine recorded it: the caller adopts it, making it match
        the declaration); otherwise NotOwned, naming the object and the ways out."""
        try:
            client.post(self.collection, body)
            return None
        except VcenterError as exc:
            if exc.error_type != "ALREADY_EXISTS":
                raise
        existing = self.fetch(client, props)
        found = unmarked(str(existing.get("description") or ""))[1] if existing is not None else None
        if existing is not None and found is not None and found == props.get(OWNERSHIP_KEY):
            return existing
        raise NotOwned(
            f"{self.what} {props[self.id_key]!r} already exists on vCenter {client.endpoint.host} but this "
            f"stack's state does not record it ({whose(found)}): if it is this stack's and nothing uses it, delete "
            "it in vCenter and run again; otherwise choose another name"
        ) from None

    def fetch(self, client: VcenterClient, props: Props) -> dict[str, Any] | None:
        """The object as vCenter reports it, or None when it does not exist."""
        body = client.find(self.path(props))
        return body if isinstance(body, dict) else None

    def ignored(self, body: Mapping[str, Any], props: Props) -> list[str]:
        """Tracked fields the server did not report back as written (see the module doc)."""
        live = self.live(body, props)
        return [key for key in self.tracked_keys if key not in live or live[key] != props.get(key)]

    def observe(self, session: VcenterClient, id_: str, props: Props) -> dict[str, Any] | None:
        body = self.fetch(session, props)
        if body is None:
            return None
        ignored = set(props.get(IGNORED_KEY) or ())
        return {k: v for k, v in self.live(body, props).items() if k not in ignored}
