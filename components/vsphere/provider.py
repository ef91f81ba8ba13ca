"""The life cycle both vSphere providers share (SupervisorNamespace, VmClass).

`check` and `diff` only look at properties (previews never contact vCenter); create, read,
update and delete open one REST session each and log out afterwards.

Drift and fields a server does not echo: after every write the provider reads the object
back once and records, in the `ignored_by_server` output, the declared fields the server
did not report back as sent (vcsim drops a namespace's description, storage specs,
limits and access list; a real vCenter may omit fields too). `read` (refresh) then keeps
the declared value for exactly those fields, so they never show as a perpetual diff, and
reports the live value for every field the server does return, so real drift there is
detected and the next `up` puts it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pulumi.dynamic import CheckFailure, CheckResult, DiffResult, ReadResult, ResourceProvider
from pulumi.runtime import rpc

from components.vsphere.client import VcenterClient
from components.vsphere.connection import CONNECTION_KEYS, endpoint_from_props

IGNORED_KEY = "ignored_by_server"
Props = Mapping[str, Any]


def is_unknown(value: Any) -> bool:
    """True for a value not known yet (a preview of another resource's output)."""
    return isinstance(value, str) and value == rpc.UNKNOWN


def as_int(value: Any) -> int:
    """Numbers arrive from the engine as floats; vCenter's JSON decoder wants integers."""
    return int(value)


def open_client(props: Props) -> VcenterClient:
    return VcenterClient(endpoint_from_props(props))


class VsphereObjectProvider(ResourceProvider):
    """check/diff/read/delete over the hooks a subclass implements."""

    replace_keys: ClassVar[tuple[str, ...]] = ()
    """Properties that identify the object: a change replaces it."""
    update_keys: ClassVar[tuple[str, ...]] = ()
    """Properties changed in place."""
    tracked_keys: ClassVar[tuple[str, ...]] = ()
    """Declared properties whose live value `live` can report (drift detection)."""

    # -- hooks -------------------------------------------------------------------------
    def normalize(self, inputs: dict[str, Any]) -> None:
        """Put known input values in canonical form (sorted lists), in place."""

    def validate(self, inputs: Props) -> list[CheckFailure]:
        """Problems with known input values (no server access)."""
        return []

    def path(self, props: Props) -> str:
        """The object's REST path (its identifying properties are in `props`)."""
        raise NotImplementedError

    def live(self, body: Mapping[str, Any], props: Props) -> dict[str, Any]:
        """The tracked properties `body` carries, in the shape of the inputs (absent ones left out)."""
        raise NotImplementedError

    def remove(self, client: VcenterClient, props: Props) -> None:
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------
    def fetch(self, client: VcenterClient, props: Props) -> dict[str, Any] | None:
        """The object as vCenter reports it, or None when it does not exist."""
        body = client.find(self.path(props))
        return body if isinstance(body, dict) else None

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs = dict(news)
        self.normalize(inputs)
        return CheckResult(inputs, self.validate(inputs))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        keys = (*self.replace_keys, *self.update_keys, *CONNECTION_KEYS)
        changed = [key for key in keys if olds.get(key) != news.get(key)]
        replaces = [key for key in changed if key in self.replace_keys]
        # Names are unique in vCenter: the old object must go before the new one comes.
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=True)

    def ignored(self, body: Mapping[str, Any], props: Props) -> list[str]:
        """Tracked fields the server did not report back as written (see the module doc)."""
        live = self.live(body, props)
        return [key for key in self.tracked_keys if key not in live or live[key] != props.get(key)]

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with open_client(props) as client:
            body = self.fetch(client, props)
        if body is None:
            # A blank id tells the engine the object is gone (deleted out of band).
            return ReadResult(id_="", outs={})
        ignored = set(props.get(IGNORED_KEY) or ())
        observed = {k: v for k, v in self.live(body, props).items() if k not in ignored}
        return ReadResult(id_=id_, outs={**props, **observed})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        with open_client(props) as client:
            self.remove(client, props)
