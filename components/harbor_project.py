"""`HarborProject`: the private Harbor project the app's images come from, and who may use it.

Declares, through the Harbor dynamic providers (`components/harbor/`):
- the project: private, scanned on push, pulls blocked at `deployment_security` and above,
  optionally cosign-only and SBOM-on-push, with a storage quota;
- two project-scoped robot accounts that expire: `pull` for the app (pull only) and `push`
  for CI (push and pull);
- optionally a tag-retention policy (keep the last N pushed artifacts per repository) and
  an immutable-tag rule.
Outputs the robots' credentials as secrets and a ready `.dockerconfigjson` for the app's
imagePullSecret. Previews contact nothing and need no Harbor password.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from components.harbor import (
    PULL,
    PUSH,
    HarborConnection,
    ImmutableTagRule,
    ImmutableTagRuleArgs,
    Project,
    ProjectArgs,
    RetentionPolicy,
    RetentionPolicyArgs,
    RobotAccount,
    RobotAccountArgs,
    registry_host,
)
from components.names import HarborSeverity


@dataclass(frozen=True)
class HarborProjectArgs:
    """The project, its robots and its lifecycle rules (which ones exist comes from the profile)."""

    url: str
    """Harbor base URL, e.g. https://harbor.example.com; its host is the registry images are pulled from."""
    username: str
    """Harbor user that manages the project (a system admin sets the storage quota)."""
    password: pulumi.Input[str] | None
    """That user's password (made a secret here); None only in previews, where nothing is contacted."""
    project: str
    """Project name (lower case, words joined by '.', '_' or '-')."""
    insecure: bool = False
    """Skip TLS verification of the Harbor API; never in production."""
    ca_bundle: str | None = None
    """PEM CA bundle for a Harbor with a private CA; the system trust store when None."""
    storage_quota_gb: int = 50
    """Project storage quota in GiB (-1 for unlimited)."""
    deployment_security: HarborSeverity | None = "high"
    """Block pulls of images with vulnerabilities of this severity or above; None blocks nothing."""
    cosign: bool = True
    """Only cosign-signed images can be pulled."""
    sbom: bool = True
    """Generate an SBOM for every pushed image."""
    retain_last: int | None = None
    """Tag retention: keep the last N pushed artifacts per repository; None declares no policy."""
    retention_schedule: str = "0 0 3 * * *"
    """When retention runs (Harbor cron, seconds first)."""
    immutable_tag_pattern: str | None = None
    """Tags matching this doublestar pattern become immutable; None declares no rule."""
    robot_expiry_days: int = 90
    """Lifetime of both robot accounts in days (robots always expire)."""
    robot_rotation: int = 0
    """Bump to replace both robots: new secrets, new lifetime."""
    pull_robot: str = "app-pull"
    """Name of the app's pull-only robot (Harbor calls it robot$<project>+<name>)."""
    push_robot: str = "ci-push"
    """Name of CI's push robot."""
    force_destroy: bool = False
    """Let `pulumi destroy` delete the project's images with it."""
    protect: bool = False
    """Protect the project from deletion (production)."""
    connection_config: Mapping[str, str] | None = None
    """Connection property -> stack config key it came from (see HarborConnection.config_keys)."""


def dockerconfigjson(registry: str, username: str, password: str) -> str:
    """The `.dockerconfigjson` document of a kubernetes.io/dockerconfigjson Secret."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {registry: {"username": username, "password": password, "auth": auth}}})


class HarborProject(pulumi.ComponentResource):
    """A private, scanned Harbor project with expiring pull and push robots."""

    project_name: pulumi.Output[str]
    project_id: pulumi.Output[int]
    registry: str
    pull_robot_name: pulumi.Output[str]
    pull_robot_secret: pulumi.Output[str]
    push_robot_name: pulumi.Output[str]
    push_robot_secret: pulumi.Output[str]
    pull_secret_dockerconfigjson: pulumi.Output[str]

    def __init__(
        self, name: str, args: HarborProjectArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("paif:registry:HarborProject", name, None, opts)
        a = args
        connection = HarborConnection(
            url=a.url,
            username=a.username,
            password=a.password,
            insecure=a.insecure,
            ca_bundle=a.ca_bundle,
            config_keys=a.connection_config,
        )
        child = pulumi.ResourceOptions(parent=self)
        project = Project(
            f"{name}-project",
            ProjectArgs(
                connection=connection,
                name=a.project,
                public=False,
                vulnerability_scanning=True,
                deployment_security=a.deployment_security,
                enable_content_trust_cosign=a.cosign,
                auto_sbom_generation=a.sbom,
                storage_quota=a.storage_quota_gb,
                force_destroy=a.force_destroy,
            ),
            pulumi.ResourceOptions(parent=self, protect=a.protect),
        )
        robots = {
            role: RobotAccount(
                f"{name}-{role}-robot",
                RobotAccountArgs(
                    connection=connection,
                    project=project.name,
                    name=robot_name,
                    access=access,
                    duration_days=a.robot_expiry_days,
                    description=description,
                    rotation=a.robot_rotation,
                ),
                child,
            )
            for role, robot_name, access, description in (
                ("pull", a.pull_robot, PULL, "pulls the app's images (imagePullSecret)"),
                ("push", a.push_robot, PUSH, "pushes the app's images from CI"),
            )
        }
        pull, push = robots["pull"], robots["push"]
        if a.retain_last is not None:
            RetentionPolicy(
                f"{name}-retention",
                RetentionPolicyArgs(
                    connection=connection,
                    project_id=project.project_id,
                    retain_last=a.retain_last,
                    schedule=a.retention_schedule,
                ),
                child,
            )
        if a.immutable_tag_pattern is not None:
            ImmutableTagRule(
                f"{name}-immutable-tags",
                ImmutableTagRuleArgs(
                    connection=connection, project_id=project.project_id, tag_pattern=a.immutable_tag_pattern
                ),
                child,
            )

        self.registry = registry_host(a.url)
        self.project_name = project.name
        self.project_id = project.project_id
        self.pull_robot_name = pull.full_name
        self.pull_robot_secret = pulumi.Output.secret(pull.secret)
        self.push_robot_name = push.full_name
        self.push_robot_secret = pulumi.Output.secret(push.secret)
        self.pull_secret_dockerconfigjson = pulumi.Output.secret(
            pulumi.Output.all(pull.full_name, pull.secret).apply(
                lambda creds: dockerconfigjson(self.registry, str(creds[0]), str(creds[1]))
            )
        )
        self.register_outputs(
            {
                "projectName": self.project_name,
                "projectId": self.project_id,
                "registry": self.registry,
                "pullRobotName": self.pull_robot_name,
                "pullRobotSecret": self.pull_robot_secret,
                "pushRobotName": self.push_robot_name,
                "pushRobotSecret": self.push_robot_secret,
                "pullSecretDockerconfigjson": self.pull_secret_dockerconfigjson,
            }
        )
