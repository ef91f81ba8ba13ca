"""`Password` (type `dynamic/random:Password`): a generated password that lives only as a secret.

Generated with Python's `secrets` module at create time, never during a preview. `result`
is a secret output (encrypted in state, masked in output). It stays the same across
updates; changing `length`, `alphabet` or any `keepers` value replaces the resource, which
generates a new one: that is how a rotation is requested.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
)

# Letters and digits only: safe in connection URLs, shells and YAML without quoting.
DEFAULT_ALPHABET = string.ascii_letters + string.digits
MIN_LENGTH = 16
MAX_LENGTH = 256
MIN_ALPHABET = 10
_REPLACE_KEYS = ("length", "alphabet", "keepers")
# Character classes a password must draw from when its alphabet offers them.
_CLASSES = (string.ascii_lowercase, string.ascii_uppercase, string.digits)


def generate(length: int, alphabet: str) -> str:
    """A uniformly random password using every character class the alphabet contains."""
    required = [set(c) & set(alphabet) for c in _CLASSES]
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if all(not chars or chars & set(candidate) for chars in required):
            return candidate


class PasswordProvider(ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = []
        length, alphabet = news.get("length"), news.get("alphabet")
        if not isinstance(length, int | float) or not MIN_LENGTH <= int(length) <= MAX_LENGTH:
            failures.append(CheckFailure("length", f"{length!r}: must be {MIN_LENGTH}..{MAX_LENGTH}"))
        if not isinstance(alphabet, str) or len(set(alphabet)) < MIN_ALPHABET:
            failures.append(
                CheckFailure("alphabet", f"must have at least {MIN_ALPHABET} distinct characters")
            )
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [key for key in _REPLACE_KEYS if olds.get(key) != news.get(key)]
        return DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        result = generate(int(props["length"]), str(props["alphabet"]))
        # The id is public (it shows in URNs and logs): random, unrelated to the password.
        return CreateResult(id_=secrets.token_hex(8), outs={**props, "result": result})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, props)


class Password(Resource, module="random", name="Password"):
    """A random password; `result` is a secret. Change `keepers` to get a new one."""

    result: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        length: int = 32,
        alphabet: str = DEFAULT_ALPHABET,
        keepers: Mapping[str, pulumi.Input[str]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {"length": length, "alphabet": alphabet, "keepers": dict(keepers or {}), "result": None}
        super().__init__(
            PasswordProvider(),
            resource_name,
            props,
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["result"])),
        )
