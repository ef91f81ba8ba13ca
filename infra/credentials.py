"""Credentials from the stack config that end up inside objects (a Kubernetes Secret, a VM's
user-data), kept in state by a `Password` resource (components/password).

The deploy job sets them from its environment at apply time; a pull-request preview in CI has
none of them. Read straight from the config, a missing value would change every object that
embeds it (an empty client secret in the app's Secret, a licence Secret deleted). Through
`credential`, a value given is an update of the stored one, and no value is no change: the
objects keep what the stack was deployed with. `up` still refuses to start without them
(infra/preflight.py) on a stack that never had them.
"""

from __future__ import annotations

import pulumi

from components.password import Password


def credential(key: str, given: pulumi.Output[str] | None) -> pulumi.Output[str]:
    """The stored value of the secret config key `paif:<key>` (call once per key and program),
    updated when `given` is set. A secret output."""
    stored = Password(f"credential-{key}", given=given, generate=False, config_key=f"paif:{key}")
    return stored.result
