"""The registry tier: the Harbor project the app's images come from (`paif:harbor`).

The profile decides what exists (`off`: nothing; `project`: project and robots; `full`:
also tag retention and immutable tags) and whether the project is protected; the config
names and sizes it. `preview` runs without `paif:harborPassword` and contacts nothing;
`up` refuses to start without it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.harbor import registry_host
from components.harbor_project import HarborProject, HarborProjectArgs
from infra.config import Settings
from infra.preflight import check_apply_secrets


@dataclass(frozen=True)
class RegistryOutputs:
    """Where the app pulls from and with which credentials."""

    registry: str
    """Registry host (`host[:port]`)."""
    project: pulumi.Output[str]
    pull_username: pulumi.Output[str]
    """The app's pull robot (robot$<project>+<name>)."""
    pull_secret: pulumi.Output[str]
    """Its secret (a Pulumi secret)."""
    dockerconfigjson: pulumi.Output[str]
    """`.dockerconfigjson` for the app's imagePullSecret (a Pulumi secret)."""


def registry_args(settings: Settings) -> HarborProjectArgs:
    """HarborProject's arguments: names and sizes from the config, the extent from the profile."""
    harbor, profile = settings.config.harbor, settings.profile
    assert harbor is not None
    full = profile.harbor == "full"
    return HarborProjectArgs(
        url=harbor.url.rstrip("/"),
        username=harbor.username,
        password=settings.secrets.harbor_password,
        project=harbor.project,
        insecure=harbor.insecure,
        ca_bundle=harbor.ca_bundle,
        connection_config={
            "url": "paif:harbor.url",
            "username": "paif:harbor.username",
            "password": "paif:harborPassword",
        },
        storage_quota_gb=harbor.storage_quota_gb,
        deployment_security=harbor.deployment_security,
        cosign=harbor.cosign,
        sbom=harbor.auto_sbom,
        retain_last=harbor.retain_last if full else None,
        retention_schedule=harbor.retention_schedule,
        immutable_tag_pattern=harbor.immutable_tag_pattern if full else None,
        robot_expiry_days=harbor.robot_expiry_days,
        robot_rotation=harbor.robot_rotation,
        protect=settings.protect("harborProject"),
    )


def declare_registry(settings: Settings) -> RegistryOutputs | None:
    """The Harbor project and its robots; None where the profile has no Harbor."""
    if settings.profile.harbor == "off" or settings.config.harbor is None:
        return None
    check_apply_secrets(settings, keys=("harborPassword",))
    args = registry_args(settings)
    harbor = HarborProject("registry", args)
    return RegistryOutputs(
        registry=registry_host(args.url),
        project=harbor.project_name,
        pull_username=harbor.pull_robot_name,
        pull_secret=harbor.pull_robot_secret,
        dockerconfigjson=harbor.pull_secret_dockerconfigjson,
    )
