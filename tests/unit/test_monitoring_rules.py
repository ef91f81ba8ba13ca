"""`promtool test rules` on every alert the prod program declares (AiApp's PrometheusRule and
ClusterPlatform's): each fires on a bad synthetic series and stays silent on healthy ones.

The rules are taken from the program as rendered under mocks, so what is tested is what is
deployed. An alert without a scenario here fails the suite, and so does a scenario whose alert
cannot fire (checked by breaking one threshold on purpose).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.harness import ROOT
from tests.unit.test_program import declared

PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
APP = {"namespace": "paif-chat", "job": "chat-backend"}
GPU = {"Hostname": "gpu-node-1", "gpu": "0", "UUID": "GPU-0f1e2d3c"}
STEPS = "x60"
EVAL = "50m"
BUCKETS = ("0.1", "1", "2.5", "10", "30", "+Inf")


def _labels(labels: Mapping[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _counter(name: str, labels: Mapping[str, str], per_minute: float) -> dict[str, str]:
    return {"series": f"{name}{_labels(labels)}", "values": f"0+{per_minute:g}{STEPS}"}


def _gauge(name: str, labels: Mapping[str, str], value: float) -> dict[str, str]:
    return {"series": f"{name}{_labels(labels)}", "values": f"{value:g}+0{STEPS}"}


def _requests(statuses: Mapping[str, float], slow: bool = False) -> list[dict[str, str]]:
    """Chat requests per minute by status, all fast (< 0.1 s) or all slow (10-30 s), plus probes."""
    series = []
    total = sum(statuses.values())
    for status, rate in statuses.items():
        series.append(
            _counter(
                "http_requests_total", {**APP, "method": "POST", "route": "/api/chat", "status": status}, rate
            )
        )
    for le in BUCKETS:
        in_bucket = total if not slow or le in ("30", "+Inf") else 0
        labels = {**APP, "method": "POST", "route": "/api/chat", "status": "200", "le": le}
        series.append(_counter("http_request_duration_seconds_bucket", labels, in_bucket))
    # Probes answer fast and never count as user traffic.
    series.append(
        _counter("http_requests_total", {**APP, "method": "GET", "route": "/healthz", "status": "200"}, 12)
    )
    return series


def _gpu(util: float, used: float, free: float) -> list[dict[str, str]]:
    return [
        _gauge("DCGM_FI_DEV_GPU_UTIL", GPU, util),
        _gauge("DCGM_FI_DEV_FB_USED", GPU, used),
        _gauge("DCGM_FI_DEV_FB_FREE", GPU, free),
    ]


POD = {"namespace": "paif-chat", "pod": "chat-backend-7d9f-abcde", "container": "backend"}
HEALTHY: list[dict[str, str]] = [
    *_requests({"200": 100, "401": 1, "503": 1}),
    _gauge("http_requests_in_flight", {**APP, "pod": "chat-backend-7d9f-abcde"}, 4),
    _gauge("kube_pod_container_status_restarts_total", POD, 1),
    *_gpu(util=60, used=12000, free=28000),
]
APP_ALERT_LABELS = {"namespace": "paif-chat", "job": "chat-backend"}
GPU_ALERT_LABELS = {"Hostname": "gpu-node-1", "gpu": "0"}
# alert -> (bad input series, the labels it fires with besides the rule's own)
SCENARIOS: dict[str, tuple[list[dict[str, str]], dict[str, str]]] = {
    "ChatBackendHighP95Latency": (_requests({"200": 100}, slow=True), {}),
    "ChatBackendHighP99Latency": (_requests({"200": 100}, slow=True), APP_ALERT_LABELS),
    "ChatBackendHigh5xxRate": (_requests({"200": 50, "503": 50}), {}),
    "ChatBackendHigh4xxRatio": (_requests({"200": 50, "401": 50}), APP_ALERT_LABELS),
    "ChatBackendTooManyInFlight": (
        [_gauge("http_requests_in_flight", {**APP, "pod": p}, 40) for p in ("a", "b")],
        APP_ALERT_LABELS,
    ),
    "ChatPodRestarting": (
        [_counter("kube_pod_container_status_restarts_total", POD, 0.5)],
        {"namespace": POD["namespace"], "pod": POD["pod"]},
    ),
    "GpuSaturated": (_gpu(util=99, used=12000, free=28000), GPU_ALERT_LABELS),
    "GpuFramebufferNearlyFull": (_gpu(util=60, used=39000, free=1000), GPU_ALERT_LABELS),
}


def promtool() -> Path:
    found = shutil.which("promtool") or str(ROOT / ".tools" / "bin" / "promtool")
    path = Path(found)
    assert path.exists(), (
        "promtool is not installed: run `make setup` (toolchain/setup-platform.sh builds it)"
    )
    return path


def rule_groups() -> list[dict[str, Any]]:
    """Every rule group of every PrometheusRule the prod program declares."""
    rules = declared("prod").of_type(PROMETHEUS_RULE)
    assert rules, "prod declares no PrometheusRule"
    return [group for rule in rules for group in rule.props["spec"]["groups"]]


def alerts(groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}


def _expanded(template: str, labels: Mapping[str, str]) -> str:
    return re.sub(r"\{\{\s*\$labels\.(\w+)\s*\}\}", lambda m: labels.get(m[1], ""), template)


def _expected(rule: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    all_labels = {**labels, **rule.get("labels", {})}
    annotations = {k: _expanded(v, all_labels) for k, v in rule.get("annotations", {}).items()}
    return {"exp_labels": all_labels, "exp_annotations": annotations}


def run_promtool(tmp_path: Path, groups: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    by_name = alerts(groups)
    tests: list[dict[str, Any]] = [
        {
            "name": "healthy: every alert stays silent",
            "interval": "1m",
            "input_series": HEALTHY,
            "alert_rule_test": [
                {"eval_time": EVAL, "alertname": name, "exp_alerts": []} for name in sorted(by_name)
            ],
        }
    ]
    for name, (series, labels) in SCENARIOS.items():
        tests.append(
            {
                "name": f"{name} fires on its bad series",
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": EVAL, "alertname": name, "exp_alerts": [_expected(by_name[name], labels)]}
                ],
            }
        )
    test_file = tmp_path / "rules_test.yaml"
    test_file.write_text(yaml.safe_dump({"rule_files": [rules_file.name], "tests": tests}, sort_keys=False))
    return subprocess.run(
        [str(promtool()), "test", "rules", test_file.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_alert_has_a_scenario() -> None:
    assert set(alerts(rule_groups())) == set(SCENARIOS)


def test_the_rule_files_are_valid_for_prometheus(tmp_path: Path) -> None:
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump({"groups": rule_groups()}))
    result = subprocess.run(
        [str(promtool()), "check", "rules", str(rules_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_alert_fires_on_its_bad_series_and_stays_silent_on_the_healthy_ones(tmp_path: Path) -> None:
    result = run_promtool(tmp_path, rule_groups())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


@pytest.mark.parametrize("alert", ["ChatBackendHighP99Latency", "GpuSaturated", "ChatBackendHighP95Latency"])
def test_an_alert_that_cannot_fire_fails(tmp_path: Path, alert: str) -> None:
    groups = rule_groups()
    for group in groups:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                rule["expr"] = re.sub(r">\s*[0-9.e+]+\s*$", "> 1e12", rule["expr"].strip())
    result = run_promtool(tmp_path, groups)
    assert result.returncode != 0, f"{alert} with an impossible threshold still passed"
    assert alert in result.stdout + result.stderr


def test_promtool_is_the_pinned_release() -> None:
    """versions.env's PROMETHEUS_VERSION v0.3XX.Y is Prometheus 3.XX.Y (the module's version scheme)."""
    pins = dict(
        line.split("=", 1)
        for line in (ROOT / "toolchain" / "versions.env").read_text().splitlines()
        if "=" in line
    )
    match = re.fullmatch(r"v0\.3(\d\d)\.(\d+)", pins["PROMETHEUS_VERSION"].strip())
    assert match, pins["PROMETHEUS_VERSION"]
    release = f"3.{int(match[1])}.{match[2]}"
    result = subprocess.run(
        [str(promtool()), "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    assert f"promtool, version {release} " in result.stdout + result.stderr
