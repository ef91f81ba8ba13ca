"""The resource types that hold data: replacing or deleting one loses it.

One list, used by the pull-request gate's data-loss guard (`policy/gate.py`) and the policy
pack's `protect-stateful-resources` (which accepts an object unprotected only when the
stack's `paif:protection.release` names it). Each entry is a Pulumi type token (as it appears in a
URN and in engine events) and the name a person knows it by; a PostgreSQL role counts only
when it owns data (the NOLOGIN owner role of `PostgresAppDatabase`, which owns the database
and the schema; the app's login role owns nothing and can be recreated).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.crds import cluster, postgres_cluster


@dataclass(frozen=True)
class StatefulType:
    token: str
    """The Pulumi type token, e.g. `pulumi-python:dynamic/postgres:Database`."""
    human: str
    """What it is called in messages, e.g. `PostgreSQL database`."""
    release: str
    """The name that lifts its protection for one run (`paif:protection.release`,
    infra/config/protection.py)."""


def _k8s(api_version: str, kind: str) -> str:
    return f"kubernetes:{api_version}:{kind}"


POSTGRES_ROLE = "pulumi-python:dynamic/postgres:Role"

STATEFUL_TYPES: tuple[StatefulType, ...] = (
    StatefulType("pulumi-python:dynamic/postgres:Database", "PostgreSQL database", "database"),
    StatefulType("pulumi-python:dynamic/postgres:Schema", "PostgreSQL schema", "database"),
    StatefulType(POSTGRES_ROLE, "PostgreSQL role that owns data", "database"),
    StatefulType(
        _k8s(postgres_cluster.API_VERSION, postgres_cluster.KIND),
        "DSM PostgresCluster (database server)",
        "postgresCluster",
    ),
    StatefulType(_k8s("core/v1", "PersistentVolumeClaim"), "PersistentVolumeClaim (volume)", "uploadsVolume"),
    StatefulType("pulumi-python:dynamic/vsphere:SupervisorNamespace", "Supervisor namespace", "supervisorNamespace"),
    StatefulType(_k8s(cluster.API_VERSION, cluster.KIND), "VKS cluster", "vksCluster"),
    StatefulType("pulumi-python:dynamic/harbor:Project", "Harbor project (its images)", "harborProject"),
)

BY_TOKEN: Mapping[str, StatefulType] = {t.token: t for t in STATEFUL_TYPES}


def stateful_type(token: str, inputs: Mapping[str, Any] | None = None) -> StatefulType | None:
    """The entry for a resource of type `token` with these (old) inputs, None when replacing
    or deleting it loses no data. A role without known inputs counts as owning data."""
    entry = BY_TOKEN.get(token)
    if entry is None:
        return None
    if token == POSTGRES_ROLE and inputs is not None and inputs.get("login") is True:
        return None
    return entry
