"""`count` dynamic resources whose value changes with `generation`: every update rewrites
the checkpoint once per resource (tests/integration/test_state_full_disk.py)."""

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult


class _ItemProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(str(props["name"]), dict(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return DiffResult(changes=olds.get("value") != news.get("value"))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(dict(news))


class Item(Resource, module="disk", name="Item"):
    def __init__(self, name: str, value: str) -> None:
        super().__init__(_ItemProvider(), name, {"name": name, "value": value})


config = pulumi.Config()
generation = config.get("generation") or "1"
for index in range(config.get_int("count") or 20):
    Item(f"item-{index}", f"generation {generation} " + "x" * 8000)
pulumi.export("generation", generation)
