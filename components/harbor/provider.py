"""The life cycle every Harbor object provider shares.

A subclass names the properties whose change replaces the object and those changed in
place, and implements `create_object`/`observe`/`update_object`/`delete_object` against a
HarborClient. `check` and `diff` only look at properties, so previews never reach Harbor.
`read` returns a blank id when the object is gone, which `pulumi refresh` records as
deleted out of band.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)
from pulumi.runtime import rpc

from components.harbor.client import HarborClient, HarborNotFound, connect
from components.harbor.connection import CONNECTION_KEYS

Props = Mapping[str, Any]
HARBOR_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
# Credentials and client settings: a new value is written to state (so later deletes use
# it) but the Harbor object itself is unchanged. A value not given (None, as in a preview
# without credentials) is not a change.
_CREDENTIAL_KEYS = tuple(k for k in CONNECTION_KEYS if k != "url")


def is_unknown(value: Any) -> bool:
    """True for a value not known yet (an output of a resource that a preview has not created)."""
    return isinstance(value, str) and value == rpc.UNKNOWN


def known(value: Any) -> bool:
    return value is not None and not is_unknown(value)


def integer(value: Any) -> int | None:
    """`value` as an int, or None. Numbers reach a dynamic provider as floats (20 arrives as 20.0)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def connection_problems(inputs: Props) -> list[CheckFailure]:
    failures = []
    url = inputs.get("url")
    if known(url):
        parts = urlsplit(str(url))
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            failures.append(
                CheckFailure("url", f"{url!r}: must be http(s)://host[:port] (the Harbor base URL)")
            )
        elif parts.scheme == "http" and not inputs.get("insecure"):
            failures.append(CheckFailure("url", f"{url!r}: plain http needs insecure: true"))
    if known(inputs.get("username")) and not str(inputs["username"]):
        failures.append(CheckFailure("username", "must not be empty"))
    for key, low in (("timeout", 1), ("attempts", 1)):
        value = inputs.get(key)
        if known(value) and (isinstance(value, bool) or not isinstance(value, int | float) or value < low):
            failures.append(CheckFailure(key, f"{value!r}: must be a number >= {low}"))
    return failures


def name_problem(value: Any, what: str) -> str | None:
    """Harbor's rule for project and robot names: lower-case words joined by one of . _ -"""
    if not known(value):
        return None
    if not isinstance(value, str) or not HARBOR_NAME.fullmatch(value) or len(value) > 255:
        return f"{value!r}: a {what} name is lower-case letters and digits, words joined by '.', '_' or '-'"
    return None


class HarborObjectProvider(ResourceProvider):
    """Shared check/diff/create/read/update/delete over the `*_object` methods."""

    kind: ClassVar[str] = "object"
    """What the object is called in messages."""
    replace_keys: ClassVar[tuple[str, ...]] = ()
    """Properties that identify the object: a change replaces it."""
    update_keys: ClassVar[tuple[str, ...]] = ()
    """Properties changed in place."""
    state_keys: ClassVar[tuple[str, ...]] = ()
    """Properties only this provider reads (e.g. force_destroy): a change is recorded in state."""

    def check_properties(self, inputs: dict[str, Any]) -> list[CheckFailure]:
        """Validate known input values, normalizing them in place (no Harbor access)."""
        return []

    def create_object(self, client: HarborClient, props: Props) -> tuple[str, dict[str, Any]]:
        """Create the object; return its id and observed properties."""
        raise NotImplementedError

    def observe(self, client: HarborClient, id_: str, props: Props) -> dict[str, Any] | None:
        """The object's live properties, or None when it no longer exists."""
        raise NotImplementedError

    def update_object(self, client: HarborClient, id_: str, olds: Props, news: Props) -> dict[str, Any]:
        """Make the object match `news`; return observed properties."""
        raise NotImplementedError

    def delete_object(self, client: HarborClient, id_: str, props: Props) -> None:
        raise NotImplementedError

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs = dict(news)
        if known(inputs.get("url")):
            inputs["url"] = str(inputs["url"]).rstrip("/")
        failures = connection_problems(inputs) + self.check_properties(inputs)
        return CheckResult(inputs, failures)

    def _changed(self, olds: Props, news: Props) -> list[str]:
        return [k for k in (*self.replace_keys, *self.update_keys) if olds.get(k) != news.get(k)]

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = self._changed(olds, news)
        replaces = [k for k in ("url", *self.replace_keys) if olds.get(k) != news.get(k)]
        recorded = [k for k in self.state_keys if olds.get(k) != news.get(k)]
        credentials = [k for k in _CREDENTIAL_KEYS if news.get(k) is not None and olds.get(k) != news.get(k)]
        # Names are unique in Harbor: the old object must go before the new one comes.
        return DiffResult(
            changes=bool(changed or replaces or recorded or credentials),
            replaces=replaces,
            delete_before_replace=True,
        )

    def create(self, props: dict[str, Any]) -> CreateResult:
        with connect(props) as client:
            id_, observed = self.create_object(client, props)
        return CreateResult(id_=id_, outs={**props, **observed})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with connect(props) as client:
            observed = self.observe(client, id_, props)
        if observed is None:
            return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs={**props, **observed})

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        if not self._changed(olds, news):
            return UpdateResult(outs={**olds, **news})
        with connect(news) as client:
            try:
                observed = self.update_object(client, id_, olds, news)
            except HarborNotFound:
                raise HarborNotFound(
                    f"Harbor {self.kind} {id_} no longer exists at {news['url']}; run `pulumi refresh` "
                    "so the next `pulumi up` creates it again"
                ) from None
        return UpdateResult(outs={**olds, **news, **observed})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with connect(props) as client:
            self.delete_object(client, id_, props)


def numeric_id(id_: str) -> int:
    """The trailing number of a resource id such as /projects/7 or /robots/12."""
    return int(id_.rstrip("/").rsplit("/", 1)[-1])
