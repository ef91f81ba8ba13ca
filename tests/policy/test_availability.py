"""Availability rules (prod): replicas, PDBs, spreading, HPAs, DSM HA and backups."""

from __future__ import annotations

from typing import Any

import pytest

from policy.rules.availability import (
    DSM_HA,
    HPA,
    HPA_SPREAD,
    MIN_REPLICAS,
    PDB_ALLOWS_DISRUPTION,
    PDB_PRESENT,
    POSTGRES_CLUSTER,
    SPREAD,
)
from policy.rules.common import UNKNOWN, Res
from tests.policy.builders import changed, deployment, hpa, pdb, res, stateful_set


def replicas_messages(*resources: Any, config: dict[str, Any] | None = None) -> list[str]:
    return [v.message for v in MIN_REPLICAS.evaluate(list(resources), config)]


class TestMinReplicas:
    def test_two_replicas_pass(self) -> None:
        assert MIN_REPLICAS.evaluate([deployment(replicas=2)]) == []

    def test_one_replica_fails(self) -> None:
        workload = deployment(replicas=1)
        assert [(v.urn, v.message) for v in MIN_REPLICAS.evaluate([workload])] == [
            (
                workload.urn,
                "Deployment 'paif-chat/chat-backend' runs 1 replica(s): set spec.replicas to at least 2 "
                "or scale it with an HPA",
            )
        ]

    def test_missing_replicas_means_one(self) -> None:
        assert len(replicas_messages(deployment(replicas=None))) == 1

    def test_missing_replicas_under_an_hpa_are_the_hpas(self) -> None:
        """The HPA alone owns spec.replicas; its floor is hpa-min-replicas' business."""
        assert replicas_messages(deployment(replicas=None), hpa()) == []
        assert replicas_messages(hpa(), deployment(replicas=None)) == []

    def test_an_hpa_for_another_deployment_does_not_count(self) -> None:
        assert len(replicas_messages(deployment(replicas=None), hpa(target="other"))) == 1

    def test_declared_replicas_are_checked_even_under_an_hpa(self) -> None:
        assert len(replicas_messages(deployment(replicas=1), hpa())) == 1

    def test_minimum_is_configurable(self) -> None:
        assert len(replicas_messages(deployment(replicas=2), config={"minReplicas": 3})) == 1

    def test_unknown_replicas_are_not_a_violation(self) -> None:
        assert MIN_REPLICAS.evaluate([deployment(replicas=UNKNOWN)]) == []


class TestPdbPresent:
    def test_pdb_declared_after_the_deployment_counts(self) -> None:
        assert PDB_PRESENT.evaluate([deployment(), pdb()]) == []
        assert PDB_PRESENT.evaluate([pdb(), deployment()]) == []

    def test_deployment_without_pdb_fails(self) -> None:
        workload = deployment()
        violations = PDB_PRESENT.evaluate([workload])
        assert [(v.urn, v.message) for v in violations] == [
            (
                workload.urn,
                "Deployment 'paif-chat/chat-backend' has no PodDisruptionBudget: declare one whose selector "
                "matches its pod labels",
            )
        ]

    def test_pdb_selecting_other_pods_fails(self) -> None:
        other = pdb(labels={"app.kubernetes.io/name": "other"})
        assert len(PDB_PRESENT.evaluate([deployment(), other])) == 1

    def test_pdb_in_another_namespace_fails(self) -> None:
        elsewhere = res(pdb().type, changed(dict(pdb().props), "metadata.namespace", "other"), name="p")
        assert len(PDB_PRESENT.evaluate([deployment(), elsewhere])) == 1

    def test_unknown_pdb_selector_counts_as_selecting(self) -> None:
        unknown = res(pdb().type, changed(dict(pdb().props), "spec.selector", UNKNOWN), name="p")
        assert PDB_PRESENT.evaluate([deployment(), unknown]) == []


class TestPdbAllowsDisruption:
    def test_max_unavailable_one_passes(self) -> None:
        assert PDB_ALLOWS_DISRUPTION.evaluate([deployment(replicas=3), pdb(maxUnavailable=1)]) == []

    def test_min_available_below_replicas_passes(self) -> None:
        assert PDB_ALLOWS_DISRUPTION.evaluate([deployment(replicas=3), pdb(minAvailable=2)]) == []

    @pytest.mark.parametrize(
        "spec",
        [{"maxUnavailable": 0}, {"maxUnavailable": "0%"}, {"minAvailable": "100%"}, {"minAvailable": 3}],
    )
    def test_budgets_that_block_every_drain_fail(self, spec: dict[str, Any]) -> None:
        budget = pdb(**spec)
        [violation] = PDB_ALLOWS_DISRUPTION.evaluate([deployment(replicas=3), budget])
        assert violation.urn == budget.urn
        assert "drain" in violation.message

    def test_unknown_min_available_is_not_a_violation(self) -> None:
        assert PDB_ALLOWS_DISRUPTION.evaluate([deployment(replicas=3), pdb(minAvailable=UNKNOWN)]) == []


class TestSpread:
    def test_anti_affinity_passes(self) -> None:
        assert SPREAD.evaluate(deployment(replicas=3)) == []

    def test_topology_spread_passes(self) -> None:
        props = changed(deployment().props, "spec.template.spec.affinity", None)
        props = changed(props, "spec.template.spec.topologySpreadConstraints", [{"maxSkew": 1}])
        assert SPREAD.evaluate(res("kubernetes:apps/v1:Deployment", props)) == []

    def test_single_replica_needs_no_spreading(self) -> None:
        props = changed(deployment(replicas=1).props, "spec.template.spec.affinity", None)
        assert SPREAD.evaluate(res("kubernetes:apps/v1:Deployment", props)) == []

    def test_multi_replica_without_spreading_fails(self) -> None:
        props = changed(deployment(replicas=3).props, "spec.template.spec.affinity", None)
        assert SPREAD.evaluate(res("kubernetes:apps/v1:Deployment", props, name="d")) == [
            "Deployment 'paif-chat/chat-backend' runs 3 replicas with nothing spreading them: add podAntiAffinity "
            "or topologySpreadConstraints on kubernetes.io/hostname"
        ]


class TestHpaSpread:
    @staticmethod
    def unspread(name: str = "d") -> Res:
        props = changed(deployment().props, "spec.template.spec.affinity", None)
        return res("kubernetes:apps/v1:Deployment", changed(props, "spec.replicas", None), name=name)

    def test_replicas_an_hpa_may_scale_to_need_spreading(self) -> None:
        unspread = self.unspread()
        [violation] = HPA_SPREAD.evaluate([unspread, hpa(min_replicas=1, max_replicas=4)])
        assert violation.urn == unspread.urn
        assert violation.message.startswith(
            "Deployment 'paif-chat/chat-backend' may run 4 replicas (HorizontalPodAutoscaler"
        )

    def test_an_hpa_that_stays_at_one_replica_or_a_spread_deployment_passes(self) -> None:
        assert HPA_SPREAD.evaluate([self.unspread(), hpa(min_replicas=1, max_replicas=1)]) == []
        assert HPA_SPREAD.evaluate([changed_replicas_none(deployment()), hpa(max_replicas=6)]) == []

    def test_declared_replicas_are_left_to_multi_replica_spread(self) -> None:
        props = changed(deployment(replicas=3).props, "spec.template.spec.affinity", None)
        assert HPA_SPREAD.evaluate([res("kubernetes:apps/v1:Deployment", props), hpa()]) == []

    def test_two_hpas_with_the_same_ceiling_are_one_report(self) -> None:
        """Two HPAs owning one Deployment (a mistake the API server accepts) with equal
        maxReplicas: reported once, naming one of them, not a TypeError from comparing them."""
        unspread = self.unspread()
        first, second = hpa(max_replicas=4), hpa(max_replicas=4, name="chat-backend-hpa-2")
        [violation] = HPA_SPREAD.evaluate([unspread, first, second])
        assert violation.urn == unspread.urn
        assert "may run 4 replicas" in violation.message

    def test_unknown_max_replicas_report_nothing(self) -> None:
        owner = hpa()
        owner.props["spec"]["maxReplicas"] = UNKNOWN
        assert HPA_SPREAD.evaluate([self.unspread(), owner]) == []


def changed_replicas_none(resource: Res) -> Res:
    return res(resource.type, changed(resource.props, "spec.replicas", None))


class TestStatefulSets:
    """A StatefulSet runs a replica count of pods like a Deployment: one replica, no PDB or no
    spreading is as fragile. Only hpa-min-replicas stays with Deployments (an HPA on a
    StatefulSet is the exception, not the rule)."""

    def test_a_replicated_stateful_set_with_its_pdb_passes(self) -> None:
        workload = stateful_set(replicas=3)
        for rule in (MIN_REPLICAS, PDB_PRESENT, PDB_ALLOWS_DISRUPTION, HPA_SPREAD, HPA):
            assert rule.evaluate([workload, pdb()]) == [], rule.name
        assert SPREAD.evaluate(workload) == []

    def test_one_replica_fails(self) -> None:
        workload = stateful_set(replicas=1)
        assert [(v.urn, v.message) for v in MIN_REPLICAS.evaluate([workload, pdb()])] == [
            (
                workload.urn,
                "StatefulSet 'paif-chat/chat-backend' runs 1 replica(s): set spec.replicas to at least 2 "
                "or scale it with an HPA",
            )
        ]
        assert len(replicas_messages(stateful_set(replicas=None))) == 1

    def test_no_pdb_fails(self) -> None:
        workload = stateful_set()
        assert [v.urn for v in PDB_PRESENT.evaluate([workload, deployment(), pdb(labels={"app": "other"})])] == [
            workload.urn,
            deployment().urn,
        ]

    def test_a_pdb_as_large_as_its_pods_fails(self) -> None:
        budget = pdb(minAvailable=3)
        assert [v.urn for v in PDB_ALLOWS_DISRUPTION.evaluate([stateful_set(replicas=3), budget])] == [budget.urn]

    def test_unspread_replicas_fail(self) -> None:
        props = changed(stateful_set(replicas=3).props, "spec.template.spec.affinity", None)
        assert SPREAD.evaluate(res("kubernetes:apps/v1:StatefulSet", props)) == [
            "StatefulSet 'paif-chat/chat-backend' runs 3 replicas with nothing spreading them: add "
            "podAntiAffinity or topologySpreadConstraints on kubernetes.io/hostname"
        ]

    def test_an_hpa_names_its_target_kind(self) -> None:
        """An HPA of the StatefulSet owns its replicas; one of a same-named Deployment does not."""
        workload = stateful_set(replicas=None)
        assert replicas_messages(workload, hpa(kind="StatefulSet")) == []
        assert len(replicas_messages(workload, hpa())) == 1
        unspread = res(workload.type, changed(workload.props, "spec.template.spec.affinity", None))
        assert len(HPA_SPREAD.evaluate([unspread, hpa(kind="StatefulSet", max_replicas=4)])) == 1

    def test_hpa_min_replicas_asks_deployments_only(self) -> None:
        assert HPA.evaluate([stateful_set(replicas=3)]) == []


class TestHpa:
    def test_hpa_with_minimum_passes(self) -> None:
        assert HPA.evaluate([hpa(min_replicas=3), deployment()]) == []

    def test_deployment_without_hpa_fails(self) -> None:
        workload = deployment()
        [violation] = HPA.evaluate([workload, hpa(target="other")])
        assert violation.urn == workload.urn
        assert "has no HorizontalPodAutoscaler" in violation.message

    @pytest.mark.parametrize("min_replicas", [1, None])
    def test_hpa_scaling_below_minimum_fails(self, min_replicas: int | None) -> None:
        autoscaler = hpa(min_replicas=min_replicas)
        [violation] = HPA.evaluate([deployment(), autoscaler])
        assert violation.urn == autoscaler.urn
        assert violation.message == (
            "HorizontalPodAutoscaler 'paif-chat/chat-backend-hpa' scales paif-chat/chat-backend down to 1: "
            "set minReplicas to at least 2"
        )

    def test_unknown_target_name_counts_as_targeting(self) -> None:
        autoscaler = res(
            hpa().type, changed(dict(hpa().props), "spec.scaleTargetRef.name", UNKNOWN), name="h"
        )
        assert HPA.evaluate([deployment(), autoscaler]) == []


def postgres_cluster(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "replicas": 1,
        "backupLocation": {"name": "paif-backups"},
        "backupConfig": {
            "backupRetentionDays": 30,
            "schedules": [{"name": "weekly", "type": "full", "schedule": "0 2 * * 0"}],
        },
    }
    base.update(spec)
    return {
        "metadata": {"name": "chat-pg", "namespace": "paif-chat-prod"},
        "spec": {k: v for k, v in base.items() if v is not None},
    }


class TestDsmHa:
    def test_ha_cluster_with_backups_passes(self) -> None:
        assert DSM_HA.evaluate(res(POSTGRES_CLUSTER, postgres_cluster())) == []

    def test_single_server_fails(self) -> None:
        assert DSM_HA.evaluate(res(POSTGRES_CLUSTER, postgres_cluster(replicas=0))) == [
            "PostgresCluster 'paif-chat-prod/chat-pg' has 0 standby(s): set spec.replicas to 1 for HA "
            "(primary, replica and monitor)"
        ]

    def test_cluster_without_backups_fails(self) -> None:
        messages = DSM_HA.evaluate(
            res(POSTGRES_CLUSTER, postgres_cluster(backupLocation=None, backupConfig=None))
        )
        assert len(messages) == 2

    def test_backups_can_be_waived(self) -> None:
        props = postgres_cluster(backupLocation=None, backupConfig=None)
        assert DSM_HA.evaluate(res(POSTGRES_CLUSTER, props), {"requireBackups": False}) == []
