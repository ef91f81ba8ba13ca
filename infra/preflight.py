"""Apply-time checks that run before the program registers anything.

A preview contacts nothing and runs without credentials. An `up` that lacks a secret it
will need fails here, naming every missing key at once, before the first resource is
registered. The parts of the program that use a secret call the same check for their key,
so a part declared on its own (as the tests do) fails the same way.
"""

from __future__ import annotations

from collections.abc import Collection

import pulumi

from infra.config import NAMESPACE, ConfigError, Settings


def missing_apply_secrets(settings: Settings) -> dict[str, str]:
    """Secret key -> why `up` needs it, for every secret this stack needs and does not have."""
    cfg, secrets, profile = settings.config, settings.secrets, settings.profile
    missing: dict[str, str] = {}
    if secrets.vcenter_password is None:
        missing["vcenterPassword"] = (
            f"`pulumi up` logs in to vCenter {cfg.vsphere.host} as {cfg.vsphere.username}"
        )
    if secrets.pais_client_secret is None:
        missing["paisClientSecret"] = "the backend authenticates to PAIS with it"
    if profile.harbor != "off" and cfg.harbor is not None and secrets.harbor_password is None:
        missing["harborPassword"] = (
            f"`pulumi up` manages the Harbor project as {cfg.harbor.username!r} at {cfg.harbor.url}"
        )
    return missing


def check_apply_secrets(settings: Settings, keys: Collection[str] | None = None) -> None:
    """Refuse an `up` with missing secrets (only `keys`, when given); a preview needs none."""
    if pulumi.runtime.is_dry_run():
        return
    missing = {k: why for k, why in missing_apply_secrets(settings).items() if keys is None or k in keys}
    if missing:
        lines = "\n".join(
            f"  - {NAMESPACE}:{key}: required key is missing; {why}; "
            f"set it with `pulumi config set --secret {NAMESPACE}:{key}`"
            for key, why in missing.items()
        )
        raise ConfigError(
            f"invalid stack config ({len(missing)} problem{'s' if len(missing) > 1 else ''}); "
            f"nothing was changed:\n{lines}"
        )
