"""Apply-time checks that run before the program registers anything.

A preview contacts nothing and runs without credentials. An `up` that lacks a secret it
will need (or has one set to an empty value) fails here, naming every such key at once, before the first resource is
registered. The parts of the program that use a secret call the same check for their key,
so a part declared on its own (as the tests do) fails the same way.
"""

from __future__ import annotations

from collections.abc import Collection

import pulumi

from infra.config import NAMESPACE, ConfigError, Settings


def unusable_apply_secrets(settings: Settings) -> dict[str, str]:
    """Secret key -> what is wrong with it, for every secret this stack needs and does not
    have and every secret set to an empty value."""
    cfg, secrets, profile = settings.config, settings.secrets, settings.profile
    needed: dict[str, str] = {}
    if secrets.vcenter_password is None:
        needed["vcenterPassword"] = f"`pulumi up` logs in to vCenter {cfg.vsphere.host} as {cfg.vsphere.username}"
    if secrets.pais_client_secret is None:
        needed["paisClientSecret"] = "the backend authenticates to PAIS with it"
    if profile.harbor != "off" and cfg.harbor is not None and secrets.harbor_password is None:
        needed["harborPassword"] = (
            f"`pulumi up` manages the Harbor project as {cfg.harbor.username!r} at {cfg.harbor.url}"
        )
    platform = cfg.vks.platform if cfg.vks is not None and profile.cluster_platform else None
    if platform is not None and platform.gpu_operator is not None and secrets.nvidia_license_token is None:
        needed["nvidiaLicenseToken"] = "the GPU Operator's vGPU driver licenses itself with it"
    if platform is not None and platform.cert_manager.ca_certificate and secrets.corporate_ca_key is None:
        needed["corporateCaKey"] = (
            "the program manages the corporate CA Secret (paif:vks.platform.certManager.caCertificate is set)"
        )
    if cfg.dlvm is not None and cfg.dlvm.tls_certificate and secrets.dlvm_tls_key is None:
        needed["dlvmTlsKey"] = "the DLVM serves paif:dlvm.tlsCertificate, which needs its key"
    problems = {key: f"required key is missing; {why}" for key, why in needed.items()}
    problems.update({key: "is set but empty; an empty secret is never a usable credential" for key in secrets.empty})
    return problems


def check_apply_secrets(settings: Settings, keys: Collection[str] | None = None) -> None:
    """Refuse an `up` with missing or empty secrets (only `keys`, when given); a preview needs none."""
    if pulumi.runtime.is_dry_run():
        return
    unusable = {k: what for k, what in unusable_apply_secrets(settings).items() if keys is None or k in keys}
    if unusable:
        raise ConfigError.listing(
            [
                f"{NAMESPACE}:{key}: {what}; set it with `pulumi config set --secret {NAMESPACE}:{key}`"
                for key, what in sorted(unusable.items())
            ]
        )
