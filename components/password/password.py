"""`Password` (type `dynamic/random:Password`): a password or credential that lives only as a secret.

`result` is a secret output (encrypted in state, masked in output). It is either

- **given** (`given`: a secret from the stack config, e.g. `paif:dbAdminPassword` or
  `paif:paisClientSecret`, set by the deploy job from its environment), or
- **generated** with Python's `secrets` module at create time (never during a preview)
  when no value was ever given; `generate=False` makes a given value mandatory.

A given value follows the one rule of credentials (components/dynamic/provider.py): a new
value is an update of `result` and nothing else; no value at all (a pull-request preview in
CI has no credentials) or a value not known yet is no change, and `result` stays what the
stack was deployed with, so nothing that embeds it (a Kubernetes Secret, a VM's user-data)
shows a change either. Removing a given value from the config therefore keeps the last one.
Changing `length`, `alphabet` or any `keepers` value replaces the resource, which takes the
given value or generates a new one: that is how a rotation is requested.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, Resource, UpdateResult

from components.dynamic.provider import ObjectProvider, Props, ProviderError, known, secret_options

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


class PasswordProvider(ObjectProvider[None]):
    """Nothing to connect to: the password exists only in state, so `observe` reports it as is."""

    kind = "password"
    replace_keys = _REPLACE_KEYS
    # A given value is a credential: never a replacement, no value is no change (the base's rule).
    connection_keys = ("given",)
    # A new password may exist next to the old one while dependents switch over.
    delete_before_replace = False

    def session(self, props: Props) -> AbstractContextManager[None]:
        return nullcontext()

    def validate(self, inputs: dict[str, Any]) -> list[CheckFailure]:
        failures = []
        length, alphabet = inputs.get("length"), inputs.get("alphabet")
        if not isinstance(length, int | float) or not MIN_LENGTH <= int(length) <= MAX_LENGTH:
            failures.append(CheckFailure("length", f"{length!r}: must be {MIN_LENGTH}..{MAX_LENGTH}"))
        if not isinstance(alphabet, str) or len(set(alphabet)) < MIN_ALPHABET:
            failures.append(
                CheckFailure("alphabet", f"must have at least {MIN_ALPHABET} distinct characters")
            )
        return failures

    def create_object(self, session: None, props: Props) -> tuple[str, dict[str, Any]]:
        given = props.get("given")
        if known(given):
            result = str(given)
        elif props.get("generate") is False:
            raise ProviderError(f"{props.get('config_key') or 'the credential'} is not set: set it with `pulumi config set --secret`")
        else:
            result = generate(int(props["length"]), str(props["alphabet"]))
        # The id is public (it shows in URNs and logs): random, unrelated to the password.
        return secrets.token_hex(8), {"result": result}

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Only a new given value reaches here (the replace keys replace): it becomes `result`."""
        given = news.get("given")
        result = str(given) if known(given) else olds.get("result")
        return UpdateResult(outs={**olds, **news, "result": result})

    def observe(self, session: None, id_: str, props: Props) -> dict[str, Any] | None:
        return {}

    def delete_object(self, session: None, id_: str, props: Props) -> None:
        """Nothing outside state to delete."""


class Password(Resource, module="random", name="Password"):
    """A given or random password; `result` is a secret. Change `keepers` to get a new one."""

    result: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        length: int = 32,
        alphabet: str = DEFAULT_ALPHABET,
        keepers: Mapping[str, pulumi.Input[str]] | None = None,
        given: pulumi.Input[str] | None = None,
        generate: bool = True,
        config_key: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {"length": length, "alphabet": alphabet, "keepers": dict(keepers or {}), "result": None}
        # Only when used: a password in state from before these existed must not differ.
        if given is not None:
            props["given"] = pulumi.Output.secret(given)
        if not generate:
            props["generate"] = False
            props["config_key"] = config_key
        super().__init__(
            PasswordProvider(),
            resource_name,
            props,
            secret_options(opts, "result", "given"),
        )
