"""`kube_secret`: every Kubernetes Secret this project declares, its contents kept secret in
Pulumi's state and outputs (`data` and `stringData` are secret outputs, whatever the caller
marked secret)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

SECRET_OUTPUTS = ("data", "stringData")


def kube_secret(
    resource_name: str,
    *,
    metadata: Mapping[str, Any],
    string_data: pulumi.Input[Mapping[str, pulumi.Input[str]]],
    kind: str = "Opaque",
    opts: pulumi.ResourceOptions | None = None,
) -> k8s.core.v1.Secret:
    """A Secret holding `string_data`; `kind` is its `type` (Opaque, kubernetes.io/tls, ...)."""
    return k8s.core.v1.Secret(
        resource_name,
        metadata=dict(metadata),
        type=kind,
        string_data=string_data,
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=list(SECRET_OUTPUTS))
        ),
    )
