"""`Project` (type `dynamic/harbor:Project`): a Harbor project with its security settings.

Harbor keeps the settings as project metadata with string values ("true"/"false"), the
storage quota in a separate quota object (bytes), and refuses to delete a project that
still holds repositories. `force_destroy` deletes the repositories first; it is off by
default so a `pulumi destroy` never silently deletes images.

Ownership: a project has no free-text field, so the project-scoped label `OWNER_LABEL`
carries this stack's marker in its description, written right after the project is created
(a failure there deletes the new project: all or nothing). A create Harbor confirmed but the
engine never recorded meets Harbor's 409 on the next `up`; a project whose owner label
carries this resource's marker is adopted (its settings and quota made to match the
declaration), any other is refused untouched. A kill between the project's creation and its
label's leaves an unmarked project, refused like anyone else's: the window is one request
wide instead of the whole create.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pulumi
from pulumi.dynamic import CheckFailure

from components.dynamic.provider import OWNERSHIP_KEY, NotOwned, marked, unmarked, whose
from components.dynamic.resource import ConnectedArgs, DynamicResource
from components.harbor.client import HarborClient, HarborConflict, HarborError
from components.harbor.connection import HarborConnection
from components.harbor.provider import (
    HarborObjectProvider,
    Props,
    integer,
    known,
    numeric_id,
)
from components.names import HARBOR_SEVERITIES

GIB = 1024**3
OWNER_LABEL = "pulumi-owner"
"""The project-scoped label whose description carries the ownership marker."""
UNLIMITED = -1
_FLAGS = {
    "public": "public",
    "vulnerability_scanning": "auto_scan",
    "enable_content_trust_cosign": "enable_content_trust_cosign",
    "auto_sbom_generation": "auto_sbom_generation",
}


def _flag(value: Any) -> str:
    return "true" if value else "false"


def project_metadata(props: Props) -> dict[str, str]:
    """The project metadata Harbor stores for these properties."""
    metadata = {key: _flag(props.get(prop)) for prop, key in _FLAGS.items()}
    security = props.get("deployment_security")
    metadata["prevent_vul"] = _flag(security is not None)
    if security is not None:
        metadata["severity"] = str(security)
    return metadata


def project_marker(client: HarborClient, project_id: int) -> str | None:
    """The ownership marker on the project's `OWNER_LABEL` (None: no such label)."""
    labels = client.list_all("/labels", params={"scope": "p", "project_id": project_id, "name": OWNER_LABEL})
    owner = next((lb for lb in labels if lb.get("name") == OWNER_LABEL), None)
    return unmarked(str(owner.get("description") or ""))[1] if owner is not None else None


def storage_bytes(quota_gib: int) -> int:
    return UNLIMITED if quota_gib == UNLIMITED else quota_gib * GIB


def _project_path(props: Props) -> str:
    return f"/projects/{quote(str(props['name']), safe='')}"


class ProjectProvider(HarborObjectProvider):
    kind = "project"
    named = "project"
    replace_keys = ("name",)
    update_keys = (
        "public",
        "vulnerability_scanning",
        "deployment_security",
        "enable_content_trust_cosign",
        "auto_sbom_generation",
        "storage_quota",
    )
    state_keys = ("force_destroy",)
    marks_ownership = True

    def validate(self, inputs: dict[str, Any]) -> list[CheckFailure]:
        failures = []
        security = inputs.get("deployment_security")
        if known(security) and security not in HARBOR_SEVERITIES:
            failures.append(
                CheckFailure("deployment_security", f"{security!r}: must be one of {', '.join(HARBOR_SEVERITIES)}")
            )
        quota = inputs.get("storage_quota")
        if known(quota):
            gib = integer(quota)
            if gib is None or (gib < 1 and gib != UNLIMITED):
                failures.append(CheckFailure("storage_quota", f"{quota!r}: GiB >= 1, or -1 for unlimited"))
            else:
                inputs["storage_quota"] = gib
        return failures

    def _quota(self, client: HarborClient, project_id: int) -> dict[str, Any] | None:
        quotas = client.get("/quotas", params={"reference": "project", "reference_id": str(project_id)})
        return quotas[0] if quotas else None

    def _set_quota(self, client: HarborClient, project_id: int, quota_gib: int) -> None:
        quota = self._quota(client, project_id)
        if quota is None:
            raise HarborError(
                f"Harbor at {client.url} keeps no storage quota for project {project_id}: per-project "
                "quotas are disabled there, so storage_quota cannot be enforced"
            )
        wanted = storage_bytes(quota_gib)
        if (quota.get("hard") or {}).get("storage") != wanted:
            client.put(f"/quotas/{quota['id']}", {"hard": {"storage": wanted}})

    def create_object(self, client: HarborClient, props: Props) -> tuple[str, dict[str, Any]]:
        name = str(props["name"])
        body = {
            "project_name": name,
            "metadata": project_metadata(props),
            "storage_limit": storage_bytes(int(props["storage_quota"])),
        }
        try:
            client.create("/projects", body)
        except HarborConflict as exc:
            if props.get(OWNERSHIP_KEY):
                return self._adopt(client, props)
            raise HarborConflict(
                f"Harbor project {name!r} already exists at {client.url}; delete it, choose another name, "
                "or adopt it with `pulumi import`",
                status=exc.status,
                code=exc.code,
            ) from None
        project = client.get(_project_path(props), by_name=True)
        project_id = int(project["project_id"])
        id_ = f"/projects/{project_id}"
        try:
            self._mark(client, project_id, props)
            self._set_quota(client, project_id, int(props["storage_quota"]))
            return id_, self.observed(client, id_, props, "created")
        except HarborError:
            # Creation must be all or nothing: a half-made project would block the next attempt.
            client.delete(id_)
            raise

    def _mark(self, client: HarborClient, project_id: int, props: Props) -> None:
        if props.get(OWNERSHIP_KEY):
            label = {"name": OWNER_LABEL, "description": marked("", props), "scope": "p", "project_id": project_id}
            client.create("/labels", label)

    def _adopt(self, client: HarborClient, props: Props) -> tuple[str, dict[str, Any]]:
        name = str(props["name"])
        project_id = int(client.get(_project_path(props), by_name=True)["project_id"])
        found = project_marker(client, project_id)
        if found != props.get(OWNERSHIP_KEY):
            owner = whose(found, f"its {OWNER_LABEL!r} label")
            if found is None:
                owner += ", or a create killed before its label was written"
            raise NotOwned(
                f"Harbor project {name!r} already exists at {client.url} but this stack's state does not "
                f"record it ({owner}): delete it, choose another name, or adopt it with `pulumi import`"
            )
        id_ = f"/projects/{project_id}"
        self.update_object(client, id_, {}, props)
        return id_, self.observed(client, id_, props, "adopted")

    def observe(self, client: HarborClient, id_: str, props: Props) -> dict[str, Any] | None:
        project = client.find(id_)
        if project is None:
            return None
        metadata = project.get("metadata") or {}
        observed: dict[str, Any] = {
            "project_id": int(project["project_id"]),
            "name": project["name"],
            **{prop: metadata.get(key) == "true" for prop, key in _FLAGS.items()},
            "deployment_security": metadata.get("severity")
            if metadata.get("prevent_vul") == "true"
            else None,
        }
        quota = self._quota(client, int(project["project_id"]))
        hard = (quota or {}).get("hard", {}).get("storage")
        if hard is not None:
            observed["storage_quota"] = hard if hard == UNLIMITED or hard % GIB else hard // GIB
        return observed

    def update_object(self, client: HarborClient, id_: str, olds: Props, news: Props) -> None:
        client.put(id_, {"metadata": project_metadata(news)})
        if olds.get("storage_quota") != news.get("storage_quota"):
            self._set_quota(client, numeric_id(id_), int(news["storage_quota"]))

    def delete_object(self, client: HarborClient, id_: str, props: Props) -> None:
        name = str(props["name"])
        if props.get("force_destroy"):
            prefix = f"{name}/"
            for repo in client.list_all(f"{_project_path(props)}/repositories"):
                short = str(repo["name"]).removeprefix(prefix)
                # Harbor wants a/b as a%252Fb: the name is encoded once, then once more in the path.
                client.delete(f"{_project_path(props)}/repositories/{quote(quote(short, safe=''), safe='')}")
        try:
            client.delete(id_)
        except HarborError as exc:
            if exc.status == 412:
                raise HarborError(
                    f"Harbor project {name!r} still holds repositories, so it was not deleted; delete its "
                    "images first, or set force_destroy (which deletes every image in it)",
                    status=exc.status,
                    code=exc.code,
                ) from None
            raise


@dataclass(frozen=True, kw_only=True)
class ProjectArgs(ConnectedArgs[HarborConnection]):
    """`deployment_security`: images with vulnerabilities of this severity or above cannot be
    pulled (None allows all). `storage_quota`: GiB, -1 for unlimited. `force_destroy`: delete
    the project's repositories when the project is deleted."""

    outputs = ("project_id",)
    name: pulumi.Input[str]
    public: bool = False
    vulnerability_scanning: bool = True
    deployment_security: str | None = "high"
    enable_content_trust_cosign: bool = False
    auto_sbom_generation: bool = False
    storage_quota: int = UNLIMITED
    force_destroy: bool = False


class Project(DynamicResource[ProjectArgs], module="harbor", name="Project"):
    """A Harbor project. Outputs `project_id`; the resource id is /projects/<project_id>."""

    provider_class = ProjectProvider
    name: pulumi.Output[str]
    project_id: pulumi.Output[int]
    public: pulumi.Output[bool]
    vulnerability_scanning: pulumi.Output[bool]
    deployment_security: pulumi.Output[str | None]
    storage_quota: pulumi.Output[int]
