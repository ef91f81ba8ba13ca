"""Harbor objects as Pulumi dynamic resources (types `pulumi-python:dynamic/harbor:<Kind>`).

The pulumiverse-harbor provider plugin cannot be built here, so projects, robot accounts,
retention policies and immutable tag rules are managed over Harbor's REST API v2.0
(`components/harbor/client.py`). Previews never contact Harbor.
"""

from components.harbor.client import HarborClient, HarborConflict, HarborError, HarborNotFound, registry_host
from components.harbor.connection import HarborConnection
from components.harbor.immutable_tag_rule import ImmutableTagRule, ImmutableTagRuleArgs
from components.harbor.project import Project, ProjectArgs
from components.harbor.retention_policy import RetentionPolicy, RetentionPolicyArgs
from components.harbor.robot_account import PULL, PUSH, RobotAccount, RobotAccountArgs

__all__ = [
    "PULL",
    "PUSH",
    "HarborClient",
    "HarborConflict",
    "HarborConnection",
    "HarborError",
    "HarborNotFound",
    "ImmutableTagRule",
    "ImmutableTagRuleArgs",
    "Project",
    "ProjectArgs",
    "RetentionPolicy",
    "RetentionPolicyArgs",
    "RobotAccount",
    "RobotAccountArgs",
    "registry_host",
]
