"""`paif:harbor`: the registry project the app images come from."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from components.names import HARBOR_CRON, HarborSeverity
from infra.config.base import DnsLabel, Flag, Model, TagPattern, rule, url_without_path

# Harbor schedules with six-field cron expressions: seconds first.


class HarborConfig(Model):
    """A private Harbor project with scanning, retention, immutable tags and robot accounts."""

    url: Annotated[str, AfterValidator(url_without_path)] = Field(
        description="Harbor base URL, http(s)://host[:port]"
    )
    username: str = Field("admin", min_length=1)
    """Harbor user that manages the project; its password is the secret paif:harborPassword."""
    insecure: Flag = False
    """Skip TLS verification of the Harbor API (never in prod; needed for plain http)."""
    ca_bundle: str | None = None
    """PEM CA bundle (path on the machine running Pulumi) for a Harbor with a private CA; the
    system trust store when unset."""
    project: DnsLabel
    """Harbor project (private) the app images live in."""
    storage_quota_gb: int = Field(50, ge=1, le=10240)
    """Storage quota of the project in GiB."""
    deployment_security: HarborSeverity = "high"
    """Images with vulnerabilities of this severity or above cannot be pulled (`none`, the strictest,
    blocks any vulnerability); prod allows `high` or stricter."""
    cosign: Flag = True
    """Only cosign-signed images can be pulled."""
    auto_sbom: Flag = True
    """Generate an SBOM for every pushed image."""
    retain_last: int = Field(10, ge=1, le=1000)
    """Tag retention (prod): keep the most recently pushed N artifacts per repository."""
    retention_schedule: Annotated[
        str,
        rule(
            HARBOR_CRON.match,
            "must be a six-field cron expression, seconds first, e.g. '0 0 3 * * *' (daily at 03:00)",
        ),
    ] = "0 0 3 * * *"
    """When tag retention runs: Harbor cron with seconds first (second minute hour day month weekday)."""
    immutable_tag_pattern: TagPattern = Field("v*", min_length=1)
    """Tags matching this pattern cannot be overwritten or deleted (prod); there the app images of
    this project need a tag it matches, or a @sha256 digest."""
    robot_expiry_days: int = Field(90, ge=1, le=3650)
    """Lifetime of the pull and push robot accounts in days; they never get unlimited lifetime."""
    robot_rotation: int = Field(0, ge=0)
    """Bump to replace both robot accounts, which issues new secrets and a new lifetime."""
