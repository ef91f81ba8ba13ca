"""The pack as the engine sees it: SDK policies built from the rules, SDK argument objects
(with the SDK's unknown-value proxies), and the per-stack policy config files."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi_policy.policy as sdk_policy
import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY, deserialize_properties
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE, unknown_checking_proxy

import policy.rules
from infra.profiles import DSM_HA_STANDBYS, PROFILES
from policy import secretness
from policy.pack import DEFAULT_LEVEL, build_policies, resource_from_args
from policy.rules import ALL_RULES
from policy.rules.common import SECRET_UNKNOWN, UNKNOWN, ResourceRule, is_secret, is_unknown, plain
from policy.secretness import deserialize_keeping_secrets
from tests.policy.builders import deployment_props, urn

CONFIG_DIR = Path(__file__).resolve().parents[2] / "policy" / "config"
POLICIES = {p.name: p for p in build_policies()}
RULES = {r.name: r for r in ALL_RULES}
JSON_TYPES: dict[str, tuple[type, ...]] = {
    "boolean": (bool,),
    "integer": (int,),
    "string": (str,),
    "array": (list,),
}


def options(**overrides: Any) -> PolicyResourceOptions:
    values: dict[str, Any] = {
        "protect": False,
        "ignore_changes": [],
        "delete_before_replace": None,
        "aliases": [],
        "custom_timeouts": PolicyCustomTimeouts(0, 0, 0),
        "additional_secret_outputs": [],
        "parent": None,
    }
    values.update(overrides)
    return PolicyResourceOptions(**values)


def resource_args(
    type_: str, props: dict[str, Any], config: Mapping[str, Any] | None = None, name: str = "r", **opts: Any
) -> ResourceValidationArgs:
    return ResourceValidationArgs(
        type_, unknown_checking_proxy(props), urn(type_, name), name, options(**opts), None, config
    )


def run_resource(policy_name: str, args: ResourceValidationArgs) -> list[str]:
    policy = POLICIES[policy_name]
    assert isinstance(policy, ResourceValidationPolicy)
    reported: list[str] = []

    def report(message: str, _urn: str | None = None) -> None:
        reported.append(message)

    policy.validate(args, report)
    return reported


def stack_resource(
    type_: str,
    props: dict[str, Any],
    name: str,
    property_dependencies: dict[str, list[PolicyResource]] | None = None,
    **opts: Any,
) -> PolicyResource:
    return PolicyResource(
        type_,
        unknown_checking_proxy(props),
        urn(type_, name),
        name,
        options(**opts),
        None,
        None,
        [],
        property_dependencies or {},
    )


def run_stack(
    policy_name: str, resources: list[PolicyResource], config: Mapping[str, Any] | None = None
) -> list[tuple[str, str | None]]:
    policy = POLICIES[policy_name]
    assert isinstance(policy, StackValidationPolicy)
    reported: list[tuple[str, str | None]] = []

    def report(message: str, violation_urn: str | None = None) -> None:
        reported.append((message, violation_urn))

    policy.validate(StackValidationArgs(resources, config), report)
    return reported


class TestPolicies:
    def test_every_rule_is_a_policy_of_the_right_kind(self) -> None:
        assert list(POLICIES) == [r.name for r in ALL_RULES]
        assert len(POLICIES) == 43
        for rule in ALL_RULES:
            expected = ResourceValidationPolicy if isinstance(rule, ResourceRule) else StackValidationPolicy
            assert isinstance(POLICIES[rule.name], expected)
            assert POLICIES[rule.name].description == rule.description

    def test_names_descriptions_and_schema_defaults(self) -> None:
        for rule in ALL_RULES:
            assert rule.name.replace("-", "").isalnum() and rule.name.islower()
            assert rule.description.endswith(".") and "\n" not in rule.description
            for key, schema in rule.config.items():
                assert "default" in schema and "description" in schema, f"{rule.name}.{key}"
                assert isinstance(schema["default"], JSON_TYPES[schema["type"]]), f"{rule.name}.{key}"

    def test_the_pack_defaults_to_advisory(self) -> None:
        assert DEFAULT_LEVEL == EnforcementLevel.ADVISORY
        assert all(p.enforcement_level is None for p in POLICIES.values())


class TestResourceAdapter:
    def test_sdk_unknowns_become_unknown(self) -> None:
        props = {"spec": {"replicas": UNKNOWN_NUMBER_VALUE, "template": {"labels": [UNKNOWN_STRING_VALUE]}}}
        resource = resource_from_args(resource_args("kubernetes:apps/v1:Deployment", props))
        assert resource.props == {"spec": {"replicas": UNKNOWN, "template": {"labels": [UNKNOWN]}}}

    def test_plain_leaves_known_values_alone(self) -> None:
        assert plain({"a": [1, "x", None, {"b": True}]}) == {"a": [1, "x", None, {"b": True}]}

    def test_unknown_replicas_in_a_preview_report_nothing(self) -> None:
        props = deployment_props(replicas=None)
        props["spec"]["replicas"] = UNKNOWN_NUMBER_VALUE
        props["spec"]["template"]["spec"].pop("affinity")
        assert (
            run_resource("multi-replica-spread", resource_args("kubernetes:apps/v1:Deployment", props)) == []
        )

    def test_known_values_are_reported_with_config_from_the_engine(self) -> None:
        cluster = "kubernetes:databases.dataservices.vmware.com/v1alpha1:PostgresCluster"
        spec = {
            "replicas": 1,
            "backupLocation": {"name": "b"},
            "backupConfig": {"schedules": [{"name": "s"}]},
        }
        args = resource_args(
            cluster, {"metadata": {"name": "pg", "namespace": "ns"}, "spec": spec}, {"minStandbys": 2.0}
        )
        assert run_resource("dsm-cluster-ha-backups", args) == [
            "PostgresCluster 'ns/pg' has 1 standby(s): set spec.replicas to 2 for HA (primary, replica and monitor)"
        ]

    def test_resource_options_reach_the_rules(self) -> None:
        project = {"name": "p", "url": "https://h", "force_destroy": False}
        unprotected = resource_args("pulumi-python:dynamic/harbor:Project", project, name="p")
        protected = resource_args("pulumi-python:dynamic/harbor:Project", project, name="p", protect=True)
        assert len(run_resource("protect-stateful-resources", unprotected)) == 1
        assert run_resource("protect-stateful-resources", protected) == []
        robot = {"url": "https://h", "password": None, "secret": None}
        marked = resource_args(
            "pulumi-python:dynamic/harbor:RobotAccount",
            robot,
            additional_secret_outputs=["password", "secret"],
        )
        assert run_resource("secret-outputs-marked", marked) == []


class TestStackAdapter:
    def test_data_flow_follows_property_dependencies(self) -> None:
        password = stack_resource(
            "pulumi-python:dynamic/random:Password", {"result": UNKNOWN_STRING_VALUE}, "pw"
        )
        leak = stack_resource(
            "kubernetes:core/v1:ConfigMap",
            {"metadata": {"name": "cm", "namespace": "ns"}, "data": {"X": UNKNOWN_STRING_VALUE}},
            "cm",
            {"data": [password]},
        )
        [(message, violation_urn)] = run_stack("no-secret-data-flow", [password, leak])
        assert violation_urn == leak.urn
        assert "computed from Password 'pw'" in message

    def test_empty_outputs_fall_back_to_the_inputs_seen_by_resource_validation(self) -> None:
        """A preview knows no outputs of Kubernetes objects whose provider is not known yet."""
        props = deployment_props(replicas=3)
        run_resource(
            "multi-replica-spread",
            resource_args("kubernetes:apps/v1:Deployment", props, name="chat-backend"),
        )
        without_outputs = stack_resource("kubernetes:apps/v1:Deployment", {}, "chat-backend")
        [(message, violation_urn)] = run_stack("deployment-has-pdb", [without_outputs])
        assert violation_urn == without_outputs.urn
        assert message.startswith("Deployment 'paif-chat/chat-backend' has no PodDisruptionBudget")

    def test_not_applicable_is_reported_to_the_engine(self) -> None:
        with pytest.raises(_NotApplicableError):
            run_stack("images-from-allowed-registry", [])


def load(stack: str) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((CONFIG_DIR / f"{stack}.json").read_text())
    return config


def _matches(value: Any, schema: Mapping[str, Any]) -> bool:
    if not isinstance(value, JSON_TYPES[schema["type"]]) or (
        schema["type"] == "integer" and isinstance(value, bool)
    ):
        return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    items = value if isinstance(value, list) else []
    return not ("items" in schema and not all(_matches(v, schema["items"]) for v in items))


@pytest.mark.parametrize("stack", ["local", "dev", "prod"])
class TestStackConfig:
    def test_every_rule_has_a_level_and_only_known_keys(self, stack: str) -> None:
        config = load(stack)
        assert set(config) == set(RULES), "policy config names exactly the pack's rules"
        for name, entry in config.items():
            assert entry["enforcementLevel"] in ("advisory", "mandatory", "disabled")
            for key, value in entry.items():
                if key == "enforcementLevel":
                    continue
                schema = RULES[name].config.get(key)
                assert schema is not None, f"{stack}.json: {name}.{key} is not a setting of {name}"
                assert _matches(value, schema), (
                    f"{stack}.json: {name}.{key}={value!r} does not match {schema}"
                )

    def test_levels_follow_the_environment_profile(self, stack: str) -> None:
        profile = PROFILES[stack]  # type: ignore[index]
        for name, entry in load(stack).items():
            if stack != "prod" and RULES[name].prod_only:
                assert entry["enforcementLevel"] == "disabled", name
            elif entry["enforcementLevel"] != "disabled":
                assert entry["enforcementLevel"] == profile.policy_enforcement, name

    def test_settings_agree_with_the_environment_profile(self, stack: str) -> None:
        profile, config = PROFILES[stack], load(stack)  # type: ignore[index]
        assert config["image-pinned"].get("requireDigest", False) == profile.require_image_digest
        if stack == "prod":
            assert config["deployment-min-replicas"]["minReplicas"] == profile.min_replicas
            assert config["hpa-min-replicas"]["minReplicas"] == profile.min_replicas
            assert config["dsm-cluster-ha-backups"]["minStandbys"] == DSM_HA_STANDBYS == profile.db_standbys
            assert config["dsm-cluster-ha-backups"]["requireBackups"] == profile.db_backups_required
            assert profile.db_sslmode in config["postgres-sslmode-required"]["allowedModes"]
        if profile.harbor == "off":
            assert config["images-from-allowed-registry"]["allowedRegistries"], "no Harbor: name the registry"


def test_every_rule_has_its_own_tests() -> None:
    """A rule nobody tests is a rule nobody knows works: the tests of its concern
    (tests/policy/test_<concern>.py for policy/rules/<concern>.py) must exercise it."""
    concerns = [m.name for m in pkgutil.iter_modules(policy.rules.__path__) if m.name != "common"]
    here = Path(__file__).parent
    for rule in ALL_RULES:
        for concern in concerns:
            module = importlib.import_module(f"policy.rules.{concern}")
            names = [n for n, v in vars(module).items() if v is rule and n.isupper()]
            if names:
                break
        else:
            raise AssertionError(f"policy rule {rule.name} is not a constant of any policy/rules module")
        tests = (here / f"test_{concern}.py").read_text()
        assert f"{names[0]}.evaluate(" in tests, (
            f"{rule.name} ({names[0]}) is not evaluated in test_{concern}.py"
        )


class TestSecretness:
    """The engine sends secrets with a signature (KeepSecrets: true); the pack keeps it."""

    SECRET = {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG}

    def wire(self) -> dict[str, Any]:
        return {
            "data": {"PLAIN": "x", "FROM_CONFIG": {**self.SECRET, "value": "s3cr3t-value"}},
            "env": [{**self.SECRET, "value": UNKNOWN_STRING_VALUE}],
            "whole": {**self.SECRET, "value": {"k": "v", "n": 3}},
            "replicas": 2,
        }

    def test_secrets_keep_their_marker_and_their_value(self) -> None:
        props = deserialize_keeping_secrets(self.wire())
        sdk = deserialize_properties(self.wire())
        assert {k: v for k, v in props.items() if k != "env"} == {k: v for k, v in sdk.items() if k != "env"}
        assert not is_secret(props["data"]["PLAIN"])
        assert is_secret(props["data"]["FROM_CONFIG"]) and props["data"]["FROM_CONFIG"] == "s3cr3t-value"
        assert props["env"] == [SECRET_UNKNOWN] and is_unknown(props["env"][0])
        assert is_secret(props["whole"]["k"]) and props["whole"]["n"] == 3

    def test_markers_survive_the_sdk_proxies_and_reach_the_rules(self) -> None:
        args = ResourceValidationArgs(
            "kubernetes:core/v1:ConfigMap",
            unknown_checking_proxy(deserialize_keeping_secrets(self.wire())),
            urn("kubernetes:core/v1:ConfigMap", "cm"),
            "cm",
            options(),
            None,
            None,
        )
        resource = resource_from_args(args)
        assert is_secret(resource.props["data"]["FROM_CONFIG"]) and resource.props["env"] == [SECRET_UNKNOWN]

    def test_install_replaces_what_the_sdk_analyzer_calls(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(sdk_policy, "deserialize_properties", vars(sdk_policy)["deserialize_properties"])
        secretness.install()
        assert vars(sdk_policy)["deserialize_properties"] is deserialize_keeping_secrets
        for method in (
            sdk_policy._PolicyAnalyzerServicer.Analyze,
            sdk_policy._PolicyAnalyzerServicer.AnalyzeStack,
        ):
            assert "deserialize_properties(json_format.MessageToDict(" in inspect.getsource(method)

    def test_remediations_keep_the_sdk_s_own_secret_proxies(self) -> None:
        assert deserialize_keeping_secrets({"a": 1}, True) == deserialize_properties({"a": 1}, True)
