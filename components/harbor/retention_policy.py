"""`RetentionPolicy` (type `dynamic/harbor:RetentionPolicy`): tag retention for one project.

One rule: keep the `retain_last` most recently pushed artifacts of every repository
matching `repositories` whose tags match `tags`; the rest are deleted when the schedule
runs. Harbor binds at most one policy to a project (project metadata `retention_id`) and
leaves that binding behind when a policy is deleted, so:
- create adopts the policy already bound to the project, if any (a project has one);
- delete removes the policy and then the binding, so the project can get a new one;
- the policy counts as gone when the project no longer points at it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure

from components.dynamic.resource import ConnectedArgs, DynamicResource
from components.harbor.client import HarborClient, HarborError, HarborNotFound, created_id
from components.harbor.connection import HarborConnection
from components.harbor.provider import HarborObjectProvider, Props, integer, known, numeric_id
from components.names import HARBOR_CRON

TEMPLATE = "latestPushedK"
# Harbor rejects latestPushedK values from 2^15 - 1 on.
MAX_RETAIN = 32766


def retention_body(props: Props, policy_id: int | None = None) -> dict[str, Any]:
    """The RetentionPolicy document Harbor expects (algorithm "or", one latestPushedK rule)."""
    body: dict[str, Any] = {
        "algorithm": "or",
        "rules": [
            {
                "disabled": False,
                "action": "retain",
                "template": TEMPLATE,
                "params": {TEMPLATE: int(props["retain_last"])},
                "tag_selectors": [
                    {"kind": "doublestar", "decoration": "matches", "pattern": str(props["tags"])}
                ],
                "scope_selectors": {
                    "repository": [
                        {
                            "kind": "doublestar",
                            "decoration": "repoMatches",
                            "pattern": str(props["repositories"]),
                        }
                    ]
                },
            }
        ],
        "trigger": {"kind": "Schedule", "settings": {"cron": str(props["schedule"])}},
        "scope": {"level": "project", "ref": int(props["project_id"])},
    }
    if policy_id is not None:
        body["id"] = policy_id
    return body


def _bound_policy(project: dict[str, Any]) -> int | None:
    value = (project.get("metadata") or {}).get("retention_id")
    return int(value) if value and str(value).isdigit() else None


class RetentionPolicyProvider(HarborObjectProvider):
    kind = "retention policy"
    replace_keys = ("project_id",)
    update_keys = ("retain_last", "schedule", "repositories", "tags")

    def validate(self, inputs: dict[str, Any]) -> list[CheckFailure]:
        failures = []
        retain = inputs.get("retain_last")
        if known(retain):
            count = integer(retain)
            if count is None or not 1 <= count <= MAX_RETAIN:
                failures.append(CheckFailure("retain_last", f"{retain!r}: must be 1..{MAX_RETAIN}"))
            else:
                inputs["retain_last"] = count
        schedule = inputs.get("schedule")
        if known(schedule) and (not isinstance(schedule, str) or not HARBOR_CRON.match(schedule)):
            failures.append(
                CheckFailure("schedule", f"{schedule!r}: a six-field cron, seconds first, e.g. '0 0 3 * * *'")
            )
        for key in ("repositories", "tags"):
            value = inputs.get(key)
            if known(value) and (not isinstance(value, str) or not value):
                failures.append(CheckFailure(key, "must be a non-empty doublestar pattern, e.g. '**'"))
        return failures

    def create_object(self, client: HarborClient, props: Props) -> tuple[str, dict[str, Any] | None]:
        project_path = f"/projects/{int(props['project_id'])}"
        bound = _bound_policy(client.get(project_path))
        policy_id = None
        if bound is not None:
            try:
                client.put(f"/retentions/{bound}", retention_body(props, bound))
                policy_id = bound
            except HarborError as exc:
                if not (isinstance(exc, HarborNotFound) or (exc.status or 0) >= 500):
                    raise
                # The binding points at a policy deleted behind Harbor's back: drop it.
                client.delete(f"{project_path}/metadatas/retention_id")
        if policy_id is None:
            policy_id = created_id(client.create("/retentions", retention_body(props)))
        return f"/retentions/{policy_id}", None

    def observe(self, client: HarborClient, id_: str, props: Props) -> dict[str, Any] | None:
        project = client.find(f"/projects/{int(props['project_id'])}")
        if project is None or _bound_policy(project) != numeric_id(id_):
            return None
        policy = client.get(id_)
        observed: dict[str, Any] = {
            "policy_id": numeric_id(id_),
            "schedule": ((policy.get("trigger") or {}).get("settings") or {}).get("cron"),
            "retain_last": None,
            "tags": None,
            "repositories": None,
        }
        rules = policy.get("rules") or []
        if len(rules) == 1 and rules[0].get("template") == TEMPLATE and not rules[0].get("disabled"):
            rule = rules[0]
            tags = rule.get("tag_selectors") or []
            repos = (rule.get("scope_selectors") or {}).get("repository") or []
            observed["retain_last"] = (rule.get("params") or {}).get(TEMPLATE)
            if len(tags) == 1 and tags[0].get("decoration") == "matches":
                observed["tags"] = tags[0].get("pattern")
            if len(repos) == 1 and repos[0].get("decoration") == "repoMatches":
                observed["repositories"] = repos[0].get("pattern")
        return observed

    def update_object(self, client: HarborClient, id_: str, olds: Props, news: Props) -> None:
        if self.observe(client, id_, news) is None:
            raise HarborNotFound(f"{id_} is no longer the project's retention policy")
        client.put(id_, retention_body(news, numeric_id(id_)))

    def delete_object(self, client: HarborClient, id_: str, props: Props) -> None:
        project_path = f"/projects/{int(props['project_id'])}"
        project = client.find(project_path)
        if project is None or _bound_policy(project) != numeric_id(id_):
            return
        try:
            client.delete(id_)
        except HarborError as exc:
            # Harbor answers 400 "no such Retention policy" for a policy that is already gone.
            if exc.status != 400 or "no such retention policy" not in exc.detail.lower():
                raise
        client.delete(f"{project_path}/metadatas/retention_id")


@dataclass(frozen=True, kw_only=True)
class RetentionPolicyArgs(ConnectedArgs[HarborConnection]):
    """`schedule`: Harbor cron, seconds first. `repositories`/`tags`: doublestar patterns."""

    outputs = ("policy_id",)
    project_id: pulumi.Input[int]
    retain_last: int
    schedule: str = "0 0 3 * * *"
    repositories: str = "**"
    tags: str = "**"


class RetentionPolicy(DynamicResource[RetentionPolicyArgs], module="harbor", name="RetentionPolicy"):
    """Keep the last `retain_last` pushed artifacts per repository of one project."""

    provider_class = RetentionPolicyProvider
    policy_id: pulumi.Output[int]
    retain_last: pulumi.Output[int]
    schedule: pulumi.Output[str]
