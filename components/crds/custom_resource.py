"""Base of our typed custom resources: registered through the kubernetes provider, with `status`.

`pulumi_kubernetes.apiextensions.CustomResource` only resolves the properties it sends
(`apiVersion`, `kind`, `metadata`, `spec`); the Pulumi SDK creates outputs for input keys
only, so a CR whose controller publishes results in `status` (a VM's IP address) must send
`status` as an (empty) input to read it back. The type token is the one the generic class
uses, `kubernetes:<apiVersion>:<kind>`, so the provider and the policy pack treat both alike.
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol

import pulumi

from components.names import DNS_LABEL

SKIP_AWAIT = "pulumi.com/skipAwait"
WAIT_FOR = "pulumi.com/waitFor"
TIMEOUT_SECONDS = "pulumi.com/timeoutSeconds"


def require_dns_label(value: str, what: str) -> str:
    """`value` if it is a DNS label (what Kubernetes and VM Service require of names)."""
    if not DNS_LABEL.match(value):
        raise ValueError(
            f"{what} {value!r}: must be a DNS label (lower-case letters, digits, '-'; 1-63 characters)"
        )
    return value


def await_annotations(wait_for: Sequence[str] | None, timeout_seconds: int) -> dict[str, str]:
    """How the kubernetes provider waits for a CR after create/update.

    `wait_for` holds `condition=<Type>` / `jsonpath={...}[=value]` expressions, all of
    which must hold; None means do not wait at all (an API server without the controller
    never reports the CR ready).
    """
    if wait_for is None:
        return {SKIP_AWAIT: "true"}
    if not wait_for:
        raise ValueError("wait_for needs at least one expression, or None to skip waiting")
    value = wait_for[0] if len(wait_for) == 1 else json.dumps(list(wait_for))
    return {WAIT_FOR: value, TIMEOUT_SECONDS: str(timeout_seconds)}


class TypedCustomResource(pulumi.CustomResource):
    """A namespaced custom resource whose `spec` a typed helper rendered."""

    metadata: pulumi.Output[dict[str, Any]]
    spec: pulumi.Output[dict[str, Any]]
    status: pulumi.Output[dict[str, Any] | None]

    def __init__(
        self,
        resource_name: str,
        *,
        api_version: str,
        kind: str,
        name: str,
        namespace: pulumi.Input[str],
        spec: Mapping[str, Any],
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        metadata: dict[str, Any] = {"name": name, "namespace": namespace}
        if labels:
            metadata["labels"] = dict(labels)
        if annotations:
            metadata["annotations"] = dict(annotations)
        props = {
            "apiVersion": api_version,
            "kind": kind,
            "metadata": metadata,
            "spec": dict(spec),
            "status": None,
        }
        version = importlib.metadata.version("pulumi_kubernetes")
        super().__init__(
            f"kubernetes:{api_version}:{kind}",
            resource_name,
            props,
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(version=version)),
        )


class Spec(Protocol):
    """A typed spec helper: renders the CR's `spec` (every helper's one verb is `to_spec`)."""

    def to_spec(self) -> dict[str, Any]: ...


class SpecResource(TypedCustomResource):
    """A custom resource of one kind, declared from a typed spec: a subclass names its
    `api_version`, `kind` and, when the name must be a DNS label, what to call it in errors."""

    api_version: ClassVar[str]
    kind: ClassVar[str]
    name_is_dns_label: ClassVar[str | None] = None

    def __init__(
        self,
        resource_name: str,
        *,
        name: str,
        namespace: pulumi.Input[str],
        spec: Spec,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        if self.name_is_dns_label is not None:
            require_dns_label(name, self.name_is_dns_label)
        super().__init__(
            resource_name,
            api_version=self.api_version,
            kind=self.kind,
            name=name,
            namespace=namespace,
            spec=spec.to_spec(),
            labels=labels,
            annotations=annotations,
            opts=opts,
        )
