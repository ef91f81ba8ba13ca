"""Availability (prod): replicas, disruption budgets, spreading, autoscaling, database HA.

The stack rules are order-independent: they look at the whole stack, so a PDB or HPA
declared after its Deployment (or in another component) counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from policy.rules.common import (
    Context,
    Res,
    ResourceRule,
    Rule,
    StackRule,
    Violation,
    as_number,
    describe,
    get,
    is_unknown,
    k8s_kind,
    object_name,
    pod_template,
    same_namespace,
    selector_matches,
    show,
)

POSTGRES_CLUSTER = "kubernetes:databases.dataservices.vmware.com/v1alpha1:PostgresCluster"
MIN_REPLICAS_SCHEMA = {
    "type": "integer",
    "minimum": 1,
    "default": 2,
    "description": "fewest replicas allowed",
}


def _replicas(deployment: Res) -> float | None:
    """spec.replicas (Kubernetes defaults it to 1); None when unknown."""
    value = get(deployment.props, "spec", "replicas")
    if is_unknown(value):
        return None
    return 1 if value is None else as_number(value)


def _declared_replicas(deployment: Res) -> Any:
    """spec.replicas as the program declared it: None when omitted. From the inputs when a
    stack rule has them (an API server's dry run fills in its default 1)."""
    return get(deployment.inputs if deployment.inputs is not None else deployment.props, "spec", "replicas")


REPLICATED = frozenset({"Deployment", "StatefulSet"})
"""The workloads that run a replica count of interchangeable pods: the replica, disruption and
spreading rules cover both (a single-replica StatefulSet is as fragile as a Deployment)."""


def _deployments(resources: Sequence[Res]) -> list[Res]:
    return [r for r in resources if k8s_kind(r.type) == "Deployment"]


def _replicated(resources: Sequence[Res]) -> list[Res]:
    return [r for r in resources if k8s_kind(r.type) in REPLICATED]


def _hpas(resources: Sequence[Res]) -> list[Res]:
    return [r for r in resources if k8s_kind(r.type) == "HorizontalPodAutoscaler"]


def _floor(deployment: Res, hpas: Sequence[Res]) -> float | None:
    """The fewest replicas a Deployment runs: spec.replicas, or, when it leaves replicas to an
    HPA, that HPA's minReplicas (1 by default); None when unknown."""
    declared = _declared_replicas(deployment)
    if is_unknown(declared):
        return None
    if declared is not None:
        return as_number(declared)
    owners = [h for h in hpas if _targets(h, deployment) is True]
    if not owners:
        return 1
    floors = [get(h.props, "spec", "minReplicas") for h in owners]
    if any(is_unknown(f) for f in floors):
        return None
    numbers = [1.0 if f is None else as_number(f) for f in floors]
    return min(n for n in numbers if n is not None) if all(n is not None for n in numbers) else None


def check_min_replicas(resources: Sequence[Res], ctx: Context) -> list[Violation]:
    """A Deployment without spec.replicas that an HPA scales has the HPA's count, not the API
    default of 1: declaring both makes two owners of the field, so the HPA's floor is checked
    instead (hpa-min-replicas)."""
    minimum, hpas = ctx.integer("minReplicas"), _hpas(resources)
    violations = []
    for deployment in _replicated(resources):
        declared = _declared_replicas(deployment)
        if is_unknown(declared):
            continue
        if declared is None and any(_targets(h, deployment) is not False for h in hpas):
            continue
        replicas = 1 if declared is None else as_number(declared)
        if replicas is not None and replicas < minimum:
            violations.append(
                Violation(
                    f"{describe(deployment)} runs {replicas:g} replica(s): set spec.replicas to at least "
                    f"{minimum} or scale it with an HPA",
                    deployment.urn,
                )
            )
    return violations


MIN_REPLICAS = StackRule(
    name="deployment-min-replicas",
    description="Deployments and StatefulSets run enough replicas to survive losing one (declared, or an "
    "HPA's floor).",
    check=check_min_replicas,
    config={"minReplicas": MIN_REPLICAS_SCHEMA},
    prod_only=True,
)


def _selects(pdb: Res, deployment: Res) -> bool | None:
    template = pod_template(deployment)
    if template is None:
        return None
    if not same_namespace(pdb, deployment):
        return False
    return selector_matches(get(pdb.props, "spec", "selector"), template.labels)


def check_pdb_present(resources: Sequence[Res], _ctx: Context) -> list[Violation]:
    pdbs = [r for r in resources if k8s_kind(r.type) == "PodDisruptionBudget"]
    return [
        Violation(
            f"{describe(d)} has no PodDisruptionBudget: declare one whose selector matches its pod labels",
            d.urn,
        )
        for d in _replicated(resources)
        if pod_template(d) is not None and not any(_selects(p, d) is not False for p in pdbs)
    ]


PDB_PRESENT = StackRule(
    name="deployment-has-pdb",
    description="Every Deployment and StatefulSet has a PodDisruptionBudget in the same stack that selects "
    "its pods.",
    check=check_pdb_present,
    prod_only=True,
)


def _blocks_all(value: Any, replicas: list[float]) -> bool:
    if isinstance(value, str) and value.strip() == "100%":
        return True
    number = as_number(value)
    return number is not None and bool(replicas) and all(number >= r for r in replicas)


def check_pdb_disruption(resources: Sequence[Res], _ctx: Context) -> list[Violation]:
    violations = []
    deployments, hpas = _replicated(resources), _hpas(resources)
    for pdb in (r for r in resources if k8s_kind(r.type) == "PodDisruptionBudget"):
        spec = pdb.props.get("spec")
        max_unavailable, min_available = get(spec, "maxUnavailable"), get(spec, "minAvailable")
        if max_unavailable in (0, "0", "0%"):
            violations.append(
                Violation(
                    f"{describe(pdb)} sets maxUnavailable {show(max_unavailable)}, which blocks every "
                    "drain: allow at least 1",
                    pdb.urn,
                )
            )
            continue
        selected = [d for d in deployments if _selects(pdb, d) is True]
        replicas = [n for n in (_floor(d, hpas) for d in selected) if n is not None]
        if not is_unknown(min_available) and _blocks_all(min_available, replicas):
            violations.append(
                Violation(
                    f"{describe(pdb)} sets minAvailable {show(min_available)}, as many as its pods: no node "
                    "can be drained; use maxUnavailable 1 or a lower minAvailable",
                    pdb.urn,
                )
            )
    return violations


PDB_ALLOWS_DISRUPTION = StackRule(
    name="pdb-allows-disruption",
    description="PodDisruptionBudgets leave room for voluntary disruption (node drains).",
    check=check_pdb_disruption,
    prod_only=True,
)


def check_spread(resource: Res, _ctx: Context) -> list[str]:
    if k8s_kind(resource.type) not in REPLICATED:
        return []
    replicas, template = _replicas(resource), pod_template(resource)
    if replicas is None or replicas < 2 or template is None:
        return []
    affinity = get(template.spec, "affinity", "podAntiAffinity")
    spread = template.spec.get("topologySpreadConstraints")
    if is_unknown(affinity) or is_unknown(spread) or affinity or spread:
        return []
    return [
        f"{describe(resource)} runs {replicas:g} replicas with nothing spreading them: add podAntiAffinity "
        "or topologySpreadConstraints on kubernetes.io/hostname"
    ]


SPREAD = ResourceRule(
    name="multi-replica-spread",
    description="Multi-replica Deployments and StatefulSets spread their pods across nodes (anti-affinity or "
    "topology spread).",
    check=check_spread,
    prod_only=True,
)


def check_hpa_spread(resources: Sequence[Res], _ctx: Context) -> list[Violation]:
    """multi-replica-spread for the Deployments that leave spec.replicas to HPAs: one an HPA may
    scale to two replicas or more (its maxReplicas) spreads them too."""
    hpas, violations = _hpas(resources), []
    for deployment in _replicated(resources):
        template = pod_template(deployment)
        owners = [h for h in hpas if _targets(h, deployment) is True]
        if template is None or not owners or _declared_replicas(deployment) is not None:
            continue
        ceilings = [(n, h) for h in owners if (n := as_number(get(h.props, "spec", "maxReplicas"))) is not None]
        if len(ceilings) < len(owners):
            continue
        replicas, owner = max(ceilings, key=lambda pair: pair[0])
        affinity = get(template.spec, "affinity", "podAntiAffinity")
        spread = template.spec.get("topologySpreadConstraints")
        if replicas < 2 or is_unknown(affinity) or is_unknown(spread) or affinity or spread:
            continue
        violations.append(
            Violation(
                f"{describe(deployment)} may run {replicas:g} replicas ({describe(owner)}) with nothing spreading "
                "them: add podAntiAffinity or topologySpreadConstraints on kubernetes.io/hostname",
                deployment.urn,
            )
        )
    return violations


HPA_SPREAD = StackRule(
    name="hpa-scaled-spread",
    description="Deployments and StatefulSets an HPA may scale to two replicas or more spread their pods "
    "across nodes (multi-replica-spread covers spec.replicas).",
    check=check_hpa_spread,
    prod_only=True,
)


def _targets(hpa: Res, deployment: Res) -> bool | None:
    target = get(hpa.props, "spec", "scaleTargetRef")
    kind, name = get(target, "kind"), get(target, "name")
    deployment_name = get(deployment.props, "metadata", "name")
    if any(is_unknown(v) for v in (kind, name, deployment_name)):
        return None
    return kind == k8s_kind(deployment.type) and name == deployment_name and same_namespace(hpa, deployment)


def check_hpa(resources: Sequence[Res], ctx: Context) -> list[Violation]:
    minimum = ctx.integer("minReplicas")
    hpas = _hpas(resources)
    violations = []
    for deployment in _deployments(resources):
        matching = [h for h in hpas if _targets(h, deployment) is not False]
        if not matching:
            violations.append(
                Violation(
                    f"{describe(deployment)} has no HorizontalPodAutoscaler: declare one targeting it "
                    f"with minReplicas >= {minimum}",
                    deployment.urn,
                )
            )
            continue
        for hpa in matching:
            value = get(hpa.props, "spec", "minReplicas")
            floor = 1 if value is None else as_number(value)
            if not is_unknown(value) and floor is not None and floor < minimum:
                violations.append(
                    Violation(
                        f"{describe(hpa)} scales {object_name(deployment)} down to {floor:g}: "
                        f"set minReplicas to at least {minimum}",
                        hpa.urn,
                    )
                )
    return violations


HPA = StackRule(
    name="hpa-min-replicas",
    description="Every Deployment is autoscaled by an HPA that keeps at least the minimum replicas.",
    check=check_hpa,
    config={"minReplicas": MIN_REPLICAS_SCHEMA},
    prod_only=True,
)


def check_dsm_ha(resource: Res, ctx: Context) -> list[str]:
    if resource.type != POSTGRES_CLUSTER:
        return []
    spec = resource.props.get("spec")
    problems = []
    standbys, minimum = get(spec, "replicas"), ctx.integer("minStandbys")
    count = 0 if standbys is None else as_number(standbys)
    if not is_unknown(standbys) and count is not None and count < minimum:
        problems.append(
            f"{describe(resource)} has {count:g} standby(s): set spec.replicas to {minimum} for HA "
            "(primary, replica and monitor)"
        )
    if ctx.flag("requireBackups"):
        location, schedules = get(spec, "backupLocation", "name"), get(spec, "backupConfig", "schedules")
        if not is_unknown(location) and not location:
            problems.append(f"{describe(resource)} has no backup location: set spec.backupLocation.name")
        if not is_unknown(schedules) and not schedules:
            problems.append(f"{describe(resource)} has no backup schedule: add spec.backupConfig.schedules")
    return problems


DSM_HA = ResourceRule(
    name="dsm-cluster-ha-backups",
    description="DSM PostgreSQL clusters are highly available and backed up on a schedule.",
    check=check_dsm_ha,
    config={
        "minStandbys": {
            "type": "integer",
            "minimum": 0,
            "default": 1,
            "description": "fewest standbys (spec.replicas)",
        },
        "requireBackups": {
            "type": "boolean",
            "default": True,
            "description": "require a backup location and schedule",
        },
    },
    prod_only=True,
)

RULES: list[Rule] = [MIN_REPLICAS, PDB_PRESENT, PDB_ALLOWS_DISRUPTION, SPREAD, HPA_SPREAD, HPA, DSM_HA]
