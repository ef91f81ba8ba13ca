"""Monitoring content as code: recording and alerting rules and Grafana dashboards for the chat
backend and the GPUs, deployed by ClusterPlatform as a PrometheusRule and dashboard ConfigMaps.

Metric names are the ones the reference app exports (app/backend/metrics.py):
`http_request_duration_seconds{method,route,status}` (histogram),
`http_requests_total{method,route,status}` (status is the numeric code, e.g. "503"),
`http_requests_in_flight`; pod restarts come from kube-state-metrics
(`kube_pod_container_status_restarts_total`, part of kube-prometheus-stack); GPU metrics from
NVIDIA's DCGM exporter (`DCGM_FI_DEV_GPU_UTIL` in %, `DCGM_FI_DEV_FB_USED`/`_FREE` in MiB).

AiApp's own PrometheusRule already alerts on the P95 latency and the 5xx ratio; these rules
add the rest and do not repeat those two alerts. tests/unit/test_monitoring_rules.py runs
`promtool test rules` on every alert here and in AiApp: each fires on a bad synthetic series
and stays silent on a good one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from components.crds.monitoring import Rule, RuleGroup

DASHBOARD_LABEL = "grafana_dashboard"
"""The label Grafana's dashboard sidecar watches (kube-prometheus-stack default, value "1")."""
PROBE_ROUTES = "/healthz|/readyz|/metrics"
"""Routes the kubelet and Prometheus call: excluded from user-facing latency and error ratios."""


@dataclass(frozen=True)
class AppSlo:
    """Thresholds of the app's alerts (defaults suit a chat backend waiting on an LLM)."""

    p99_latency_seconds: float = 10.0
    ratio_4xx: float = 0.25
    in_flight: int = 50
    restarts_per_hour: int = 3
    gpu_utilisation_percent: float = 95.0
    gpu_framebuffer_ratio: float = 0.95


def _warning(alert: str, expr: str, summary: str, *, for_: str | None = None) -> Rule:
    """An alert of severity warning with a one-line summary."""
    return Rule(alert=alert, expr=expr, for_=for_, labels={"severity": "warning"}, annotations={"summary": summary})


def _app_selector(namespace: str, job: str) -> str:
    return f'namespace="{namespace}",job="{job}"'


def app_rule_groups(namespace: str, job: str, slo: AppSlo | None = None) -> list[RuleGroup]:
    """Recording rules (P50/P95/P99 latency, request rate, 4xx/5xx ratios, in-flight) and the
    alerts on them for the backend `job` in `namespace`."""
    slo = slo or AppSlo()
    sel = _app_selector(namespace, job)
    user = f'{sel},route!~"{PROBE_ROUTES}"'
    labels = {"namespace": namespace, "job": job}
    recording = [
        *(
            Rule(
                record=f"paif:http_request_duration_seconds:p{q}_5m",
                expr=(
                    f"histogram_quantile(0.{q}, sum by (le) "
                    f"(rate(http_request_duration_seconds_bucket{{{user}}}[5m])))"
                ),
                labels=labels,
            )
            for q in ("50", "95", "99")
        ),
        Rule(
            record="paif:http_requests:rate5m",
            expr=f"sum(rate(http_requests_total{{{user}}}[5m]))",
            labels=labels,
        ),
        *(
            Rule(
                record=f"paif:http_requests_{c}xx:ratio_rate5m",
                expr=(
                    f'sum(rate(http_requests_total{{{user},status=~"{c}.."}}[5m])) '
                    f"/ sum(rate(http_requests_total{{{user}}}[5m]))"
                ),
                labels=labels,
            )
            for c in ("4", "5")
        ),
        Rule(
            record="paif:http_requests_in_flight:sum",
            expr=f"sum(http_requests_in_flight{{{sel}}})",
            labels=labels,
        ),
    ]
    rec = f'namespace="{namespace}",job="{job}"'
    alerts = [
        _warning(
            "ChatBackendHighP99Latency",
            f"paif:http_request_duration_seconds:p99_5m{{{rec}}} > {slo.p99_latency_seconds:g}",
            f"P99 latency of {job} above {slo.p99_latency_seconds:g} s for 10 minutes",
            for_="10m",
        ),
        _warning(
            "ChatBackendHigh4xxRatio",
            f"paif:http_requests_4xx:ratio_rate5m{{{rec}}} > {slo.ratio_4xx:g}",
            f"More than {slo.ratio_4xx:.0%} of {job} answers are 4xx (client or auth errors)",
            for_="15m",
        ),
        _warning(
            "ChatBackendTooManyInFlight",
            f"paif:http_requests_in_flight:sum{{{rec}}} > {slo.in_flight}",
            f"{job} serves more than {slo.in_flight} concurrent requests",
            for_="10m",
        ),
        _warning(
            "ChatPodRestarting",
            (
                f'sum by (namespace, pod) (increase(kube_pod_container_status_restarts_total{{namespace="{namespace}"}}[1h])) '
                f"> {slo.restarts_per_hour}"
            ),
            f"A pod in {namespace} restarted more than {slo.restarts_per_hour} times in an hour",
        ),
    ]
    return [
        RuleGroup(name=f"{job}.recording", rules=recording),
        RuleGroup(name=f"{job}.alerts", rules=alerts),
    ]


def gpu_rule_groups(slo: AppSlo | None = None) -> list[RuleGroup]:
    """GPU utilisation and framebuffer memory per GPU (DCGM exporter metrics)."""
    slo = slo or AppSlo()
    by = "Hostname, gpu"
    recording = [
        Rule(
            record="paif:gpu_utilisation:avg5m",
            expr=f"avg by ({by}) (avg_over_time(DCGM_FI_DEV_GPU_UTIL[5m]))",
        ),
        Rule(
            record="paif:gpu_framebuffer_used:ratio",
            expr=f"sum by ({by}) (DCGM_FI_DEV_FB_USED) / sum by ({by}) (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)",
        ),
    ]
    alerts = [
        _warning(
            "GpuSaturated",
            f"paif:gpu_utilisation:avg5m > {slo.gpu_utilisation_percent:g}",
            "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} busy above "
                f"{slo.gpu_utilisation_percent:g}% for 30 minutes: add GPU nodes",
            for_="30m",
        ),
        _warning(
            "GpuFramebufferNearlyFull",
            f"paif:gpu_framebuffer_used:ratio > {slo.gpu_framebuffer_ratio:g}",
            "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} framebuffer above "
                f"{slo.gpu_framebuffer_ratio:.0%}",
            for_="15m",
        ),
    ]
    return [RuleGroup(name="gpu.recording", rules=recording), RuleGroup(name="gpu.alerts", rules=alerts)]


def _panel(panel_id: int, title: str, exprs: dict[str, str], unit: str, *, y: int, x: int) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + i), "expr": e, "legendFormat": legend}
            for i, (legend, e) in enumerate(exprs.items())
        ],
    }


def _dashboard(uid: str, title: str, panels: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "tags": ["paif"],
        "timezone": "utc",
        "schemaVersion": 39,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]},
        "panels": panels,
    }


def app_dashboard(namespace: str, job: str) -> dict[str, Any]:
    rec = f'{{namespace="{namespace}",job="{job}"}}'
    grid = [
        (
            "Latency",
            {f"P{q}": f"paif:http_request_duration_seconds:p{q}_5m{rec}" for q in ("50", "95", "99")},
            "s",
        ),
        ("Requests per second", {"requests": f"paif:http_requests:rate5m{rec}"}, "reqps"),
        (
            "Error ratios",
            {
                "4xx": f"paif:http_requests_4xx:ratio_rate5m{rec}",
                "5xx": f"paif:http_requests_5xx:ratio_rate5m{rec}",
            },
            "percentunit",
        ),
        (
            "In-flight requests (concurrent users)",
            {"in flight": f"paif:http_requests_in_flight:sum{rec}"},
            "short",
        ),
        (
            "Pod restarts (1h)",
            {
                "{{pod}}": f'sum by (pod) (increase(kube_pod_container_status_restarts_total{{namespace="{namespace}"}}[1h]))'
            },
            "short",
        ),
    ]
    panels = [_panel(i + 1, t, e, u, y=8 * (i // 2), x=12 * (i % 2)) for i, (t, e, u) in enumerate(grid)]
    return _dashboard(f"paif-{job}", f"PAIF chat backend ({namespace})", panels)


def gpu_dashboard() -> dict[str, Any]:
    legend = "{{Hostname}} GPU {{gpu}}"
    grid = [
        ("GPU utilisation", {legend: "paif:gpu_utilisation:avg5m"}, "percent"),
        ("Framebuffer used", {legend: "paif:gpu_framebuffer_used:ratio"}, "percentunit"),
        ("Framebuffer used (MiB)", {legend: "DCGM_FI_DEV_FB_USED"}, "decmbytes"),
        ("Temperature", {legend: "DCGM_FI_DEV_GPU_TEMP"}, "celsius"),
        ("Power", {legend: "DCGM_FI_DEV_POWER_USAGE"}, "watt"),
        ("vGPU licence (1 = licensed)", {legend: "DCGM_FI_DEV_VGPU_LICENSE_STATUS"}, "short"),
    ]
    panels = [_panel(i + 1, t, e, u, y=8 * (i // 2), x=12 * (i % 2)) for i, (t, e, u) in enumerate(grid)]
    return _dashboard("paif-gpu", "PAIF GPUs (DCGM)", panels)


def dashboard_configmap_data(name: str, dashboard: dict[str, Any]) -> dict[str, str]:
    """ConfigMap `data` the Grafana sidecar provisions: one `<name>.json` key."""
    return {f"{name}.json": json.dumps(dashboard, indent=1, sort_keys=True)}
