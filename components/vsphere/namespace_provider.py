"""`SupervisorNamespace` (type `dynamic/vsphere:SupervisorNamespace`): a vSphere Namespace on a
Supervisor cluster, over `/api/vcenter/namespaces/instances` (v1).

v1 rather than v2: v2 (`.../instances/v2`, which takes a `supervisor` id instead of a
`cluster`) is what VCF 9 prefers for creation, but PATCH and DELETE stay on v1 there, and
vcsim only implements v1. One API for the whole life cycle keeps read/update consistent.

Names are resolved at apply time: the cluster (SOAP), storage policies (PBM) and content
libraries (REST) become ids, kept in the outputs `cluster_id`, `storage_policy_ids` and
`content_library_ids`. Look-ups all happen before the first write, so an unknown name
fails without creating anything.

vcsim quirks this provider meets (docs/REFERENCE-VCF.md): it keeps only `cluster`, `namespace`
and `vm_service_spec` (see provider.py for how unechoed fields are handled), PATCH
replaces `vm_service_spec` with whatever the request carries and answers 200 with a
NOT_FOUND body (the client trusts the status code), and never-set lists come back null.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure

from components.dynamic.provider import NotOwned
from components.dynamic.resource import ConnectedArgs, DynamicResource
from components.names import dns_label_problem
from components.vsphere.client import VcenterClient, VcenterError
from components.vsphere.connection import VcenterConnection, endpoint_from_props
from components.vsphere.inventory import content_library_ids, soap_inventory
from components.vsphere.provider import (
    IGNORED_KEY,
    Props,
    VsphereObjectProvider,
    as_int,
    is_unknown,
    marked,
    unmarked,
)

INSTANCES = "/api/vcenter/namespaces/instances"
SUBJECT_TYPES = ("USER", "GROUP")
ROLES = ("OWNER", "EDIT", "VIEW")
# How long a new namespace may stay CONFIGURING, and a deleted one REMOVING.
SETTLE_SECONDS = 300.0


def _sorted_access(entries: Any) -> Any:
    if is_unknown(entries) or not isinstance(entries, list):
        return entries
    return sorted(
        (
            {
                "subject_type": str(e.get("subject_type") or "").upper(),
                "subject": e.get("subject"),
                "domain": e.get("domain"),
                "role": str(e.get("role") or "").upper(),
            }
            for e in entries
        ),
        key=lambda e: (str(e["domain"]), str(e["subject"]), e["subject_type"]),
    )


def _sorted_storage(specs: Any) -> Any:
    if is_unknown(specs) or not isinstance(specs, list):
        return specs
    return sorted(
        ({"policy": s.get("policy"), "limit_mib": s.get("limit_mib")} for s in specs),
        key=lambda s: str(s["policy"]),
    )


def _sorted_names(values: Any) -> Any:
    if is_unknown(values) or not isinstance(values, list) or any(is_unknown(v) for v in values):
        return values
    return sorted(set(values))


class SupervisorNamespaceProvider(VsphereObjectProvider):
    replace_keys = ("namespace", "cluster")
    update_keys = (
        "description",
        "storage_specs",
        "resource_spec",
        "access_list",
        "vm_classes",
        "content_libraries",
    )
    tracked_keys = ("cluster", *update_keys)
    collection = INSTANCES
    what = "Supervisor namespace"
    id_key = "namespace"

    def normalize(self, inputs: dict[str, Any]) -> None:
        inputs["access_list"] = _sorted_access(inputs.get("access_list") or [])
        inputs["storage_specs"] = _sorted_storage(inputs.get("storage_specs") or [])
        inputs["vm_classes"] = _sorted_names(inputs.get("vm_classes") or [])
        inputs["content_libraries"] = _sorted_names(inputs.get("content_libraries") or [])
        inputs["description"] = inputs.get("description") or ""
        inputs["resource_spec"] = inputs.get("resource_spec") or {}

    def validate(self, inputs: dict[str, Any]) -> list[CheckFailure]:
        failures = []
        name = inputs.get("namespace")
        if not is_unknown(name) and (problem := dns_label_problem(name)):
            failures.append(CheckFailure("namespace", problem))
        cluster = inputs.get("cluster")
        if not is_unknown(cluster) and (not isinstance(cluster, str) or not cluster):
            failures.append(CheckFailure("cluster", "must name the vSphere cluster that runs the Supervisor"))
        storage = inputs.get("storage_specs")
        if isinstance(storage, list):
            for spec in storage:
                limit = spec.get("limit_mib")
                if not spec.get("policy") or not (
                    is_unknown(limit) or (isinstance(limit, int | float) and limit >= 0)
                ):
                    failures.append(
                        CheckFailure(
                            "storage_specs", f"given {spec!r}; each needs a policy name and a limit_mib >= 0"
                        )
                    )
        quotas = inputs.get("resource_spec")
        if isinstance(quotas, dict):
            bad = {
                k: v
                for k, v in quotas.items()
                if not is_unknown(v) and not (isinstance(v, int | float) and v >= 0)
            }
            if bad:
                failures.append(CheckFailure("resource_spec", f"given {bad!r}; quotas must be numbers >= 0"))
        access = inputs.get("access_list")
        if isinstance(access, list):
            for entry in access:
                if (
                    entry["subject_type"] not in SUBJECT_TYPES
                    or entry["role"] not in ROLES
                    or not entry["subject"]
                ):
                    failures.append(
                        CheckFailure(
                            "access_list",
                            f"given {entry!r}; needs a subject, subject_type {'/'.join(SUBJECT_TYPES)} "
                            f"and role {'/'.join(ROLES)}",
                        )
                    )
        return failures

    # -- vCenter ---------------------------------------------------------------------------
    def live(self, body: Mapping[str, Any], props: Props) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        if "cluster" in body:
            # The declared value is a name; the server reports the id it was resolved to.
            same = body["cluster"] == props.get("cluster_id")
            seen["cluster"] = props.get("cluster") if same else body["cluster"]
        if "description" in body:
            seen["description"] = unmarked(body.get("description") or "")[0]
        vm_service = body.get("vm_service_spec")
        if isinstance(vm_service, dict):
            seen["vm_classes"] = sorted(vm_service.get("vm_classes") or [])
            library_ids = sorted(vm_service.get("content_libraries") or [])
            declared_ids = sorted((props.get("content_library_ids") or {}).values())
            seen["content_libraries"] = (
                props.get("content_libraries") if library_ids == declared_ids else library_ids
            )
        if isinstance(body.get("storage_specs"), list):
            names = {v: k for k, v in (props.get("storage_policy_ids") or {}).items()}
            seen["storage_specs"] = _sorted_storage(
                [
                    {"policy": names.get(s.get("policy"), s.get("policy")), "limit_mib": s.get("limit")}
                    for s in body["storage_specs"]
                ]
            )
        if isinstance(body.get("resource_spec"), dict):
            # vCenter reports every quota it knows, set or not: compare the declared ones.
            declared = props.get("resource_spec") or {}
            seen["resource_spec"] = {k: body["resource_spec"].get(k) for k in declared}
        if isinstance(body.get("access_list"), list):
            seen["access_list"] = _sorted_access(body["access_list"])
        return seen

    def _resolve(self, client: VcenterClient, props: Props, olds: Props | None) -> dict[str, Any]:
        """Ids for the names in `props`; on update only for the names that changed."""
        resolved: dict[str, Any] = {}
        if olds is None or olds.get("storage_specs") != props.get("storage_specs"):
            policies = [str(s["policy"]) for s in props.get("storage_specs") or []]
            with soap_inventory(endpoint_from_props(props)) as inventory:
                if olds is None:
                    resolved["cluster_id"] = inventory.cluster_id(str(props["cluster"]))
                resolved["storage_policy_ids"] = inventory.storage_policy_ids(policies)
        if olds is None or olds.get("content_libraries") != props.get("content_libraries"):
            resolved["content_library_ids"] = content_library_ids(
                client, props.get("content_libraries") or []
            )
        return resolved

    @staticmethod
    def _vm_service_spec(props: Props, resolved: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "vm_classes": list(props.get("vm_classes") or []),
            "content_libraries": sorted(resolved["content_library_ids"].values()),
        }

    @staticmethod
    def _storage_specs(props: Props, resolved: Mapping[str, Any]) -> list[dict[str, Any]]:
        ids = resolved["storage_policy_ids"]
        return [
            {"policy": ids[s["policy"]], "limit": as_int(s["limit_mib"])}
            for s in props.get("storage_specs") or []
        ]

    @staticmethod
    def _resource_spec(props: Props) -> dict[str, int]:
        return {k: as_int(v) for k, v in (props.get("resource_spec") or {}).items()}

    def _settle(self, client: VcenterClient, props: Props) -> dict[str, Any]:
        """Wait while the namespace is CONFIGURING; its body once it is not."""
        deadline = time.monotonic() + SETTLE_SECONDS
        delay = 1.0
        while True:
            body = self.fetch(client, props)
            if body is None:
                raise VcenterError(f"namespace {props['namespace']!r} vanished right after it was written")
            status = str(body.get("config_status") or "RUNNING")
            if status == "ERROR":
                messages = "; ".join(
                    str(m.get("default_message", m))
                    for m in body.get("messages") or body.get("message") or []
                )
                raise VcenterError(
                    f"namespace {props['namespace']!r} is in config_status ERROR: {messages or 'no message'}"
                )
            # Still CONFIGURING after the deadline: recorded as such rather than orphaned.
            if status != "CONFIGURING" or time.monotonic() > deadline:
                return body
            time.sleep(delay)
            delay = min(delay * 2, 15.0)

    def create_object(self, client: VcenterClient, props: Props) -> tuple[str, dict[str, Any]]:
        resolved = self._resolve(client, props, None)
        spec = {
            "description": marked(props.get("description") or "", props),
            "access_list": props.get("access_list") or [],
            "storage_specs": self._storage_specs(props, resolved),
            "resource_spec": self._resource_spec(props),
            "vm_service_spec": self._vm_service_spec(props, resolved),
        }
        adopted = self.post_new(
            client, props, {"cluster": resolved["cluster_id"], "namespace": props["namespace"], **spec}
        )
        if adopted is not None:
            # This stack's own create, never recorded: made to match the declaration.
            if adopted.get("cluster") not in (None, resolved["cluster_id"]):
                raise NotOwned(
                    f"Supervisor namespace {props['namespace']!r} carries this stack's marker but runs on "
                    f"cluster {adopted['cluster']!r}, not {props['cluster']!r} ({resolved['cluster_id']}): "
                    "delete it in vCenter and run again, or declare its cluster"
                )
            client.patch(self.path(props), spec)
        try:
            body = self._settle(client, props)
        except VcenterError:
            # Not recorded in state when create fails: do not leave it behind in vCenter.
            client.delete(self.path(props))
            raise
        outs = {**props, **resolved, "config_status": body.get("config_status") or ""}
        return str(props["namespace"]), {**outs, IGNORED_KEY: self.ignored(body, outs)}

    def update_object(self, client: VcenterClient, _id: str, olds: Props, news: Props) -> dict[str, Any]:
        changed = [k for k in self.update_keys if olds.get(k) != news.get(k)]
        kept = {
            k: olds.get(k)
            for k in ("cluster_id", "storage_policy_ids", "content_library_ids", "config_status", IGNORED_KEY)
        }
        resolved = {**kept, **self._resolve(client, news, olds)}
        # Always sent: vcsim replaces vm_service_spec with whatever a PATCH carries, and
        # for a real vCenter it is the declared value anyway.
        spec: dict[str, Any] = {"vm_service_spec": self._vm_service_spec(news, resolved)}
        if "description" in changed:
            spec["description"] = marked(news.get("description") or "", news)
        if "storage_specs" in changed:
            spec["storage_specs"] = self._storage_specs(news, resolved)
        if "resource_spec" in changed:
            spec["resource_spec"] = self._resource_spec(news)
        if "access_list" in changed:
            spec["access_list"] = news.get("access_list") or []
        client.patch(self.path(news), spec)
        body = self._settle(client, news)
        outs = {**news, **resolved, "config_status": body.get("config_status") or ""}
        return {**outs, IGNORED_KEY: self.ignored(body, outs)}

    def delete_object(self, client: VcenterClient, _id: str, props: Props) -> None:
        if not client.delete(self.path(props)):
            return
        # vCenter removes a namespace in the background (REMOVING); a replacement with the
        # same name can only be created once it is gone.
        deadline = time.monotonic() + SETTLE_SECONDS
        delay = 1.0
        while self.fetch(client, props) is not None:
            if time.monotonic() > deadline:
                raise VcenterError(
                    f"namespace {props['namespace']!r} is still being removed after {SETTLE_SECONDS:g}s"
                )
            time.sleep(delay)
            delay = min(delay * 2, 15.0)


@dataclass(frozen=True, kw_only=True)
class NamespaceInstanceArgs(ConnectedArgs[VcenterConnection]):
    """`storage_specs`: [{"policy": <storage policy name>, "limit_mib": n}]; `resource_spec`:
    vCenter quota keys (`cpu_limit` MHz, `memory_limit` MiB, `storage_request_limit` MiB,
    `pod_count`, ...); `access_list`: [{"subject", "domain", "subject_type" USER|GROUP, "role"
    OWNER|EDIT|VIEW}]; `vm_classes`: VM class ids to bind; `content_libraries`: content
    library names to bind."""

    outputs = ("cluster_id", "storage_policy_ids", "content_library_ids", "config_status", IGNORED_KEY)
    namespace: pulumi.Input[str]
    cluster: pulumi.Input[str]
    description: pulumi.Input[str] = ""
    storage_specs: Sequence[Mapping[str, Any]] = ()
    resource_spec: Mapping[str, pulumi.Input[int]] | None = None
    access_list: Sequence[Mapping[str, str]] = ()
    vm_classes: Sequence[pulumi.Input[str]] = ()
    content_libraries: Sequence[str] = ()

    def values(self) -> dict[str, Any]:
        return {
            **super().values(),
            "storage_specs": [dict(s) for s in self.storage_specs],
            "resource_spec": dict(self.resource_spec or {}),
            "access_list": [dict(a) for a in self.access_list],
            "vm_classes": list(self.vm_classes),
            "content_libraries": list(self.content_libraries),
        }


class NamespaceInstance(DynamicResource[NamespaceInstanceArgs], module="vsphere", name="SupervisorNamespace"):
    """A vSphere Namespace. The connection password must be a Pulumi secret; it stays one in state."""

    provider_class = SupervisorNamespaceProvider
    namespace: pulumi.Output[str]
    cluster_id: pulumi.Output[str]
    config_status: pulumi.Output[str]
    ignored_by_server: pulumi.Output[list[str]]
