"""Slow dynamic resources in a chain, a secret config value and a secret output.

Config: `team-state:token` (secret, required), `team-state:label` (default "one"),
`team-state:count` (default 3), `team-state:delay` seconds each create/update takes (default 0).
"""

import time
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult


class _SlowProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        time.sleep(float(props["delay"]))
        return CreateResult(f"slow-{props['index']}", dict(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [key for key in ("label", "token") if olds.get(key) != news.get(key)]
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        time.sleep(float(news["delay"]))
        return UpdateResult(dict(news))


class Slow(Resource, module="teamstate", name="Slow"):
    label: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(_SlowProvider(), name, {"label": None, **props}, opts)


config = pulumi.Config()
token = config.require_secret("token")
previous: Slow | None = None
for index in range(config.get_int("count") or 3):
    previous = Slow(
        f"slow-{index}",
        {"index": index, "label": config.get("label") or "one", "delay": config.get("delay") or "0", "token": token},
        pulumi.ResourceOptions(depends_on=[previous] if previous else [], additional_secret_outputs=["token"]),
    )
pulumi.export("token", token)
pulumi.export("label", previous.label if previous else None)
