"""Credentials from the stack config kept in state by `Password` (components/password): a
required one (`token`) and a given-or-generated one (`adminPassword`), each embedded in an
object (Echo) the way a Kubernetes Secret or a VM's user-data embeds them."""

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, Resource, ResourceProvider

from components.password import Password


class _EchoProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult("echo", {"value": props["value"]})


class Echo(Resource, module="credentials", name="Echo"):
    value: pulumi.Output[str]

    def __init__(self, name: str, value: pulumi.Input[str]) -> None:
        super().__init__(_EchoProvider(), name, {"value": value})


config = pulumi.Config()
token = Password("token", given=config.get_secret("token"), generate=False, config_key="credentials:token")
admin = Password("admin", given=config.get_secret("adminPassword"))
pulumi.export("token", Echo("embeds-token", token.result).value)
pulumi.export("admin", Echo("embeds-admin", admin.result).value)
