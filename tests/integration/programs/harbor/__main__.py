"""HarborProject with every feature on (tests/integration/test_harbor_preview.py).

Config (project namespace): url (the Harbor base URL), password (secret, optional: a
preview needs none), protect (bool, default false).
"""

import pulumi

from components.harbor_project import HarborProject, HarborProjectArgs

config = pulumi.Config()
harbor = HarborProject(
    "registry",
    HarborProjectArgs(
        url=config.require("url"),
        username="admin",
        password=config.get_secret("password"),
        project="paif-chat",
        insecure=True,
        storage_quota_gb=20,
        deployment_security="high",
        retain_last=10,
        immutable_tag_pattern="v*",
        robot_expiry_days=30,
        protect=config.get_bool("protect") or False,
    ),
)
pulumi.export("registry", harbor.registry)
pulumi.export("project", harbor.project_name)
pulumi.export("pullUsername", harbor.pull_robot_name)
pulumi.export("dockerconfigjson", harbor.pull_secret_dockerconfigjson)
