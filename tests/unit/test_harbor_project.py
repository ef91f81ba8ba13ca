"""HarborProject and the registry tier (infra/stack_registry.py) under Pulumi mocks, from the
committed dev and prod stack configs: what each profile declares and how secrets travel."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pulumi
import pytest
from pulumi.runtime.mocks import MockMonitor, MockResourceArgs
from pulumi.runtime.sync_await import _sync_await

from components.harbor_project import dockerconfigjson
from infra.config import ConfigError, load_settings
from infra.stack_registry import declare_registry
from tests.unit import harness
from tests.unit.harness import Recorded, contains_plain, flatten_config, run, stack_config

PROJECT = "pulumi-python:dynamic/harbor:Project"
ROBOT = "pulumi-python:dynamic/harbor:RobotAccount"
RETENTION = "pulumi-python:dynamic/harbor:RetentionPolicy"
IMMUTABLE = "pulumi-python:dynamic/harbor:ImmutableTagRule"
COMPONENT = "paif:registry:HarborProject"
HARBOR_PASSWORD = "harbor-pw-0453"
ROBOT_SECRET = "robot-secret-0461"
SECRETS = {
    "vcenterPassword": "vcenter-pw-0451",
    "paisClientSecret": "pais-0452",
    "harborPassword": HARBOR_PASSWORD,
}

Options = dict[tuple[str, str], tuple[list[str], bool]]


class HarborRecorder(harness.Recorder):
    """The harness recorder, plus the outputs Harbor would return for projects and robots."""

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        id_, outputs = super().new_resource(args)
        if args.typ == PROJECT:
            outputs["project_id"] = 17
        if args.typ == ROBOT:
            outputs.update(
                robot_id=3,
                full_name=f"robot${args.inputs['project']}+{args.inputs['name']}",
                secret=ROBOT_SECRET,
            )
        return id_, outputs


@pytest.fixture
def options(monkeypatch: pytest.MonkeyPatch) -> Iterator[Options]:
    """Each registered resource's additional secret outputs and protect flag, by (type, name)."""
    recorded: Options = {}
    original: Callable[[MockMonitor, Any], Any] = MockMonitor.RegisterResource

    def register(self: MockMonitor, request: Any) -> Any:
        recorded[(request.type, request.name)] = (
            list(request.additionalSecretOutputs),
            bool(request.protect),
        )
        return original(self, request)

    monkeypatch.setattr(MockMonitor, "RegisterResource", register)
    monkeypatch.setattr(harness, "Recorder", HarborRecorder)
    yield recorded


def declare(env: str, *, secrets: dict[str, str] | None = None, preview: bool = False, **kw: Any) -> Recorded:
    config, secret_keys = flatten_config(stack_config(env), SECRETS if secrets is None else secrets)

    def program() -> None:
        registry = declare_registry(load_settings())
        if registry is not None:
            pulumi.export("registry", registry.registry)
            pulumi.export("project", registry.project)
            pulumi.export("pullUsername", registry.pull_username)
            pulumi.export("pullSecret", registry.pull_secret)
            pulumi.export("dockerconfigjson", registry.dockerconfigjson)

    return run(program, stack=env, preview=preview, config=config, secret_keys=secret_keys, **kw)


def resolved(output: Any) -> tuple[Any, bool]:
    """An exported Output's value and whether it is a secret."""
    return _sync_await(output.future()), _sync_await(output.is_secret())


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_project_is_private_scanned_and_blocks_vulnerable_images(env: str, options: Options) -> None:
    harbor = stack_config(env)["harbor"]
    (project,) = declare(env).of_type(PROJECT)
    props = project.props
    assert props["name"] == harbor["project"]
    assert props["public"] is False
    assert props["vulnerability_scanning"] is True
    assert props["deployment_security"] == harbor.get("deploymentSecurity", "high")
    assert props["enable_content_trust_cosign"] is True and props["auto_sbom_generation"] is True
    assert props["storage_quota"] == harbor["storageQuotaGb"]
    assert props["force_destroy"] is False
    assert props["url"] == harbor["url"] and props["insecure"] is False


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_robots_are_project_scoped_expiring_and_least_privilege(env: str, options: Options) -> None:
    harbor = stack_config(env)["harbor"]
    robots = {r.props["name"]: r.props for r in declare(env).of_type(ROBOT)}
    assert set(robots) == {"app-pull", "ci-push"}
    for robot in robots.values():
        assert robot["level"] == "project"
        assert robot["duration"] == harbor["robotExpiryDays"] and robot["duration"] != -1
        assert [(p["kind"], p["namespace"]) for p in robot["permissions"]] == [("project", harbor["project"])]
    assert robots["app-pull"]["permissions"][0]["access"] == [{"resource": "repository", "action": "pull"}]
    assert robots["ci-push"]["permissions"][0]["access"] == [
        {"resource": "repository", "action": "pull"},
        {"resource": "repository", "action": "push"},
    ]


def test_credentials_and_robot_secrets_are_secrets(options: Options) -> None:
    rec = declare("prod")
    harbor_resources = [r for r in rec.resources if r.type.startswith("pulumi-python:dynamic/harbor:")]
    assert len(harbor_resources) == 5
    for resource in harbor_resources:
        assert resource.is_secret("password"), f"{resource.name}: password not a secret input"
        assert not contains_plain(resource.inputs, HARBOR_PASSWORD)
        secret_outputs, _ = options[(resource.type, resource.name)]
        assert "password" in secret_outputs
    for robot in rec.of_type(ROBOT):
        assert "secret" in options[(ROBOT, robot.name)][0]
    for key in ("pullSecret", "dockerconfigjson"):
        value, secret = resolved(rec.exports[key])
        assert secret, f"{key} is not a secret output"
        assert ROBOT_SECRET in value
    username, secret = resolved(rec.exports["pullUsername"])
    assert (username, secret) == ("robot$paif-chat+app-pull", False)


def test_dockerconfigjson_authenticates_the_pull_robot_at_the_registry(options: Options) -> None:
    value, _ = resolved(declare("prod").exports["dockerconfigjson"])
    entry = json.loads(value)["auths"]["harbor.paif.example.internal"]
    assert entry["username"] == "robot$paif-chat+app-pull" and entry["password"] == ROBOT_SECRET
    assert base64.b64decode(entry["auth"]).decode() == f"robot$paif-chat+app-pull:{ROBOT_SECRET}"
    assert json.loads(dockerconfigjson("h:8443", "u", "p"))["auths"]["h:8443"]["auth"] == "dTpw"


def test_retention_and_immutable_tags_only_in_full(options: Options) -> None:
    prod = declare("prod")
    (retention,) = prod.of_type(RETENTION)
    assert retention.props["retain_last"] == stack_config("prod")["harbor"]["retainLast"]
    assert retention.props["schedule"] == "0 0 3 * * *"
    assert (retention.props["repositories"], retention.props["tags"]) == ("**", "**")
    (immutable,) = prod.of_type(IMMUTABLE)
    assert immutable.props["tag_pattern"] == stack_config("prod")["harbor"]["immutableTagPattern"]
    dev = declare("dev")
    assert not dev.of_type(RETENTION) and not dev.of_type(IMMUTABLE)
    assert len(dev.of_type(PROJECT)) == 1 and len(dev.of_type(ROBOT)) == 2


def test_prod_project_is_protected(options: Options) -> None:
    declare("prod")
    assert options[(PROJECT, "registry-project")][1] is True
    assert options[(ROBOT, "registry-pull-robot")][1] is False
    # Protected in every environment, not only in prod.
    declare("dev")
    assert options[(PROJECT, "registry-project")][1] is True


def test_children_belong_to_the_component(options: Options) -> None:
    rec = declare("prod")
    assert [r.name for r in rec.of_type(COMPONENT)] == ["registry"]
    assert len([r for r in rec.resources if r.type.startswith("pulumi-python:dynamic/harbor:")]) == 5


def test_no_registry_where_the_profile_has_none(options: Options) -> None:
    rec = declare("local", secrets={})
    assert not [r for r in rec.resources if "harbor" in r.type.lower()]
    assert rec.exports == {}


def test_up_without_the_harbor_password_fails_before_declaring_anything(options: Options) -> None:
    secrets = {k: v for k, v in SECRETS.items() if k != "harborPassword"}
    rec = declare("dev", secrets=secrets, expect_error=True)
    assert isinstance(rec.error, ConfigError)
    assert "paif:harborPassword" in str(rec.error) and "pulumi config set --secret" in str(rec.error)
    assert rec.resources == []


def test_preview_needs_no_harbor_password(options: Options) -> None:
    secrets = {k: v for k, v in SECRETS.items() if k != "harborPassword"}
    rec = declare("prod", secrets=secrets, preview=True)
    harbor_resources = [r for r in rec.resources if r.type.startswith("pulumi-python:dynamic/harbor:")]
    assert len(harbor_resources) == 5
    assert all("password" not in r.inputs for r in harbor_resources)
