"""The disk size check (infra/volume_check.py) without a cluster: quantities, the decisions
(the uploads claim grows where its class allows and never shrinks; the database's disk and the
DLVM's boot disk never shrink), the messages, and that the program never asks a cluster under
mocks or without a kubeconfig."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pulumi
import pytest
from pulumi.runtime.mocks import MockMonitor

from infra import volume_check
from infra.config import ConfigError
from infra.volume_check import (
    CannotLook,
    LiveClaim,
    SupervisorDisk,
    client,
    quantity,
    resize_problem,
    shrink_problem,
    supervisor_disks,
)

EXPANDABLE = LiveClaim(size="10Gi", storage_class="vsan-default", allows_expansion=True)
FIXED = LiveClaim(size="10Gi", storage_class="paif-local-hostpath", allows_expansion=False)
HAND_BOUND = LiveClaim(size="10Gi", storage_class=None, allows_expansion=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10Gi", 10 * 2**30),
        ("1Ti", 2**40),
        ("500M", 500 * 10**6),
        ("1.5Gi", Decimal("1.5") * 2**30),
        ("1e9", 10**9),
        ("2048", 2048),
        ("10240Mi", 10 * 2**30),
    ],
)
def test_quantity(text: str, expected: Decimal | int) -> None:
    assert quantity(text) == expected


def test_quantity_refuses_what_is_not_one() -> None:
    with pytest.raises(ValueError, match="'ten' is not a Kubernetes quantity"):
        quantity("ten")


@pytest.mark.parametrize("live", [None, EXPANDABLE, FIXED, HAND_BOUND])
def test_no_claim_yet_or_the_same_size_in_other_words_is_fine(live: LiveClaim | None) -> None:
    assert resize_problem(live, "10240Mi") is None
    assert resize_problem(None, "1Gi") is None


def test_a_larger_size_grows_in_place_where_the_class_allows_expansion() -> None:
    assert resize_problem(EXPANDABLE, "20Gi") is None


def test_a_smaller_size_is_refused_naming_key_sizes_and_what_is_allowed() -> None:
    assert resize_problem(EXPANDABLE, "5Gi") == (
        "paif:app.uploadsVolumeSize: given 5Gi, deployed 10Gi; a PersistentVolumeClaim never shrinks (the files "
        "in it would not fit). Allowed: 10Gi or more"
    )
    problem = resize_problem(FIXED, "9999Mi")
    assert problem is not None and problem.endswith("Allowed: 10Gi")


def test_a_larger_size_on_a_class_without_expansion_is_refused() -> None:
    assert resize_problem(FIXED, "20Gi") == (
        "paif:app.uploadsVolumeSize: given 20Gi, deployed 10Gi; the claim cannot grow: its StorageClass "
        "'paif-local-hostpath' does not allow expansion (allowVolumeExpansion is not true). Allowed: 10Gi, or a "
        "StorageClass with allowVolumeExpansion: true"
    )
    problem = resize_problem(HAND_BOUND, "11Gi")
    assert problem is not None and "the claim has no StorageClass (a volume bound by hand)" in problem


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[not, a, mapping]", "not a mapping"),
        ("current-context: x\ncontexts: []\n", "no context 'x'"),
        (
            "current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
            "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:1'}}]\n"
            "users: [{name: u, user: {exec: {command: kubectl-vsphere}}}]\n",
            "through a plugin",
        ),
    ],
)
def test_a_kubeconfig_it_cannot_use_means_it_cannot_look(text: str, reason: str) -> None:
    with pytest.raises(CannotLook, match=reason):
        client(text)


def test_the_program_asks_no_cluster_without_a_kubeconfig(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pytest.TempPathFactory
) -> None:
    monkeypatch.setattr(volume_check, "get_config", lambda _key: None)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path) + "/missing")
    assert volume_check._kubeconfig("supervisorKubeconfig") is None
    monkeypatch.setattr(volume_check, "get_config", lambda _key: "apiVersion: v1\n")
    assert volume_check._kubeconfig("supervisorKubeconfig") == "apiVersion: v1\n"


def _settings(
    platform: str, size: str | None = "20Gi", storage_space: str = "20Gi", boot_disk: str = "200Gi"
) -> Any:
    app = SimpleNamespace(name="chat", namespace="paif-chat", uploads_volume_size=size)
    config = SimpleNamespace(
        app=app,
        vsphere=SimpleNamespace(namespace=SimpleNamespace(name="paif-chat-dev")),
        database=SimpleNamespace(cluster_name="chat-pg", storage_space=storage_space),
        dlvm=SimpleNamespace(name="chat-dlvm", boot_disk_size=boot_disk),
    )
    return SimpleNamespace(config=config, profile=SimpleNamespace(app_platform=platform))


def _nothing_deployed_on_the_supervisor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(volume_check, "read_size", lambda _kubeconfig, _disk: None)


@pytest.mark.parametrize(
    ("platform", "key"),
    [("local-kubernetes", "paif:supervisorKubeconfig"), ("vks", "paif:workloadKubeconfig")],
)
def test_the_program_reads_the_apps_claim_through_the_apps_kubeconfig(
    monkeypatch: pytest.MonkeyPatch, platform: str, key: str
) -> None:
    asked: list[tuple[str, ...]] = []
    monkeypatch.setattr(volume_check, "get_monitor", lambda: None)
    monkeypatch.setattr(volume_check, "get_config", lambda k: f"kubeconfig from {k}")

    def read(kubeconfig: str, namespace: str, name: str) -> LiveClaim:
        asked.append((kubeconfig, namespace, name))
        return FIXED

    monkeypatch.setattr(volume_check, "read_claim", read)
    _nothing_deployed_on_the_supervisor(monkeypatch)
    with pytest.raises(ConfigError) as caught:
        volume_check.check_volume_sizes(_settings(platform))
    assert asked == [(f"kubeconfig from {key}", "paif-chat", "chat-uploads")]
    assert str(caught.value).startswith(
        "invalid stack config (1 problem); nothing was changed:\n  - paif:app.uploadsVolumeSize: given 20Gi, deployed 10Gi;"
    )
    volume_check.check_volume_sizes(_settings(platform, "10Gi"))  # unchanged: fine


def test_no_volume_a_dlvm_mocks_or_an_unreadable_claim_stop_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(*_args: Any) -> LiveClaim:
        raise CannotLook("ConnectError: connection refused")

    monkeypatch.setattr(volume_check, "read_claim", unreachable)
    _nothing_deployed_on_the_supervisor(monkeypatch)
    monkeypatch.setattr(volume_check, "get_config", lambda _k: "kubeconfig")
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *_a, **_k: warnings.append(message))
    volume_check.check_volume_sizes(_settings("local-kubernetes", None))
    volume_check.check_volume_sizes(_settings("dlvm"))
    monkeypatch.setattr(volume_check, "get_monitor", lambda: object.__new__(MockMonitor))
    volume_check.check_volume_sizes(_settings("local-kubernetes"))  # under Pulumi's mocks: no cluster
    assert warnings == []
    monkeypatch.setattr(volume_check, "get_monitor", lambda: None)
    volume_check.check_volume_sizes(_settings("local-kubernetes"))
    assert warnings == [
        "paif:app.uploadsVolumeSize: the deployed uploads claim could not be read (ConnectError: connection "
        "refused); its size is not checked"
    ]


DATABASE_DISK = SupervisorDisk(
    key="paif:database.storageSpace",
    what="the database's disk (PostgresCluster chat-pg)",
    path="/apis/databases.dataservices.vmware.com/v1alpha1/namespaces/paif-chat-dev/postgresclusters/chat-pg",
    field=("spec", "storageSpace"),
    size="20Gi",
)


@pytest.mark.parametrize("deployed", [None, "20Gi", "20480Mi", "10Gi", "21474836480"])
def test_nothing_deployed_the_same_size_or_a_larger_one_is_fine(deployed: str | None) -> None:
    assert shrink_problem(DATABASE_DISK, deployed) is None


def test_a_smaller_supervisor_disk_is_refused_naming_key_sizes_and_what_is_allowed() -> None:
    assert shrink_problem(DATABASE_DISK, "40Gi") == (
        "paif:database.storageSpace: given 20Gi, deployed 40Gi; the database's disk (PostgresCluster chat-pg) "
        "never shrinks (vSphere cannot make a disk smaller, and what is on it would not fit). Allowed: 40Gi or more"
    )
    assert shrink_problem(DATABASE_DISK, "20481Mi") is not None


def test_the_database_disk_everywhere_and_the_boot_disk_where_the_app_runs_on_a_dlvm() -> None:
    dlvm = supervisor_disks(_settings("dlvm"))
    assert dlvm[0] == DATABASE_DISK
    assert dlvm[1] == SupervisorDisk(
        key="paif:dlvm.bootDiskSize",
        what="the DLVM's boot disk (VirtualMachine chat-dlvm)",
        path="/apis/vmoperator.vmware.com/v1alpha3/namespaces/paif-chat-dev/virtualmachines/chat-dlvm",
        field=("spec", "advanced", "bootDiskCapacity"),
        size="200Gi",
    )
    assert supervisor_disks(_settings("local-kubernetes")) == [DATABASE_DISK]
    assert supervisor_disks(_settings("vks")) == [DATABASE_DISK]


def test_every_disk_problem_is_in_one_message_read_through_the_supervisor_kubeconfig(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[tuple[str, str]] = []
    deployed = {"storageSpace": "40Gi", "bootDiskCapacity": "300Gi"}

    def read(kubeconfig: str, disk: SupervisorDisk) -> str:
        asked.append((kubeconfig, disk.path))
        return deployed[disk.field[-1]]

    monkeypatch.setattr(volume_check, "get_monitor", lambda: None)
    monkeypatch.setattr(volume_check, "get_config", lambda k: f"kubeconfig from {k}")
    monkeypatch.setattr(volume_check, "read_size", read)
    with pytest.raises(ConfigError) as caught:
        volume_check.check_volume_sizes(_settings("dlvm"))
    assert [kubeconfig for kubeconfig, _ in asked] == ["kubeconfig from paif:supervisorKubeconfig"] * 2
    lines = str(caught.value).splitlines()
    assert lines[0] == "invalid stack config (2 problems); nothing was changed:"
    assert lines[1].startswith("  - paif:database.storageSpace: given 20Gi, deployed 40Gi;")
    assert lines[2].startswith("  - paif:dlvm.bootDiskSize: given 200Gi, deployed 300Gi;")
    volume_check.check_volume_sizes(_settings("dlvm", storage_space="40Gi", boot_disk="300Gi"))  # grown: fine


def test_an_unreadable_supervisor_disk_warns_and_stops_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def read(_kubeconfig: str, disk: SupervisorDisk) -> str:
        if disk.key == "paif:database.storageSpace":
            raise CannotLook("HTTPStatusError: 403 Forbidden")
        return "not a size"

    monkeypatch.setattr(volume_check, "get_monitor", lambda: None)
    monkeypatch.setattr(volume_check, "get_config", lambda _k: "kubeconfig")
    monkeypatch.setattr(volume_check, "read_size", read)
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *_a, **_k: warnings.append(message))
    volume_check.check_volume_sizes(_settings("dlvm", size=None))
    assert warnings == [
        "paif:database.storageSpace: the database's disk (PostgresCluster chat-pg) could not be read "
        "(HTTPStatusError: 403 Forbidden); its size is not checked",
        "paif:dlvm.bootDiskSize: the DLVM's boot disk (VirtualMachine chat-dlvm) records a size that is no "
        "quantity; its size is not checked",
    ]
