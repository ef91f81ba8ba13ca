"""The Harbor family of the dynamic providers (the life cycle is `components/dynamic/provider.py`).

A kind names the properties whose change replaces the object and those changed in place,
and implements the hooks against a HarborClient. `check` and `diff` only look at
properties, so previews never reach Harbor.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pulumi.dynamic import CheckFailure

from components.dynamic.provider import ObjectProvider, Props, integer, is_unknown, known
from components.harbor.client import HarborClient, connect
from components.harbor.connection import CONNECTION_KEYS
from components.names import HARBOR_NAME

__all__ = ["HarborObjectProvider", "Props", "integer", "is_unknown", "known", "name_problem", "numeric_id"]


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


class HarborObjectProvider(ObjectProvider[HarborClient]):
    """The Harbor family: one REST client per operation, the URL normalized and checked."""

    family = "Harbor"
    connection_keys = CONNECTION_KEYS
    named: ClassVar[str | None] = None
    """What the kind's `name` is called in Harbor's naming rule ("project", "robot"); None for
    kinds without a name of their own."""

    def session(self, props: Props) -> AbstractContextManager[HarborClient]:
        return connect(props)

    def normalize(self, inputs: dict[str, Any]) -> None:
        if known(inputs.get("url")):
            inputs["url"] = str(inputs["url"]).rstrip("/")

    def family_problems(self, inputs: Props) -> list[CheckFailure]:
        failures = connection_problems(inputs)
        if self.named is not None and (problem := name_problem(inputs.get("name"), self.named)) is not None:
            failures.append(CheckFailure("name", problem))
        return failures


def numeric_id(id_: str) -> int:
    """The trailing number of a resource id such as /projects/7 or /robots/12."""
    return int(id_.rstrip("/").rsplit("/", 1)[-1])
