"""Apply-time checks that run before the program registers anything.

A preview contacts nothing and runs without credentials. An `up` that lacks a secret it
will need fails here, naming every missing key at once, before the first resource is
registered; the components' own late checks stay as a second line of defence.
"""

from __future__ import annotations

import pulumi

from infra.config import NAMESPACE, ConfigError, Settings


def missing_apply_secrets(settings: Settings) -> list[str]:
    """`paif:<key>: why` for every secret this stack's `up` needs and does not have."""
    cfg, secrets, profile = settings.config, settings.secrets, settings.profile
    missing: list[str] = []
    if secrets.vcenter_password is None:
        missing.append(
            f"vcenterPassword: `pulumi up` logs in to vCenter {cfg.vsphere.host} as {cfg.vsphere.username}"
        )
    if secrets.pais_client_secret is None:
        missing.append("paisClientSecret: the backend authenticates to PAIS with it")
    if profile.harbor != "off" and cfg.harbor is not None and secrets.harbor_password is None:
        missing.append(
            f"harborPassword: `pulumi up` manages the Harbor project as {cfg.harbor.username!r} at {cfg.harbor.url}"
        )
    return missing


def check_apply_secrets(settings: Settings) -> None:
    """Refuse an `up` with missing secrets; a preview needs none of them."""
    if pulumi.runtime.is_dry_run():
        return
    missing = missing_apply_secrets(settings)
    if missing:
        lines = "\n".join(
            f"  - {NAMESPACE}:{item}; set it with `pulumi config set --secret {NAMESPACE}:{item.split(':')[0]}`"
            for item in missing
        )
        raise ConfigError(
            f"invalid stack config ({len(missing)} problem{'s' if len(missing) > 1 else ''}); "
            f"nothing was changed:\n{lines}"
        )
