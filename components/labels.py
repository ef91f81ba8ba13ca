"""The labels of the Kubernetes objects this project declares: every object says it is part
of PAIF and managed by Pulumi; a workload's pods are selected by its name and component."""

from __future__ import annotations

from collections.abc import Mapping

PAIF_LABELS: Mapping[str, str] = {"app.kubernetes.io/part-of": "paif", "app.kubernetes.io/managed-by": "pulumi"}
"""Read-only (a copy goes into each object's metadata)."""


def selector(name: str, component: str) -> dict[str, str]:
    """The labels that select the pods of `component` of workload `name`."""
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/component": component}


def workload_labels(name: str, component: str) -> dict[str, str]:
    """A workload object's labels: its selector and the PAIF labels."""
    return {**selector(name, component), **PAIF_LABELS}
