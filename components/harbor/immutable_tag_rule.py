"""`ImmutableTagRule` (type `dynamic/harbor:ImmutableTagRule`): tags that cannot change.

Artifacts whose tag matches `tag_pattern`, in repositories matching `repo_pattern`, can
neither be overwritten nor deleted. Harbor has no GET for a single rule (the rule is found
in the project's list), creates every rule enabled, and, when an update changes
`disabled`, only toggles the rule and ignores the rest of the update; the provider works
around each of these.

A create Harbor confirmed but the engine never recorded (a kill in between) meets Harbor's
409 on the next `up`. A rule has no field to carry an ownership marker, but when its project
carries this stack's marker (the Project's owner label) and Harbor refuses a second rule with
the same patterns, the rule found there with the declared patterns is the declared rule: it
is adopted (its `disabled` set as declared). In a project of anyone else's it is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure

from components.dynamic.provider import OWNERSHIP_KEY, same_stack
from components.dynamic.resource import ConnectedArgs, DynamicResource
from components.harbor.client import HarborClient, HarborConflict, HarborNotFound, created_id
from components.harbor.connection import HarborConnection
from components.harbor.project import project_marker
from components.harbor.provider import HarborObjectProvider, Props, known, numeric_id


def rule_body(props: Props, disabled: bool, rule_id: int | None = None) -> dict[str, Any]:
    """The ImmutableRule document Harbor expects."""
    body: dict[str, Any] = {
        "disabled": disabled,
        "action": "immutable",
        "template": "immutable_template",
        "tag_selectors": [
            {"kind": "doublestar", "decoration": "matches", "pattern": str(props["tag_pattern"])}
        ],
        "scope_selectors": {
            "repository": [
                {"kind": "doublestar", "decoration": "repoMatches", "pattern": str(props["repo_pattern"])}
            ]
        },
    }
    if rule_id is not None:
        body["id"] = rule_id
    return body


def _rules_path(props: Props) -> str:
    return f"/projects/{int(props['project_id'])}/immutabletagrules"


class ImmutableTagRuleProvider(HarborObjectProvider):
    kind = "immutable tag rule"
    marks_ownership = True
    replace_keys = ("project_id",)
    update_keys = ("tag_pattern", "repo_pattern", "disabled")

    def validate(self, inputs: dict[str, Any]) -> list[CheckFailure]:
        return [
            CheckFailure(key, "must be a non-empty doublestar pattern, e.g. 'v*' or '**'")
            for key in ("tag_pattern", "repo_pattern")
            if known(inputs.get(key)) and (not isinstance(inputs[key], str) or not inputs[key])
        ]

    def _find(self, client: HarborClient, props: Props, rule_id: int) -> dict[str, Any] | None:
        try:
            rules = client.list_all(_rules_path(props))
        except HarborNotFound:
            return None
        return next((r for r in rules if r.get("id") == rule_id), None)

    def create_object(self, client: HarborClient, props: Props) -> tuple[str, dict[str, Any] | None]:
        path = _rules_path(props)
        try:
            rule_id = created_id(client.create(path, rule_body(props, disabled=False)))
        except HarborConflict as exc:
            ours = same_stack(props.get(OWNERSHIP_KEY), project_marker(client, int(props["project_id"])))
            same = self._same_patterns(client, props) if ours else None
            if same is not None:
                id_ = f"{path}/{same}"
                self.update_object(client, id_, {}, props)
                return id_, None
            raise HarborConflict(
                f"project {int(props['project_id'])} already has an immutable tag rule for tags "
                f"{props['tag_pattern']!r} in repositories {props['repo_pattern']!r}; delete it or import it",
                status=exc.status,
                code=exc.code,
            ) from None
        if props.get("disabled"):
            client.put(f"{path}/{rule_id}", rule_body(props, disabled=True, rule_id=rule_id))
        return f"{path}/{rule_id}", None

    def _same_patterns(self, client: HarborClient, props: Props) -> int | None:
        """The id of the project's rule with the declared tag and repository patterns."""
        wanted = (props["tag_pattern"], props["repo_pattern"])
        for rule in client.list_all(_rules_path(props)):
            seen = self._patterns(rule)
            if (seen["tag_pattern"], seen["repo_pattern"]) == wanted:
                return int(rule["id"])
        return None

    @staticmethod
    def _patterns(rule: dict[str, Any]) -> dict[str, Any]:
        tags = rule.get("tag_selectors") or []
        repos = (rule.get("scope_selectors") or {}).get("repository") or []
        return {
            "tag_pattern": tags[0].get("pattern")
            if len(tags) == 1 and tags[0].get("decoration") == "matches"
            else None,
            "repo_pattern": (
                repos[0].get("pattern")
                if len(repos) == 1 and repos[0].get("decoration") == "repoMatches"
                else None
            ),
        }

    def observe(self, client: HarborClient, id_: str, props: Props) -> dict[str, Any] | None:
        rule = self._find(client, props, numeric_id(id_))
        if rule is None:
            return None
        return {"rule_id": int(rule["id"]), "disabled": bool(rule.get("disabled")), **self._patterns(rule)}

    def update_object(self, client: HarborClient, id_: str, olds: Props, news: Props) -> None:
        rule_id = numeric_id(id_)
        current = self.observe(client, id_, news)
        if current is None:
            raise HarborNotFound(f"immutable tag rule {rule_id} is gone")
        path = f"{_rules_path(news)}/{rule_id}"
        if (current["tag_pattern"], current["repo_pattern"]) != (news["tag_pattern"], news["repo_pattern"]):
            client.put(path, rule_body(news, disabled=current["disabled"], rule_id=rule_id))
        if current["disabled"] != bool(news.get("disabled")):
            client.put(path, rule_body(news, disabled=bool(news.get("disabled")), rule_id=rule_id))

    def delete_object(self, client: HarborClient, id_: str, props: Props) -> None:
        client.delete(f"{_rules_path(props)}/{numeric_id(id_)}")


@dataclass(frozen=True, kw_only=True)
class ImmutableTagRuleArgs(ConnectedArgs[HarborConnection]):
    outputs = ("rule_id",)
    project_id: pulumi.Input[int]
    tag_pattern: str
    repo_pattern: str = "**"
    disabled: bool = False


class ImmutableTagRule(DynamicResource[ImmutableTagRuleArgs], module="harbor", name="ImmutableTagRule"):
    """Tags matching `tag_pattern` (in repositories matching `repo_pattern`) are immutable."""

    provider_class = ImmutableTagRuleProvider
    rule_id: pulumi.Output[int]
