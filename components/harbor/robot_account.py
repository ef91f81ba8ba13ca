"""`RobotAccount` (type `dynamic/harbor:RobotAccount`): a project-level Harbor robot account.

Created through Harbor's robot API v2 (`POST /robots`, level "project", one permission of
kind "project" for one project). Harbor names it `robot$<project>+<name>` and returns its
secret only once, at creation: the secret lives in state as a secret output and is never
logged. Robots always expire (`duration` in days, never -1). Changing `rotation` replaces
the robot, which issues a new secret and a new lifetime.

Ownership: the description written to Harbor ends with this stack's marker (`marked`). A
create Harbor confirmed but the engine never recorded (a kill in between) meets Harbor's 409
on the next `up`; the robot found under that name carries this resource's marker, so it is
adopted: made to match the declaration (PUT) and given a new secret (PATCH, Harbor's "refresh
secret"), since the one Harbor returned at creation was lost with the killed run. A robot
without the marker is refused untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pulumi
from pulumi.dynamic import CheckFailure

from components.dynamic.provider import OWNERSHIP_KEY, NotOwned, marked, unmarked, whose
from components.dynamic.resource import ConnectedArgs, DynamicResource
from components.harbor.client import HarborClient, HarborConflict, HarborError, created_id
from components.harbor.connection import HarborConnection
from components.harbor.provider import (
    HarborObjectProvider,
    Props,
    integer,
    known,
    numeric_id,
)

LEVEL = "project"
PULL = (("repository", "pull"),)
PUSH = (("repository", "pull"), ("repository", "push"))


def robot_permissions(project: pulumi.Input[str], access: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """Harbor's permission list for a robot scoped to one project."""
    return [
        {
            "kind": LEVEL,
            "namespace": project,
            "access": [{"resource": resource, "action": action} for resource, action in sorted(set(access))],
        }
    ]


def normalize_permissions(permissions: Any) -> Any:
    """Permissions as Harbor reports them, reduced to what we declare and sorted (no spurious diffs)."""
    if not isinstance(permissions, list):
        return permissions
    normalized = []
    for permission in permissions:
        if not isinstance(permission, dict):
            return permissions
        access = sorted(
            (
                {"resource": a.get("resource"), "action": a.get("action")}
                for a in permission.get("access") or []
            ),
            key=lambda a: (str(a["resource"]), str(a["action"])),
        )
        normalized.append(
            {"kind": permission.get("kind"), "namespace": permission.get("namespace"), "access": access}
        )
    return sorted(normalized, key=lambda p: (str(p["kind"]), str(p["namespace"])))


def _permission_problems(inputs: dict[str, Any]) -> list[str]:
    permissions = inputs.get("permissions")
    if not known(permissions):
        return []
    if not isinstance(permissions, list) or len(permissions) != 1:
        return ["a project robot has exactly one permission entry (its project)"]
    permission = permissions[0]
    problems = []
    if permission.get("kind") != LEVEL:
        problems.append(f"kind {permission.get('kind')!r}: must be 'project'")
    namespace, project = permission.get("namespace"), inputs.get("project")
    if known(namespace) and namespace == "*":
        problems.append("namespace '*' would cover every project; name the robot's project")
    elif known(namespace) and known(project) and namespace != project:
        problems.append(f"namespace {namespace!r}: must be the robot's project {project!r}")
    access = permission.get("access")
    if not isinstance(access, list) or not access:
        problems.append("access: must list at least one {resource, action}")
    else:
        pairs = [(a.get("resource"), a.get("action")) for a in access if isinstance(a, dict)]
        if len(pairs) != len(access) or not all(
            isinstance(r, str) and r and isinstance(x, str) and x for r, x in pairs
        ):
            problems.append("access: every entry needs a non-empty resource and action")
        elif len(set(pairs)) != len(pairs):
            problems.append("access: duplicate entries")
    return problems


class RobotAccountProvider(HarborObjectProvider):
    kind = "robot account"
    named = "robot"
    replace_keys = ("name", "project", "level", "rotation")
    update_keys = ("permissions", "duration", "description", "disable")
    marks_ownership = True

    def validate(self, inputs: dict[str, Any]) -> list[CheckFailure]:
        failures = []
        if known(inputs.get("level")) and inputs.get("level") != LEVEL:
            failures.append(
                CheckFailure("level", f"{inputs.get('level')!r}: robots here are project-level only")
            )
        duration = inputs.get("duration")
        if known(duration):
            days = integer(duration)
            if days is None or days < 1:
                failures.append(
                    CheckFailure(
                        "duration", f"{duration!r}: days >= 1; robot accounts must expire (never -1)"
                    )
                )
            else:
                inputs["duration"] = days
        failures += [CheckFailure("permissions", p) for p in _permission_problems(inputs)]
        if known(inputs.get("permissions")):
            inputs["permissions"] = normalize_permissions(inputs["permissions"])
        return failures

    def _body(self, props: Props, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "description": marked(str(props.get("description") or ""), props),
            "level": LEVEL,
            "duration": int(props["duration"]),
            "disable": bool(props.get("disable")),
            "permissions": props["permissions"],
        }

    def create_object(self, client: HarborClient, props: Props) -> tuple[str, dict[str, Any]]:
        try:
            response = client.create("/robots", self._body(props, str(props["name"])))
        except HarborConflict as exc:
            if props.get(OWNERSHIP_KEY):
                return self._adopt(client, props)
            raise HarborConflict(
                f"Harbor robot account {props['name']!r} already exists in project {props['project']!r}; "
                "delete it or choose another name",
                status=exc.status,
                code=exc.code,
            ) from None
        created = response.json()
        id_ = f"/robots/{created.get('id') or created_id(response)}"
        return id_, {**self.observed(client, id_, props, "created"), "secret": created["secret"]}

    def _existing(self, client: HarborClient, props: Props) -> dict[str, Any] | None:
        """The project's robot with the declared name, as Harbor lists it (None: not there)."""
        project = client.get(f"/projects/{quote(str(props['project']), safe='')}", by_name=True)
        robots = client.list_all("/robots", params={"q": f"Level={LEVEL},ProjectID={int(project['project_id'])}"})
        # Harbor names it <prefix><project>+<name>, and a name cannot hold a '+'.
        suffix = f"+{props['name']}"
        return next((r for r in robots if str(r.get("name") or "").endswith(suffix)), None)

    def _adopt(self, client: HarborClient, props: Props) -> tuple[str, dict[str, Any]]:
        robot = self._existing(client, props)
        found = unmarked(str(robot.get("description") or ""))[1] if robot is not None else None
        if robot is None or found != props.get(OWNERSHIP_KEY):
            raise NotOwned(
                f"Harbor robot account {props['name']!r} already exists in project {props['project']!r} at "
                f"{client.url} but this stack's state does not record it ({whose(found)}): if it is this stack's "
                "and nothing uses its secret, delete it in Harbor and run again; otherwise choose another name"
            )
        id_ = f"/robots/{int(robot['id'])}"
        client.put(id_, self._body(props, str(robot["name"])))
        refreshed = client.request("PATCH", id_, body={"secret": ""}).json()
        secret = refreshed.get("secret") if isinstance(refreshed, dict) else None
        if not secret:
            raise HarborError(f"Harbor at {client.url} did not return a new secret for robot {robot['name']!r}")
        return id_, {**self.observed(client, id_, props, "adopted"), "secret": secret}

    def observe(self, client: HarborClient, id_: str, props: Props) -> dict[str, Any] | None:
        robot = client.find(id_)
        if robot is None:
            return None
        return {
            "robot_id": int(robot["id"]),
            "full_name": robot["name"],
            "level": robot.get("level"),
            "description": unmarked(str(robot.get("description") or ""))[0],
            "duration": robot.get("duration"),
            "disable": bool(robot.get("disable")),
            "expires_at": robot.get("expires_at"),
            "permissions": normalize_permissions(robot.get("permissions") or []),
        }

    def update_object(self, client: HarborClient, id_: str, olds: Props, news: Props) -> None:
        # Harbor checks that the name (robot$<project>+<name>) and level are unchanged.
        current = client.get(id_)
        client.put(id_, self._body(news, str(current["name"])))

    def delete_object(self, client: HarborClient, id_: str, props: Props) -> None:
        client.delete(f"/robots/{numeric_id(id_)}")


@dataclass(frozen=True, kw_only=True)
class RobotAccountArgs(ConnectedArgs[HarborConnection]):
    """`access`: (resource, action) pairs, e.g. PULL or PUSH. `duration_days` >= 1."""

    outputs = ("robot_id", "full_name", "secret", "expires_at")
    secrets = ("secret",)
    project: pulumi.Input[str]
    name: str
    access: Sequence[tuple[str, str]]
    duration_days: int
    description: str = ""
    rotation: int = 0

    def values(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "project": self.project,
            "level": LEVEL,
            "permissions": robot_permissions(self.project, self.access),
            "duration": self.duration_days,
            "description": self.description,
            "disable": False,
            "rotation": self.rotation,
        }


class RobotAccount(DynamicResource[RobotAccountArgs], module="harbor", name="RobotAccount"):
    """A project-level robot account. `secret` is a secret output; `full_name` is the login."""

    provider_class = RobotAccountProvider
    robot_id: pulumi.Output[int]
    full_name: pulumi.Output[str]
    secret: pulumi.Output[str]
    expires_at: pulumi.Output[int]
