"""Render the stack-config reference (README's key table) from the config models.

`python -m infra.config.docs` prints it; tests/unit/test_readme.py checks that the README
holds exactly this text, so the table cannot drift from the code.
"""

from __future__ import annotations

import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from infra.config import NAMESPACE, SECRET_KEYS, StackConfig
from infra.config.base import Model


def _models_in(annotation: Any) -> list[type[Model]]:
    args = typing.get_args(annotation)
    candidates = [annotation, *args, *(a for arg in args for a in typing.get_args(arg))]
    return [c for c in candidates if isinstance(c, type) and issubclass(c, Model)]


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in args if a is not type(None)) + " (optional)"
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is typing.Annotated:
        return _type_name(args[0])
    if isinstance(annotation, type):
        return "object" if issubclass(annotation, Model) else annotation.__name__
    return str(annotation)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    if field.default is PydanticUndefined or field.default is None:
        return ""
    if isinstance(field.default, Model):
        return "(see below)"
    if isinstance(field.default, list) and not field.default:
        return "[]"
    return f"`{field.default}`"


def _rows(model: type[Model], prefix: str) -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        description = (field.description or "").replace("\n", " ")
        rows.append(f"| `{key}` | {_type_name(field.annotation)} | {_default(field)} | {description} |")
        for nested in _models_in(field.annotation):
            is_list = typing.get_origin(field.annotation) is list
            rows.extend(_rows(nested, f"{key}[].") if is_list else _rows(nested, f"{key}."))
    return rows


def render() -> str:
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    lines += _rows(StackConfig, f"{NAMESPACE}:")
    lines += ["", "Secret keys (set with `pulumi config set --secret KEY`; never in committed files):", ""]
    lines += ["| key | what |", "|---|---|"]
    lines += [f"| `{NAMESPACE}:{key}` | {what} |" for key, what in SECRET_KEYS.items()]
    return "\n".join(lines) + "\n"


MARKERS = re.compile(r"(<!-- config-keys:start[^>]*-->\n)(.*?)(<!-- config-keys:end -->)", re.S)


def write_readme(readme: Path) -> None:
    text = readme.read_text()
    readme.write_text(MARKERS.sub(lambda m: m.group(1) + render() + m.group(3), text))


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-readme"]:
        write_readme(Path(__file__).resolve().parents[2] / "README.md")
    else:
        print(render(), end="")
