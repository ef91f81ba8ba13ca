"""One renderer from a typed spec (a frozen dataclass) to the camelCase `spec` of a custom
resource, so a spec class declares its fields and nothing else.

A field is rendered under its name in camelCase (`storage_class` -> `storageClass`) unless
its metadata `spec_key(key)` names the CR's key; a `spec_key(ref=True)` field holds the name
of another object and renders as `{"name": value}`. A value with `to_spec` (a nested spec) renders
through it, a tuple item by item; an optional field left None (a reference left empty) is
not sent at all.
"""

from __future__ import annotations

import dataclasses
from typing import Any

KEY = "paif.spec.key"
REF = "paif.spec.ref"


def spec_key(key: str | None = None, *, ref: bool = False) -> dict[str, Any]:
    """A field's metadata (`dataclasses.field(metadata=...)`): rendered under `key` (None: its
    camelCase name), as `{"name": value}` with `ref`."""
    return {KEY: key, REF: ref}


def camel_case(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def _render(value: Any) -> Any:
    if hasattr(value, "to_spec"):
        return value.to_spec()
    if isinstance(value, tuple):
        return [_render(item) for item in value]
    return value


class CamelSpec:
    """Base of a spec dataclass whose `spec` is its fields, rendered as the module doc says."""

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]  # every subclass is a dataclass
            value = getattr(self, f.name)
            ref = f.metadata.get(REF, False)
            if value is None or (ref and value == ""):
                continue
            key = f.metadata.get(KEY) or camel_case(f.name)
            spec[key] = {"name": value} if ref else _render(value)
        return spec
