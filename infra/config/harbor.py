"""`paif:harbor`: the registry project the app images come from."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from infra.config.base import DnsLabel, Model


class HarborConfig(Model):
    """A private Harbor project with scanning, retention, immutable tags and robot accounts."""

    url: str = Field(pattern=r"^https?://[^\s/]+/?$", description="Harbor base URL")
    username: str = Field("admin", min_length=1)
    insecure: bool = False
    project: DnsLabel
    storage_quota_gb: int = Field(50, ge=1, le=10240)
    deployment_security: Literal["critical", "high", "medium", "low", "none"] = "high"
    cosign: bool = True
    auto_sbom: bool = True
    retain_last: int = Field(10, ge=1, le=1000)
    immutable_tag_pattern: str = Field("v*", min_length=1)
    robot_expiry_days: int = Field(90, ge=1, le=3650)
