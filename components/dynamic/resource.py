"""The one construction path of every dynamic resource: `Kind(resource_name, KindArgs(...), opts)`,
as Pulumi's generated SDKs build theirs.

A kind declares its inputs once, as a frozen dataclass derived from `ResourceArgs` (or
`ConnectedArgs` for a family that reaches a server), naming the outputs its provider
computes and the properties that are secrets. `DynamicResource` turns the args into the
resource's properties and options in one place:

- the connection's flat properties (credentials wrapped as secrets, see
  components/dynamic/connection.py) plus the kind's own;
- every computed output declared as None, so the engine knows it before the create;
- the connection's credentials and the kind's `secrets` as `additional_secret_outputs`, so
  state holds them encrypted whatever the program passed.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar, Generic, TypeVar

import pulumi
from pulumi.dynamic import Resource

from components.dynamic.connection import Connection
from components.dynamic.provider import OWNERSHIP_KEY, ObjectProvider, ownership_marker, secret_options

C = TypeVar("C", bound=Connection)
A = TypeVar("A", bound="ResourceArgs")
CONNECTION_FIELD = "connection"


@dataclass(frozen=True, kw_only=True)
class ResourceArgs:
    """The inputs of one dynamic resource kind."""

    outputs: ClassVar[tuple[str, ...]] = ()
    """Properties the provider computes (ids, generated values): inputs of None until created."""
    secrets: ClassVar[tuple[str, ...]] = ()
    """Properties kept as secret outputs (a secret input, a generated credential)."""

    def values(self) -> dict[str, Any]:
        """The kind's own properties; a kind that reshapes a value (a tuple into a list, an
        input into a secret) overrides this."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != CONNECTION_FIELD}

    def props(self) -> dict[str, Any]:
        """The resource's properties: the kind's values and its outputs, not known yet."""
        return {**self.values(), **dict.fromkeys(self.outputs)}

    def secret_outputs(self) -> tuple[str, ...]:
        return self.secrets


@dataclass(frozen=True, kw_only=True)
class ConnectedArgs(ResourceArgs, Generic[C]):
    """The inputs of a kind that lives on a server: how to reach it, then the kind's own."""

    connection: C

    def props(self) -> dict[str, Any]:
        return {**self.connection.props(), **super().props()}

    def secret_outputs(self) -> tuple[str, ...]:
        return (*self.connection.secret_keys, *self.secrets)


class DynamicResource(Resource, Generic[A]):
    """A dynamic resource built from its args: `provider_class` implements the life cycle."""

    provider_class: ClassVar[type[ObjectProvider[Any]]]
    marker: str
    """This stack's ownership marker on the object, for kinds that write one."""

    def __init__(self, resource_name: str, args: A, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(
            self.provider_class(),
            resource_name,
            self.inputs(resource_name, args),
            secret_options(opts, *args.secret_outputs()),
        )

    def inputs(self, resource_name: str, args: A) -> dict[str, Any]:
        """The properties the resource is created with: the args', and this stack's ownership
        marker for kinds that write one (`ObjectProvider.marks_ownership`)."""
        props = args.props()
        if self.provider_class.marks_ownership:
            self.marker = ownership_marker(resource_name)
            props[OWNERSHIP_KEY] = self.marker
        return props
