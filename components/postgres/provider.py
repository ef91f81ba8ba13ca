"""The life cycle every PostgreSQL object provider shares.

A subclass says which properties name the object (a change replaces it), which it can
change in place, how to create/update/delete it and how to observe it. `check` and `diff`
only look at properties; `create`/`read`/`update`/`delete` talk to the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pulumi
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

from components.postgres.connection import CONNECTION_KEYS, SECRET_CONNECTION_KEYS, PgConnection

# PostgreSQL silently truncates longer names, which would show as drift forever.
MAX_IDENTIFIER_BYTES = 63
Props = Mapping[str, Any]


def is_unknown(value: Any) -> bool:
    """True for a value that is not known yet (a preview of an output of another resource)."""
    return isinstance(value, str) and value == rpc.UNKNOWN


def identifier_problem(value: Any) -> str | None:
    if value is None or is_unknown(value):
        return None
    if not isinstance(value, str) or not value:
        return "must be a non-empty name"
    if "\x00" in value:
        return "must not contain NUL characters"
    if len(value.encode()) > MAX_IDENTIFIER_BYTES:
        return f"{value!r} is longer than {MAX_IDENTIFIER_BYTES} bytes (PostgreSQL would truncate it)"
    return None


def privileges_problem(value: Any, allowed: tuple[str, ...]) -> str | None:
    if is_unknown(value):
        return None
    if not isinstance(value, list | tuple) or not value:
        return f"must be a non-empty list of {', '.join(allowed)}"
    bad = [p for p in value if not isinstance(p, str) or p.upper() not in allowed]
    if bad:
        return f"{bad!r} not allowed here; allowed: {', '.join(allowed)}"
    return None


def normalize_privileges(value: Any) -> Any:
    """Privileges upper-case, sorted and unique, so order in the program never shows as a diff."""
    if is_unknown(value) or not isinstance(value, list | tuple):
        return value
    return sorted({str(p).upper() for p in value})


class PostgresObjectProvider(ResourceProvider):
    """Shared check/diff/create/read/update/delete over `apply`/`observe`/`drop`."""

    replace_keys: ClassVar[tuple[str, ...]] = ()
    """Properties that name the object: a change replaces it."""
    update_keys: ClassVar[tuple[str, ...]] = ()
    """Properties changed in place."""
    identifier_keys: ClassVar[tuple[str, ...]] = ()
    """Properties that are SQL names (validated in `check`)."""

    def object_id(self, props: Props) -> str:
        raise NotImplementedError

    def apply(self, props: Props, olds: Props | None) -> dict[str, Any]:
        """Make the object match `props` (create it when `olds` is None); return observed properties."""
        raise NotImplementedError

    def observe(self, props: Props) -> dict[str, Any] | None:
        """The object's live properties, or None when it no longer exists."""
        raise NotImplementedError

    def drop(self, props: Props) -> None:
        raise NotImplementedError

    def check_properties(self, inputs: dict[str, Any]) -> list[CheckFailure]:
        """Validate known input values and normalize them in place (no server access)."""
        return []

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs = dict(news)
        failures = [
            CheckFailure(key, problem)
            for key in self.identifier_keys
            if (problem := identifier_problem(inputs.get(key))) is not None
        ]
        failures += self.check_properties(inputs)
        return CheckResult(inputs, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        keys = (*self.replace_keys, *self.update_keys, *CONNECTION_KEYS)
        changed = [key for key in keys if olds.get(key) != news.get(key)]
        replaces = [key for key in changed if key in self.replace_keys]
        # Names are unique in the server: the old object must go before the new one comes.
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=True)

    def create(self, props: dict[str, Any]) -> CreateResult:
        observed = self.apply(props, None)
        return CreateResult(id_=self.object_id(props), outs={**props, **observed})

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        observed = self.apply(news, olds)
        return UpdateResult(outs={**news, **observed})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        observed = self.observe(props)
        if observed is None:
            # A blank id tells the engine the object is gone (dropped out of band).
            return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs={**props, **observed})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        self.drop(props)


def resource_props(connection: PgConnection, **props: Any) -> dict[str, Any]:
    return {**connection.props(), **props}


def secret_options(opts: pulumi.ResourceOptions | None, *extra: str) -> pulumi.ResourceOptions:
    """`opts` plus the connection password (and `extra`) as secret outputs."""
    return pulumi.ResourceOptions.merge(
        opts, pulumi.ResourceOptions(additional_secret_outputs=[*SECRET_CONNECTION_KEYS, *extra])
    )
