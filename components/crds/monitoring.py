"""Prometheus Operator CRs (`monitoring.coreos.com/v1`): ServiceMonitor and PrometheusRule.

Validated against prometheus-operator's own CRDs (extracted at setup from the Go module) by
tests/integration/test_vendor_crds.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

API_VERSION = "monitoring.coreos.com/v1"
SERVICE_MONITOR = "ServiceMonitor"
PROMETHEUS_RULE = "PrometheusRule"


@dataclass(frozen=True)
class Rule:
    """A recording rule (`record`) or an alerting rule (`alert`)."""

    expr: str
    record: str | None = None
    alert: str | None = None
    for_: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.record is None) == (self.alert is None):
            raise ValueError(f"rule {self.expr!r}: exactly one of record and alert")
        if self.record is not None and (self.for_ or self.annotations):
            raise ValueError(f"recording rule {self.record}: no for/annotations")

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"record": self.record} if self.record else {"alert": self.alert}
        spec["expr"] = self.expr
        if self.for_:
            spec["for"] = self.for_
        if self.labels:
            spec["labels"] = dict(self.labels)
        if self.annotations:
            spec["annotations"] = dict(self.annotations)
        return spec


@dataclass(frozen=True)
class RuleGroup:
    name: str
    rules: Sequence[Rule]
    interval: str | None = None

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"name": self.name, "rules": [r.to_spec() for r in self.rules]}
        if self.interval:
            spec["interval"] = self.interval
        return spec


def prometheus_rule_spec(groups: Sequence[RuleGroup]) -> dict[str, Any]:
    """`spec` of a PrometheusRule; the same `groups` list is a Prometheus rule file."""
    return {"groups": [g.to_spec() for g in groups]}


def service_monitor_spec(
    match_labels: Mapping[str, str],
    port: str,
    namespaces: Sequence[str],
    interval: str = "30s",
    path: str = "/metrics",
) -> dict[str, Any]:
    """Scrape the named Service `port` of Services labelled `match_labels` in `namespaces`."""
    return {
        "selector": {"matchLabels": dict(match_labels)},
        "namespaceSelector": {"matchNames": list(namespaces)},
        "endpoints": [{"port": port, "path": path, "interval": interval}],
    }
