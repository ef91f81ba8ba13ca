"""The one life cycle every dynamic provider of this project shares (PostgreSQL, Harbor,
vSphere, and the generated password and certificate).

A family (PostgreSQL, Harbor, vSphere) says how to reach its server (`session`) and which
properties describe that connection; a resource kind says which properties name the
object, which it changes in place, and implements the hooks:

    normalize / validate                 check (no server access: previews never connect)
    create_object / observe /            create, read (refresh), update, delete
    update_object / delete_object
    adopt                                create: an existing object this stack owns (crash window)

The resource class a program declares is built from the kind's typed args
(`Kind(name, KindArgs(...), opts)`, components/dynamic/resource.py) for every server family
and the certificate; `Password` still takes keywords (components/password/password.py).

One diff rule for every family:
- a change of an identity key (`replace_keys`) replaces the object;
- a change of an `update_keys` property updates it in place;
- a connection setting (endpoint, port, TLS, timeouts, credentials) never replaces and is
  never sent to the object: a new value is an update of the connection only, written to
  state so later refreshes and deletes use it;
- a connection setting not given (None: a preview without credentials, as in CI) or not
  known yet is no change at all, so such a preview of an up-to-date stack shows nothing.
  Refresh, update and delete use the stack's *current* configuration for the connection
  when the resource names the config keys it came from (`connection_config`), so an
  endpoint or a password that moved never wedges them (see `effective_props`).

One "object is gone" path: `read` answers a blank id (refresh records it as deleted out of
band); an update of a vanished object fails with `ObjectGone`, which tells the user to run
`pulumi refresh` so the next `up` creates it again.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    Config,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)
from pulumi.runtime import rpc

Props = Mapping[str, Any]
Session = TypeVar("Session")
CONNECTION_CONFIG_KEY = "connection_config"
"""Resource property: connection property -> stack config key ("paif:database.host") it came from."""


class ProviderError(RuntimeError):
    """An error the user can act on (a refused login, a name taken, an object gone): the
    engine shows its message, not a Python traceback (see `_report_messages_only`)."""


class ObjectGone(ProviderError):
    """The object the state describes no longer exists on the server."""


class NotOwned(ProviderError):
    """An object with the declared name exists but this stack did not create it."""


OWNERSHIP_KEY = "ownership"
"""The property holding this stack's ownership marker, for kinds that write it onto the object
they create (a PostgreSQL comment, a vCenter description): a create whose result the engine
never recorded is then told apart from another owner's object, and adopted by the next `up`."""


def ownership_marker(resource_name: str) -> str:
    """The marker a created object carries: which stack and resource created it."""
    return f"managed by Pulumi: {pulumi.get_project()}/{pulumi.get_stack()}/{resource_name}"


def same_stack(marker: str | None, other: str | None) -> bool:
    """Two ownership markers written by the same project and stack (any resources of it)."""
    if not marker or not other:
        return False
    return marker.rsplit("/", 1)[0] == other.rsplit("/", 1)[0]


# A description a server reports: the declared one, then this stack's marker in brackets.
_MARKED = re.compile(r"(?P<description>.*?) ?\[(?P<marker>managed by Pulumi: [^\n]*)\]", re.DOTALL)


def marked(description: str, props: Props) -> str:
    """The description written to the server: the declared one with this stack's ownership
    marker appended, for kinds whose only free-text field is a description (a vCenter
    namespace or VM class, a Harbor robot or label)."""
    marker = props.get(OWNERSHIP_KEY)
    if not isinstance(marker, str) or not marker:
        return description
    return f"{description} [{marker}]" if description else f"[{marker}]"


def unmarked(description: str) -> tuple[str, str | None]:
    """The declared description and the ownership marker in a description the server reports."""
    match = _MARKED.fullmatch(description)
    return (match["description"], match["marker"]) if match else (description, None)


def whose(found: str | None, holder: str = "its description") -> str:
    """Why an object found under a declared name is not adopted: the marker `holder` carries
    (another owner's), or none of this stack's."""
    if found is not None:
        return f"{holder} carries another owner's marker, {found!r}"
    return f"{holder} carries no marker of this stack: another owner's, or created before this stack marked what it creates"


def is_unknown(value: Any) -> bool:
    """True for a value not known yet (a preview of an output of a resource not created yet)."""
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


def secret_options(opts: pulumi.ResourceOptions | None, *secret_keys: str) -> pulumi.ResourceOptions:
    """`opts` plus `secret_keys` (the connection's credentials and the kind's own secrets) as
    secret outputs, so state holds them encrypted whatever the program passed."""
    return pulumi.ResourceOptions.merge(
        opts, pulumi.ResourceOptions(additional_secret_outputs=list(secret_keys))
    )


def config_value(config: Config | Mapping[str, Any], key: str) -> Any:
    """The value of a stack config key such as "paif:database.host" (a path into a structured
    value) from the configuration the engine hands a dynamic provider, or None when unset."""
    namespace, _, rest = key.partition(":")
    top, *path = rest.split(".")
    value: Any = config.get(f"{namespace}:{top}")
    if value is None:
        return None
    for part in path:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return None
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
        if value is None:
            return None
    return value


class ObjectProvider(ResourceProvider, Generic[Session]):
    """check/diff/create/read/update/delete for every dynamic resource, over the hooks."""

    family: ClassVar[str] = ""
    """The server family in messages ("PostgreSQL", "Harbor", "vCenter")."""
    kind: ClassVar[str] = "object"
    """What the object is called in messages."""
    connection_keys: ClassVar[tuple[str, ...]] = ()
    """Properties that say how to reach the server (a change updates the connection only)."""
    replace_keys: ClassVar[tuple[str, ...]] = ()
    """Properties that identify the object: a change replaces it."""
    update_keys: ClassVar[tuple[str, ...]] = ()
    """Properties changed in place on the server."""
    state_keys: ClassVar[tuple[str, ...]] = ()
    """Properties only the provider reads (e.g. force_destroy): a change is written to state."""
    delete_before_replace: ClassVar[bool] = True
    """Names are unique on the server: the old object goes before the new one comes."""
    marks_ownership: ClassVar[bool] = False
    """The kind gets this stack's ownership marker (`OWNERSHIP_KEY`, added to the inputs by
    `DynamicResource`): it writes it onto the objects it creates and looks for it when the
    server says the object already exists (a kind with no field for it, a Harbor immutable
    rule, checks its parent's marker instead)."""

    # A class default, not set in __init__: providers pickled into older state are restored
    # without running __init__.
    _config: Config | None = None

    # -- hooks ---------------------------------------------------------------------------
    def normalize(self, inputs: dict[str, Any]) -> None:
        """Put known input values in canonical form (sorted lists, upper-case keywords), in place."""

    def validate(self, inputs: dict[str, Any]) -> list[CheckFailure]:
        """Problems with known input values (no server access). A value it accepts may be put
        in canonical form in place (a timestamp in UTC)."""
        return []

    def session(self, props: Props) -> AbstractContextManager[Session]:
        """A session with the server the object lives on (closed afterwards)."""
        raise NotImplementedError

    def create_object(self, session: Session, props: Props) -> tuple[str, dict[str, Any] | None]:
        """Create the object; return its id and the observed properties (None: `observe` them)."""
        raise NotImplementedError

    def observe(self, session: Session, id_: str, props: Props) -> dict[str, Any] | None:
        """The object's live properties, or None when it no longer exists."""
        raise NotImplementedError

    def update_object(self, session: Session, id_: str, olds: Props, news: Props) -> dict[str, Any] | None:
        """Make the object match `news`; return observed properties (None: `observe` them).
        Raise ObjectGone when it vanished."""
        raise NotImplementedError

    def delete_object(self, session: Session, id_: str, props: Props) -> None:
        raise NotImplementedError

    def adopt(self, session: Session, props: Props) -> tuple[str, dict[str, Any]] | None:
        """Before a create: an object with the declared name that carries this stack's
        ownership marker (a create whose result the engine never recorded: a kill between the
        server's answer and the checkpoint) is made to match `props` and adopted: its id and
        observed properties. None when there is no such object; raise NotOwned when there is
        one this stack did not create."""
        return None

    # -- shared --------------------------------------------------------------------------
    def configure(self, req: ConfigureRequest) -> None:
        # The engine hands a dynamic provider the whole stack configuration (secrets decrypted,
        # in memory only): the current endpoint and credentials for `effective_props`.
        self._config = req.config

    def effective_props(self, props: Props) -> dict[str, Any]:
        """`props` with every connection property that names its stack config key replaced by
        that key's current value: state written before an endpoint moved or a password was
        rotated still reaches the server."""
        result = dict(props)
        sources = props.get(CONNECTION_CONFIG_KEY)
        if not isinstance(sources, Mapping) or self._config is None:
            return result
        for prop, key in sources.items():
            if prop in self.connection_keys and isinstance(key, str):
                value = config_value(self._config, key)
                if value is not None:
                    result[prop] = value
        return result

    def family_problems(self, inputs: Props) -> list[CheckFailure]:
        """Problems every kind of the family shares (its connection settings, its names)."""
        return []

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs = dict(news)
        self.normalize(inputs)
        return CheckResult(inputs, self.family_problems(inputs) + self.validate(inputs))

    def object_changes(self, olds: Props, news: Props) -> list[str]:
        """The properties whose change must reach the server."""
        return [k for k in (*self.replace_keys, *self.update_keys) if olds.get(k) != news.get(k)]

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = self.object_changes(olds, news)
        replaces = [k for k in changed if k in self.replace_keys]
        connection = [k for k in self.connection_keys if known(news.get(k)) and olds.get(k) != news.get(k)]
        recorded = [k for k in (*self.state_keys, CONNECTION_CONFIG_KEY) if olds.get(k) != news.get(k)]
        return DiffResult(
            changes=bool(changed or connection or recorded),
            replaces=replaces,
            delete_before_replace=self.delete_before_replace,
        )

    def _input_keys(self) -> set[str]:
        return {*self.connection_keys, *self.replace_keys, *self.update_keys, *self.state_keys}

    def observed(self, session: Session, id_: str, props: Props, after: str) -> dict[str, Any]:
        """The object's properties right after it was written (`after`: "created", "updated")."""
        found = self.observe(session, id_, props)
        if found is None:
            raise ObjectGone(f"{self.family} {self.kind} {id_} vanished right after it was {after}")
        return found

    def create(self, props: dict[str, Any]) -> CreateResult:
        with self.session(props) as session:
            adopted = self.adopt(session, props)
            id_, observed = adopted if adopted is not None else self.create_object(session, props)
            if observed is None:
                observed = self.observed(session, id_, props, "created")
        return CreateResult(id_=id_, outs={**props, **observed})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self.session(self.effective_props(props)) as session:
            observed = self.observe(session, id_, props)
        if observed is None:
            # A blank id tells the engine the object is gone (deleted out of band).
            return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs={**props, **observed})

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # Computed outputs (ids the server assigned, generated secrets) live only in olds.
        kept = {k: v for k, v in olds.items() if k not in news and k not in self._input_keys()}
        if not self.object_changes(olds, news):
            # Only the connection, credentials or provider-side settings changed.
            return UpdateResult(outs={**kept, **news})
        with self.session(self.effective_props(news)) as session:
            try:
                observed = self.update_object(session, id_, olds, news)
                if observed is None:
                    observed = self.observed(session, id_, news, "updated")
            except ObjectGone:
                raise ObjectGone(
                    f"{self.family} {self.kind} {id_} no longer exists; run `pulumi refresh` so the next "
                    "`pulumi up` creates it again"
                ) from None
        return UpdateResult(outs={**kept, **news, **observed})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with self.session(self.effective_props(props)) as session:
            self.delete_object(session, id_, props)


@contextmanager
def props_session(props: Props) -> Iterator[Props]:
    """The session of a family that connects per statement (PostgreSQL): the properties themselves."""
    yield props


def connection_config(sources: Mapping[str, str] | None) -> dict[str, str] | None:
    """The `connection_config` property: which stack config key each connection property came from."""
    return dict(sources) if sources else None


class _MessagesOnly:
    """The `traceback` module as the dynamic provider host sees it, except that a
    ProviderError is formatted as its message (other exceptions keep their traceback)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(traceback, name)

    @staticmethod
    def format_exc(*args: Any, **kwargs: Any) -> str:
        error = sys.exc_info()[1]
        if isinstance(error, ProviderError):
            return f"{type(error).__name__}: {error}"
        return traceback.format_exc(*args, **kwargs)


def _report_messages_only() -> None:
    """In the Python dynamic provider host (`python -m pulumi.dynamic`, whose handlers abort
    each failed call with `traceback.format_exc()`), report our user-facing errors as their
    message. Does nothing anywhere else, or if a later SDK reports errors another way."""
    host = sys.modules.get("__main__")
    if (
        host is not None
        and hasattr(host, "_abort_with_traceback")
        and getattr(host, "traceback", None) is traceback
    ):
        host.traceback = _MessagesOnly()  # type: ignore[attr-defined]


ENGINE_CHECK_SECONDS = 0.5
"""How often the dynamic provider host checks that its engine still runs."""


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (the state first), None when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def _engine_process() -> tuple[int, str] | None:
    """The Pulumi CLI that started this process (pid, start time): the nearest ancestor whose
    executable is `pulumi` (the SDK's shell shim sits in between); None when there is none."""
    pid = os.getpid()
    for _ in range(4):
        stat = _proc_stat(pid)
        if stat is None:
            return None
        pid = int(stat[1])
        if pid <= 1:
            return None
        try:
            name = Path(os.readlink(f"/proc/{pid}/exe")).name
        except OSError:
            return None
        parent = _proc_stat(pid)
        if name == "pulumi" and parent is not None:
            return pid, parent[19]
    return None


def _exit_with_the_engine() -> None:
    """In the Python dynamic provider host: exit once the engine that started it is gone. A
    SIGKILLed engine stops nobody, and the host would serve nothing, forever, holding its
    memory and the connections its providers opened."""
    host = sys.modules.get("__main__")
    if host is None or not hasattr(host, "_abort_with_traceback") or not sys.platform.startswith("linux"):
        return
    engine = _engine_process()
    if engine is None:
        return
    pid, started = engine

    def watch() -> None:
        while True:
            time.sleep(ENGINE_CHECK_SECONDS)
            stat = _proc_stat(pid)
            if stat is None or stat[19] != started or stat[0] == "Z":
                os._exit(1)

    threading.Thread(target=watch, name="engine-watch", daemon=True).start()


_report_messages_only()
_exit_with_the_engine()
