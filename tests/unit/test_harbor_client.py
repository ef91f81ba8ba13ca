"""The Harbor client and each Harbor provider's check/diff/create/read/update/delete against
FakeHarbor (tests/fake_harbor.py), an in-process test double of Harbor's REST API v2.0
that validates payloads the way Harbor does for the fields we send."""

from __future__ import annotations

import datetime
import ipaddress
import logging
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pulumi.runtime import rpc

from components.dynamic.provider import OWNERSHIP_KEY, NotOwned
from components.harbor import PULL, PUSH, HarborClient, HarborConflict, HarborError
from components.harbor.immutable_tag_rule import ImmutableTagRuleProvider
from components.harbor.project import GIB, OWNER_LABEL, ProjectProvider
from components.harbor.retention_policy import RetentionPolicyProvider
from components.harbor.robot_account import RobotAccountProvider, robot_permissions
from tests.fake_harbor import FakeHarbor

PASSWORD = "Adm1n-" + secrets.token_hex(8)
PROJECT = "paif-chat"


@pytest.fixture
def harbor() -> Iterator[FakeHarbor]:
    with FakeHarbor(password=PASSWORD) as fake:
        yield fake


def client_for(harbor: FakeHarbor, **overrides: Any) -> HarborClient:
    settings: dict[str, Any] = {
        "insecure": True,
        "timeout": 2.0,
        "attempts": 3,
        "backoff": 0.01,
        "backoff_max": 0.02,
    }
    settings.update(overrides)
    password = settings.pop("password", PASSWORD)
    return HarborClient(harbor.url, "admin", password, **settings)


def connection(harbor: FakeHarbor) -> dict[str, Any]:
    return {
        "url": harbor.url,
        "username": "admin",
        "password": PASSWORD,
        "insecure": True,
        "ca_bundle": None,
        "timeout": 5.0,
        "attempts": 2,
    }


def project_props(harbor: FakeHarbor, **overrides: Any) -> dict[str, Any]:
    props = {
        **connection(harbor),
        "name": PROJECT,
        "public": False,
        "vulnerability_scanning": True,
        "deployment_security": "high",
        "enable_content_trust_cosign": True,
        "auto_sbom_generation": True,
        "storage_quota": 20,
        "force_destroy": False,
    }
    return {**props, **overrides}


def create_project(harbor: FakeHarbor, **overrides: Any) -> tuple[str, dict[str, Any]]:
    result = ProjectProvider().create(project_props(harbor, **overrides))
    assert result.outs is not None
    return result.id, result.outs


def robot_props(
    harbor: FakeHarbor, access: tuple[tuple[str, str], ...] = PULL, **overrides: Any
) -> dict[str, Any]:
    props = {
        **connection(harbor),
        "name": "app-pull",
        "project": PROJECT,
        "level": "project",
        "permissions": robot_permissions(PROJECT, access),
        "duration": 30,
        "description": "pulls the app",
        "disable": False,
        "rotation": 0,
    }
    props.update(overrides)
    checked = RobotAccountProvider().check({}, props)
    assert not checked.failures, [f.reason for f in checked.failures]
    return checked.inputs


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---- the client --------------------------------------------------------------------------


def test_client_authenticates_with_basic_auth_and_names_projects(harbor: FakeHarbor) -> None:
    create_project(harbor)
    with client_for(harbor) as client:
        project = client.get(f"/projects/{PROJECT}", by_name=True)
    assert project["name"] == PROJECT
    last = harbor.requests[-1]
    assert last.headers["authorization"].startswith("Basic ")
    assert last.headers["x-is-resource-name"] == "true"


def test_rejected_credentials_fail_once_with_a_clear_error_and_no_password(harbor: FakeHarbor) -> None:
    wrong = "Wr0ng-" + secrets.token_hex(6)
    with client_for(harbor, password=wrong) as client, pytest.raises(HarborError) as err:
        client.get("/projects/1")
    assert err.value.status == 401
    assert "UNAUTHORIZED" in str(err.value) and "rejected the credentials of user 'admin'" in str(err.value)
    assert wrong not in str(err.value) and PASSWORD not in str(err.value)
    assert len(harbor.requests) == 1


def test_reads_are_retried_on_5xx_until_they_succeed(harbor: FakeHarbor) -> None:
    create_project(harbor)
    harbor.fail("GET", "/projects/", status=503, times=2)
    before = len(harbor.calls("GET"))
    with client_for(harbor) as client:
        assert client.get(f"/projects/{PROJECT}", by_name=True)["name"] == PROJECT
    assert len(harbor.calls("GET")) - before == 3


def test_exhausted_retries_report_status_and_attempts(harbor: FakeHarbor) -> None:
    harbor.fail("GET", "/projects/", status=502, times=10)
    with client_for(harbor) as client, pytest.raises(HarborError) as err:
        client.get("/projects/1")
    assert err.value.status == 502
    assert "502 UNKNOWN: injected failure" in str(err.value) and "(after 3 attempts)" in str(err.value)
    assert len(harbor.requests) == 3


def test_a_post_that_may_have_reached_harbor_is_not_repeated(harbor: FakeHarbor) -> None:
    harbor.fail("POST", "/projects$", status=500)
    with client_for(harbor) as client, pytest.raises(HarborError) as err:
        client.create("/projects", {"project_name": PROJECT})
    assert err.value.status == 500
    assert len(harbor.calls("POST")) == 1


def test_a_post_is_repeated_while_harbor_is_unavailable(harbor: FakeHarbor) -> None:
    harbor.fail("POST", "/projects$", status=503)
    with client_for(harbor) as client:
        client.create("/projects", {"project_name": PROJECT})
    assert len(harbor.calls("POST")) == 2
    assert [p["name"] for p in harbor.state.projects.values()] == [PROJECT]


def test_slow_reads_time_out_and_are_retried(harbor: FakeHarbor) -> None:
    create_project(harbor)
    harbor.stall("GET", "/projects/", seconds=1.0)
    with client_for(harbor, timeout=0.3) as client:
        assert client.get(f"/projects/{PROJECT}", by_name=True)["name"] == PROJECT
    harbor.stall("GET", "/projects/", seconds=1.0, times=5)
    with client_for(harbor, timeout=0.2, attempts=2) as client, pytest.raises(HarborError) as err:
        client.get(f"/projects/{PROJECT}", by_name=True)
    assert f"did not answer GET /api/v2.0/projects/{PROJECT} within 0.2s (after 2 attempts)" in str(err.value)


def test_unreachable_harbor_is_named_in_the_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = HarborClient(url, "admin", PASSWORD, insecure=True, attempts=2, backoff=0.01)
    with client, pytest.raises(HarborError) as err:
        client.get("/projects/1")
    assert f"cannot connect to Harbor at {url}" in str(err.value) and "(after 2 attempts)" in str(err.value)


def test_harbor_error_bodies_are_parsed(harbor: FakeHarbor) -> None:
    with client_for(harbor) as client, pytest.raises(HarborError) as err:
        client.create("/projects", {"project_name": "Chat App"})
    assert (err.value.status, err.value.code) == (400, "BAD_REQUEST")
    assert err.value.detail == "project name is not in lower case or contains illegal characters"
    assert "Harbor POST /api/v2.0/projects" in str(err.value)


def test_an_empty_password_is_refused_before_any_request(harbor: FakeHarbor) -> None:
    with pytest.raises(HarborError, match="no password for Harbor user 'admin'"):
        HarborClient(harbor.url, "admin", "", insecure=True)
    assert harbor.requests == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"project_name": PROJECT, "metadata": {"public": False}}, "parsing metadata.public failed"),
        ({"project_name": PROJECT, "metadata": {"auto_scan": "yes"}}, "metadata.auto_scan should only be"),
        ({"project_name": PROJECT, "metadata": {"severity": "severe"}}, "invalid value: severe"),
        ({"project_name": PROJECT, "storage_limit": -5}, "invalid value for resource storage"),
        ({"project_name": PROJECT, "storage_quota": 5}, "unknown field(s) storage_quota"),
    ],
)
def test_the_fake_rejects_what_harbor_rejects(harbor: FakeHarbor, body: dict[str, Any], message: str) -> None:
    with client_for(harbor) as client, pytest.raises(HarborError) as err:
        client.create("/projects", body)
    assert err.value.status == 400 and message in err.value.detail


# ---- TLS ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-harbor")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "harbor.crt", folder / "harbor.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_an_unreadable_ca_bundle_is_named(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing-ca.pem")
    with pytest.raises(HarborError, match=r"cannot read the CA bundle .*missing-ca\.pem"):
        HarborClient("https://harbor.example", "admin", PASSWORD, ca_bundle=missing)


def test_tls_is_verified_unless_told_otherwise(certificate: tuple[Path, Path]) -> None:
    with FakeHarbor(password=PASSWORD, cert=certificate) as harbor:
        assert harbor.url.startswith("https://")
        verifying = HarborClient(harbor.url, "admin", PASSWORD, attempts=3, backoff=0.01)
        with verifying, pytest.raises(HarborError) as err:
            verifying.get("/projects/1")
        assert "TLS verification of Harbor" in str(err.value) and "ca_bundle" in str(err.value)
        assert harbor.requests == []
        with HarborClient(harbor.url, "admin", PASSWORD, ca_bundle=str(certificate[0])) as client:
            assert client.delete("/projects/1") is False
        with HarborClient(harbor.url, "admin", PASSWORD, insecure=True) as client:
            assert client.delete("/projects/1") is False
        assert len(harbor.requests) == 2


# ---- Project -----------------------------------------------------------------------------


def test_project_lifecycle_and_drift(harbor: FakeHarbor) -> None:
    provider = ProjectProvider()
    props = project_props(harbor)
    assert provider.check({}, props).failures == []
    id_, outs = create_project(harbor)
    project = harbor.project(PROJECT)
    assert id_ == f"/projects/{project['project_id']}" and outs["project_id"] == project["project_id"]
    assert project["metadata"] == {
        "public": "false",
        "auto_scan": "true",
        "prevent_vul": "true",
        "severity": "high",
        "enable_content_trust_cosign": "true",
        "auto_sbom_generation": "true",
    }
    assert harbor.quota_of(project["project_id"])["hard"] == {"storage": 20 * GIB}

    read = provider.read(id_, outs)
    assert read.id == id_ and read.outs is not None
    assert provider.diff(id_, read.outs, props).changes is False

    project["metadata"].update(auto_scan="false", public="true")
    harbor.quota_of(project["project_id"])["hard"]["storage"] = 5 * GIB
    drifted = provider.read(id_, outs).outs
    assert drifted is not None
    assert (drifted["vulnerability_scanning"], drifted["public"], drifted["storage_quota"]) == (
        False,
        True,
        5,
    )
    diff = provider.diff(id_, drifted, props)
    assert diff.changes is True and diff.replaces == []
    provider.update(id_, drifted, props)
    assert project["metadata"]["auto_scan"] == "true" and project["metadata"]["public"] == "false"
    assert harbor.quota_of(project["project_id"])["hard"]["storage"] == 20 * GIB

    loosened = project_props(harbor, deployment_security=None, storage_quota=-1)
    provider.update(id_, outs, loosened)
    assert project["metadata"]["prevent_vul"] == "false"
    assert harbor.quota_of(project["project_id"])["hard"]["storage"] == -1

    provider.delete(id_, outs)
    assert harbor.state.projects == {}
    assert provider.read(id_, outs).id == ""


def test_diff_rules_and_no_harbor_access_in_check_or_diff(harbor: FakeHarbor) -> None:
    provider = ProjectProvider()
    olds = {**project_props(harbor), "project_id": 7}
    renamed = provider.diff("/projects/7", olds, project_props(harbor, name="paif-chat-2"))
    assert renamed.replaces == ["name"] and renamed.delete_before_replace is True
    assert provider.diff("/projects/7", olds, project_props(harbor, password=None)).changes is False
    rotated = provider.diff(
        "/projects/7", olds, project_props(harbor, password="N3w-" + secrets.token_hex(4))
    )
    assert rotated.changes is True and rotated.replaces == []
    # A new URL is a connection change (the same Harbor behind another name, or a moved
    # endpoint): an update of the connection only, never a replacement of every object.
    moved = provider.diff("/projects/7", olds, project_props(harbor, url="https://harbor.other.example"))
    assert moved.changes is True and moved.replaces == []
    assert provider.diff("/projects/7", olds, project_props(harbor, force_destroy=True)).changes is True
    unknown = provider.check({}, project_props(harbor, name=rpc.UNKNOWN, password=None))
    assert unknown.failures == []
    assert harbor.requests == []


def test_project_check_reports_each_bad_value(harbor: FakeHarbor) -> None:
    bad = project_props(
        harbor,
        name="Chat_App!",
        deployment_security="severe",
        storage_quota=0,
        url="http://h.example",
        insecure=False,
    )
    failures = {f.property: f.reason for f in ProjectProvider().check({}, bad).failures}
    assert set(failures) == {"name", "deployment_security", "storage_quota", "url"}
    assert "plain http needs insecure: true" in failures["url"]


def test_an_existing_project_is_not_adopted(harbor: FakeHarbor) -> None:
    create_project(harbor)
    with pytest.raises(
        HarborConflict, match=rf"Harbor project '{PROJECT}' already exists .* `pulumi import`"
    ):
        create_project(harbor)


def test_a_project_with_images_is_only_deleted_with_force_destroy(harbor: FakeHarbor) -> None:
    id_, outs = create_project(harbor)
    harbor.seed_repositories(PROJECT, ["chat-frontend", "team/chat-backend"])
    with pytest.raises(HarborError, match=r"still holds repositories.*force_destroy"):
        ProjectProvider().delete(id_, outs)
    assert PROJECT in [p["name"] for p in harbor.state.projects.values()]
    ProjectProvider().delete(id_, {**outs, "force_destroy": True})
    assert harbor.state.projects == {} and not any(harbor.state.repositories.values())
    nested = [r.path for r in harbor.calls("DELETE") if "team" in r.path]
    assert nested == [f"/api/v2.0/projects/{PROJECT}/repositories/team%252Fchat-backend"]


def test_project_creation_is_rolled_back_when_the_quota_cannot_be_set() -> None:
    with FakeHarbor(password=PASSWORD, quota_per_project=False) as harbor:
        with pytest.raises(HarborError, match="per-project quotas are disabled"):
            create_project(harbor)
        assert harbor.state.projects == {}


# ---- a create Harbor confirmed but the engine never recorded -----------------------------

MINE = "managed by Pulumi: paif/local/registry-project"
THEIRS = "managed by Pulumi: paif/prod/registry-project"


def owner_labels(harbor: FakeHarbor) -> dict[int, str]:
    labels = harbor.state.labels.values()
    return {lb["project_id"]: lb["description"] for lb in labels if lb["name"] == OWNER_LABEL}


def test_a_created_project_carries_the_marker_on_its_owner_label(harbor: FakeHarbor) -> None:
    _, outs = create_project(harbor, **{OWNERSHIP_KEY: MINE})
    assert owner_labels(harbor) == {outs["project_id"]: f"[{MINE}]"}
    # Without a marker (a provider called outside a stack), no label.
    create_project(harbor, name="other")
    assert len(owner_labels(harbor)) == 1


def test_a_project_with_this_resources_marker_is_adopted_and_made_to_match(harbor: FakeHarbor) -> None:
    id_, outs = create_project(harbor, **{OWNERSHIP_KEY: MINE})
    # The engine never recorded that create: the next `up` creates again, with a changed declaration.
    again_id, again = create_project(harbor, storage_quota=5, public=True, **{OWNERSHIP_KEY: MINE})
    assert again_id == id_ and again["project_id"] == outs["project_id"]
    assert again["storage_quota"] == 5 and again["public"] is True
    assert harbor.quota_of(outs["project_id"])["hard"]["storage"] == 5 * GIB
    assert len(harbor.state.projects) == 1 and len(owner_labels(harbor)) == 1


@pytest.mark.parametrize(
    ("label", "found"),
    [(None, "'pulumi-owner' label carries no marker of this stack"), (THEIRS, f"another owner's marker, {THEIRS!r}")],
)
def test_a_project_without_this_resources_marker_is_refused_untouched(
    harbor: FakeHarbor, label: str | None, found: str
) -> None:
    create_project(harbor, **({OWNERSHIP_KEY: label} if label else {}))
    before = harbor.project(PROJECT)["metadata"].copy()
    writes = len(harbor.calls("PUT"))
    with pytest.raises(NotOwned) as err:
        create_project(harbor, public=True, **{OWNERSHIP_KEY: MINE})
    assert found in str(err.value) and f"Harbor project {PROJECT!r} already exists" in str(err.value)
    assert len(harbor.calls("PUT")) == writes and harbor.project(PROJECT)["metadata"] == before


def test_a_project_whose_label_cannot_be_written_is_rolled_back(harbor: FakeHarbor) -> None:
    harbor.fail("POST", "/labels", status=500)
    with pytest.raises(HarborError, match="500"):
        create_project(harbor, **{OWNERSHIP_KEY: MINE})
    assert harbor.state.projects == {}


def test_a_robot_with_this_resources_marker_is_adopted_with_a_new_secret(harbor: FakeHarbor) -> None:
    create_project(harbor)
    provider = RobotAccountProvider()
    first = provider.create({**robot_props(harbor), OWNERSHIP_KEY: MINE})
    assert first.outs is not None
    robot = harbor.state.robots[first.outs["robot_id"]]
    assert robot["description"] == f"pulls the app [{MINE}]"
    assert first.outs["description"] == "pulls the app"
    # The engine never recorded that create (its secret is lost): the next `up` creates again.
    again = provider.create({**robot_props(harbor, access=PUSH, duration=60), OWNERSHIP_KEY: MINE})
    assert again.outs is not None and again.id == first.id
    assert again.outs["secret"] == robot["secret"] != first.outs["secret"]
    assert robot["duration"] == 60
    assert [a["action"] for a in robot["permissions"][0]["access"]] == ["pull", "push"]
    assert len(harbor.state.robots) == 1
    read = provider.read(again.id, again.outs)
    assert read.outs is not None
    assert provider.diff(again.id, read.outs, robot_props(harbor, access=PUSH, duration=60)).changes is False


@pytest.mark.parametrize(("marker", "found"), [(None, "no marker of this stack"), (THEIRS, "another owner's marker")])
def test_a_robot_without_this_resources_marker_is_refused_untouched(
    harbor: FakeHarbor, marker: str | None, found: str
) -> None:
    create_project(harbor)
    provider = RobotAccountProvider()
    first = provider.create({**robot_props(harbor), **({OWNERSHIP_KEY: marker} if marker else {})})
    assert first.outs is not None
    secret = harbor.state.robots[first.outs["robot_id"]]["secret"]
    with pytest.raises(NotOwned) as err:
        provider.create({**robot_props(harbor, duration=60), OWNERSHIP_KEY: MINE})
    assert found in str(err.value) and "'app-pull' already exists in project 'paif-chat'" in str(err.value)
    assert harbor.calls("PUT") == [] and harbor.calls("PATCH") == []
    assert harbor.state.robots[first.outs["robot_id"]]["secret"] == secret


@pytest.mark.parametrize(("project_marker", "adopted"), [(MINE, True), (THEIRS, False), (None, False)])
def test_an_immutable_rule_is_adopted_only_in_a_project_of_this_stack(
    harbor: FakeHarbor, project_marker: str | None, adopted: bool
) -> None:
    _, project = create_project(harbor, **({OWNERSHIP_KEY: project_marker} if project_marker else {}))
    rule = {**rule_props(harbor, project["project_id"]), OWNERSHIP_KEY: MINE.replace("registry-project", "rule")}
    first = ImmutableTagRuleProvider().create(rule)
    # The engine never recorded that create: the next `up` creates the rule again, now disabled.
    if adopted:
        again = ImmutableTagRuleProvider().create({**rule, "disabled": True})
        assert again.id == first.id and harbor.state.immutable[int(first.id.rsplit("/", 1)[1])]["disabled"] is True
    else:
        with pytest.raises(HarborConflict, match=rf"project {project['project_id']} already has"):
            ImmutableTagRuleProvider().create({**rule, "disabled": True})
        assert harbor.calls("PUT") == []
    assert len(harbor.state.immutable) == 1


# ---- RobotAccount ------------------------------------------------------------------------


def test_pull_robot_lifecycle(harbor: FakeHarbor) -> None:
    create_project(harbor)
    provider = RobotAccountProvider()
    props = robot_props(harbor)
    created = provider.create(props)
    assert created.outs is not None
    outs = created.outs
    robot = harbor.state.robots[outs["robot_id"]]
    assert created.id == f"/robots/{robot['id']}"
    assert outs["secret"] == robot["secret"] and outs["full_name"] == f"robot${PROJECT}+app-pull"
    assert robot["level"] == "project" and robot["duration"] == 30
    assert robot["permissions"] == [
        {
            "kind": "project",
            "namespace": PROJECT,
            "access": [{"resource": "repository", "action": "pull", "effect": "allow"}],
        }
    ]
    assert abs(robot["expires_at"] - (time.time() + 30 * 86400)) < 60

    read = provider.read(created.id, outs)
    assert read.outs is not None and read.outs["secret"] == robot["secret"]
    assert provider.diff(created.id, read.outs, props).changes is False

    wider = robot_props(harbor, access=PUSH, duration=60)
    updated = provider.update(created.id, read.outs, wider)
    assert updated.outs is not None and updated.outs["secret"] == robot["secret"]
    assert [a["action"] for a in robot["permissions"][0]["access"]] == ["pull", "push"]
    assert robot["duration"] == 60

    del harbor.state.robots[robot["id"]]
    assert provider.read(created.id, outs).id == ""
    provider.delete(created.id, outs)


def test_robot_rotation_and_name_replace_the_robot(harbor: FakeHarbor) -> None:
    provider = RobotAccountProvider()
    olds = {**robot_props(harbor), "robot_id": 3, "secret": "s"}
    assert provider.diff("/robots/3", olds, robot_props(harbor, rotation=1)).replaces == ["rotation"]
    assert provider.diff("/robots/3", olds, robot_props(harbor, name="app-pull-2")).replaces == ["name"]
    assert provider.diff("/robots/3", olds, robot_props(harbor, duration=45)).replaces == []
    assert harbor.requests == []


@pytest.mark.parametrize(
    ("overrides", "prop", "reason"),
    [
        ({"duration": -1}, "duration", "never -1"),
        ({"duration": 0}, "duration", "never -1"),
        ({"level": "system"}, "level", "project-level only"),
        ({"permissions": robot_permissions("*", PULL)}, "permissions", "every project"),
        ({"permissions": robot_permissions("other", PULL)}, "permissions", "must be the robot's project"),
        (
            {"permissions": [{"kind": "project", "namespace": PROJECT, "access": []}]},
            "permissions",
            "at least one",
        ),
        ({"name": "App Pull"}, "name", "robot name"),
    ],
)
def test_robot_check_keeps_robots_scoped_and_expiring(
    harbor: FakeHarbor, overrides: dict[str, Any], prop: str, reason: str
) -> None:
    props = {**robot_props(harbor), **overrides}
    failures = RobotAccountProvider().check({}, props).failures
    assert [(f.property, reason in f.reason) for f in failures] == [(prop, True)]


def test_robot_on_a_missing_project_fails_with_harbors_message(harbor: FakeHarbor) -> None:
    with pytest.raises(HarborError) as err:
        RobotAccountProvider().create(robot_props(harbor))
    assert err.value.status == 404 and f"project {PROJECT} not found" in str(err.value)


def test_secrets_never_reach_the_logs(harbor: FakeHarbor, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    create_project(harbor)
    created = RobotAccountProvider().create(robot_props(harbor))
    assert created.outs is not None
    RobotAccountProvider().read(created.id, created.outs)
    assert caplog.records, "httpx logs every request; the check below must see them"
    assert PASSWORD not in caplog.text and created.outs["secret"] not in caplog.text


# ---- RetentionPolicy ---------------------------------------------------------------------


def retention_props(harbor: FakeHarbor, project_id: int, **overrides: Any) -> dict[str, Any]:
    props = {
        **connection(harbor),
        "project_id": project_id,
        "retain_last": 10,
        "schedule": "0 0 3 * * *",
        "repositories": "**",
        "tags": "**",
    }
    return {**props, **overrides}


def test_retention_lifecycle(harbor: FakeHarbor) -> None:
    _, project_outs = create_project(harbor)
    pid = project_outs["project_id"]
    provider = RetentionPolicyProvider()
    props = retention_props(harbor, pid)
    assert provider.check({}, props).failures == []
    created = provider.create(props)
    assert created.outs is not None
    policy_id = created.outs["policy_id"]
    policy = harbor.state.retentions[policy_id]
    assert created.id == f"/retentions/{policy_id}"
    assert harbor.state.projects[pid]["metadata"]["retention_id"] == str(policy_id)
    rule = policy["rules"][0]
    assert (rule["template"], rule["params"], rule["action"]) == (
        "latestPushedK",
        {"latestPushedK": 10},
        "retain",
    )
    assert rule["tag_selectors"] == [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}]
    assert policy["trigger"] == {"kind": "Schedule", "settings": {"cron": "0 0 3 * * *"}}
    assert policy["scope"] == {"level": "project", "ref": pid}

    read = provider.read(created.id, created.outs)
    assert read.outs is not None and provider.diff(created.id, read.outs, props).changes is False
    provider.update(created.id, read.outs, retention_props(harbor, pid, retain_last=20))
    assert harbor.state.retentions[policy_id]["rules"][0]["params"] == {"latestPushedK": 20}

    provider.delete(created.id, created.outs)
    assert harbor.state.retentions == {}
    assert "retention_id" not in harbor.state.projects[pid]["metadata"]
    again = provider.create(props)
    assert again.outs is not None and again.outs["policy_id"] != policy_id


def test_retention_adopts_the_policy_bound_to_the_project(harbor: FakeHarbor) -> None:
    _, project_outs = create_project(harbor)
    pid = project_outs["project_id"]
    first = RetentionPolicyProvider().create(retention_props(harbor, pid, retain_last=3))
    assert first.outs is not None
    second = RetentionPolicyProvider().create(retention_props(harbor, pid, retain_last=12))
    assert second.id == first.id and len(harbor.state.retentions) == 1
    assert harbor.state.retentions[first.outs["policy_id"]]["rules"][0]["params"] == {"latestPushedK": 12}


def test_retention_recovers_from_a_binding_left_behind(harbor: FakeHarbor) -> None:
    _, project_outs = create_project(harbor)
    pid = project_outs["project_id"]
    first = RetentionPolicyProvider().create(retention_props(harbor, pid))
    assert first.outs is not None
    del harbor.state.retentions[first.outs["policy_id"]]
    again = RetentionPolicyProvider().create(retention_props(harbor, pid, attempts=1))
    assert again.outs is not None and list(harbor.state.retentions) == [again.outs["policy_id"]]


def test_retention_is_gone_when_the_project_points_elsewhere(harbor: FakeHarbor) -> None:
    _, project_outs = create_project(harbor)
    pid = project_outs["project_id"]
    created = RetentionPolicyProvider().create(retention_props(harbor, pid))
    assert created.outs is not None
    del harbor.state.projects[pid]["metadata"]["retention_id"]
    assert RetentionPolicyProvider().read(created.id, created.outs).id == ""


def test_retention_check(harbor: FakeHarbor) -> None:
    bad = retention_props(harbor, 1, retain_last=0, schedule="0 3 * * *", tags="")
    failures = {f.property for f in RetentionPolicyProvider().check({}, bad).failures}
    assert failures == {"retain_last", "schedule", "tags"}


# ---- ImmutableTagRule --------------------------------------------------------------------


def rule_props(harbor: FakeHarbor, project_id: int, **overrides: Any) -> dict[str, Any]:
    props = {
        **connection(harbor),
        "project_id": project_id,
        "tag_pattern": "v*",
        "repo_pattern": "**",
        "disabled": False,
    }
    return {**props, **overrides}


def test_immutable_rule_lifecycle(harbor: FakeHarbor) -> None:
    _, project_outs = create_project(harbor)
    pid = project_outs["project_id"]
    provider = ImmutableTagRuleProvider()
    props = rule_props(harbor, pid)
    created = provider.create(props)
    assert created.outs is not None
    rule = harbor.state.immutable[created.outs["rule_id"]]
    assert created.id == f"/projects/{pid}/immutabletagrules/{rule['id']}"
    assert (rule["action"], rule["template"], rule["disabled"]) == ("immutable", "immutable_template", False)
    assert rule["tag_selectors"] == [{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}]
    assert rule["scope_selectors"] == {
        "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]
    }

    read = provider.read(created.id, created.outs)
    assert read.outs is not None and provider.diff(created.id, read.outs, props).changes is False
    provider.update(created.id, read.outs, rule_props(harbor, pid, tag_pattern="release-*", disabled=True))
    assert rule["tag_selectors"][0]["pattern"] == "release-*" and rule["disabled"] is True

    del harbor.state.immutable[rule["id"]]
    assert provider.read(created.id, created.outs).id == ""
    provider.delete(created.id, created.outs)


def test_immutable_rule_created_disabled_and_duplicates_refused(harbor: FakeHarbor) -> None:
    _, project_outs = create_project(harbor)
    pid = project_outs["project_id"]
    created = ImmutableTagRuleProvider().create(rule_props(harbor, pid, disabled=True))
    assert created.outs is not None and harbor.state.immutable[created.outs["rule_id"]]["disabled"] is True
    with pytest.raises(HarborConflict, match="already has an immutable tag rule for tags 'v\\*'"):
        ImmutableTagRuleProvider().create(rule_props(harbor, pid))


def as_engine_sends(value: Any) -> Any:
    """Props as a dynamic provider receives them: every number is a float."""
    if isinstance(value, dict):
        return {k: as_engine_sends(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_engine_sends(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def test_numbers_arriving_as_floats_are_accepted(harbor: FakeHarbor) -> None:
    project = ProjectProvider()
    checked = project.check({}, as_engine_sends(project_props(harbor)))
    assert checked.failures == [] and checked.inputs["storage_quota"] == 20
    created = project.create(as_engine_sends(checked.inputs))
    assert created.outs is not None
    pid = created.outs["project_id"]
    assert harbor.quota_of(pid)["hard"]["storage"] == 20 * GIB
    robot = RobotAccountProvider().create(as_engine_sends(robot_props(harbor)))
    assert robot.outs is not None and harbor.state.robots[robot.outs["robot_id"]]["duration"] == 30
    retention = RetentionPolicyProvider()
    props = as_engine_sends(retention_props(harbor, pid))
    assert retention.check({}, props).failures == []
    retention.create(props)
    ImmutableTagRuleProvider().create(as_engine_sends(rule_props(harbor, pid)))
    assert len(harbor.state.retentions) == len(harbor.state.immutable) == 1
