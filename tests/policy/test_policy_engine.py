"""The pack in the real engine: `pulumi preview --policy-pack policy --policy-pack-config
policy/config/<stack>.json` on fixture programs, asserting exactly which policies fire on
which resources, at which level, and that a compliant stack with preview unknowns passes."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from policy.gate import CONFIG_DIR, PACK, PolicyViolation, parse_events
from policy.rules import ALL_RULES
from tests.integration.engine import PulumiProgram

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).parent / "fixtures"
PROD_ONLY = {r.name for r in ALL_RULES if r.prod_only}
STACK = "policy-fixture-k8s-violations-it"
"""What a stack-level violation is reported against (the stack resource of the k8s fixture)."""

K8S_EXPECTED = Counter(
    {
        ("no-secrets-in-configmap", "settings"): 1,
        ("pais-endpoints-https", "settings"): 1,
        ("postgres-sslmode-required", "settings"): 1,
        ("no-secret-data-flow", "settings"): 1,
        ("no-default-namespace", "web"): 1,
        ("deployment-min-replicas", "web"): 1,
        ("image-pinned", "web"): 1,
        ("images-from-allowed-registry", "web"): 1,
        ("container-resources", "web"): 1,
        ("pod-security-restricted", "web"): 1,
        ("pod-security-baseline", "web"): 1,
        ("container-probes", "web"): 1,
        ("no-secret-literal-env", "web"): 1,
        ("gpu-requests-match-limits", "web"): 1,
        ("hpa-min-replicas", "web"): 1,
        # No default deny in `default`, and no policy of its own.
        ("network-policy-coverage", "web"): 2,
        ("pdb-allows-disruption", "web-pdb"): 1,
        ("no-default-namespace", "web-pdb"): 1,
        ("no-plain-http-external-service", "web-lb"): 1,
        ("ingress-tls-covers-hosts", "web-ingress"): 1,
        ("multi-replica-spread", "worker"): 1,
        # Its HPA may scale it to 4 replicas with nothing spreading them; nobody scrapes it either.
        ("hpa-scaled-spread", "scaled"): 1,
        ("monitoring-required", "scaled"): 1,
        ("deployment-has-pdb", "worker"): 1,
        # Both pull paif-chat/worker:1.0.0; the project's immutable tag rule covers only v*.
        ("image-tag-immutable", "worker"): 1,
        ("image-tag-immutable", "scaled"): 1,
        ("rbac-least-privilege", "worker-role"): 1,
        ("hpa-min-replicas", "worker"): 1,
        # web asks for a GPU and does not tolerate the GPU taint.
        ("gpu-requests-only-tolerating", "web"): 1,
        # Neither namespace is scraped; the stack has no alert rules and no monitoring stack.
        ("monitoring-required", "web"): 1,
        ("monitoring-required", "worker"): 1,
        ("monitoring-required", STACK): 2,
    }
)
PLATFORM_EXPECTED = Counter(
    {
        ("harbor-tls-verified", "registry-project"): 1,
        ("harbor-project-secure", "registry-project"): 3,
        ("protect-stateful-resources", "registry-project"): 2,
        ("harbor-robot-expiry-scope", "registry-robot"): 1,
        ("supervisor-namespace-quotas", "ns"): 4,
        ("vgpu-class-full-memory-reservation", "gpu-class"): 1,
        ("secret-outputs-marked", "handmade-password"): 1,
        ("dsm-cluster-ha-backups", "chat-pg"): 3,
        ("protect-stateful-resources", "chat-pg"): 1,
        ("no-ignore-changes-on-security-fields", "app-secret"): 1,
        ("postgres-sslmode-required", "app-role"): 1,
        ("gpu-pool-tainted", "gpu-cluster"): 1,
        ("addon-sources-allowed", "gpu-operator"): 1,
        ("addon-versions-pinned", "gpu-operator"): 1,
    }
)


DLVM_EXPECTED = Counter(
    {
        ("dlvm-workload-declared", "bare-vm"): 1,
        ("dlvm-workload-declared", "inline-vm"): 1,
        ("dlvm-no-plaintext-secrets", "inline-vm"): 1,
        # Plain http published; TLS 1.0 allowed.
        ("dlvm-tls-only", "bad-vm"): 2,
        # web has no memory limit; api no health check; the VM no readiness probe.
        ("dlvm-container-limits-health", "bad-vm"): 3,
        # web's image: not from the Harbor project, no tag.
        ("dlvm-images-pinned-allowed", "bad-vm"): 2,
        ("dlvm-no-plaintext-secrets", "bad-vm"): 1,
    }
)


def test_the_fixtures_make_every_rule_fire() -> None:
    fixtures = K8S_EXPECTED + PLATFORM_EXPECTED + DLVM_EXPECTED
    assert {policy for policy, _ in fixtures} == {r.name for r in ALL_RULES}


def preview(program: PulumiProgram, stack_config: str) -> tuple[int, list[PolicyViolation]]:
    program.env["PULUMI_ENABLE_STREAMING_JSON_PREVIEW"] = "true"
    result = program.run(
        "preview",
        "--json",
        "--policy-pack",
        str(PACK),
        "--policy-pack-config",
        str(CONFIG_DIR / f"{stack_config}.json"),
        check=False,
    )
    violations, errors, _ = parse_events(result.stdout)
    unexpected = [e for e in errors if e != "preview failed"]
    assert not unexpected, (
        f"the preview itself failed: {unexpected}\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    )
    return result.returncode, violations


def fired(violations: list[PolicyViolation]) -> Counter[tuple[str, str]]:
    return Counter((v.policy, v.urn.rsplit("::", 1)[-1]) for v in violations)


@pytest.fixture(scope="module")
def k8s_program(tmp_path_factory: pytest.TempPathFactory) -> PulumiProgram:
    return PulumiProgram(FIXTURES / "k8s_violations", tmp_path_factory.mktemp("k8s"))


def test_kubernetes_violations_block_prod(k8s_program: PulumiProgram) -> None:
    returncode, violations = preview(k8s_program, "prod")
    assert fired(violations) == K8S_EXPECTED
    assert {v.level for v in violations} == {"mandatory"}
    assert returncode != 0


def test_dev_reports_the_same_as_advisory_without_prod_only_rules(k8s_program: PulumiProgram) -> None:
    returncode, violations = preview(k8s_program, "dev")
    expected = Counter({key: n for key, n in K8S_EXPECTED.items() if key[0] not in PROD_ONLY})
    assert fired(violations) == expected
    assert {v.level for v in violations} == {"advisory"}
    assert returncode == 0, "advisory violations must not fail a dev preview"


def test_platform_violations_block_prod(tmp_path: Path) -> None:
    returncode, violations = preview(PulumiProgram(FIXTURES / "platform_violations", tmp_path), "prod")
    assert fired(violations) == PLATFORM_EXPECTED
    assert returncode != 0


def test_dlvm_workload_violations_are_reported_in_dev(tmp_path: Path) -> None:
    """dev's app runs on a DLVM: the pack sees its workload through the VM's annotation."""
    returncode, violations = preview(PulumiProgram(FIXTURES / "dlvm_violations", tmp_path), "dev")
    assert fired(violations) == DLVM_EXPECTED
    assert {v.level for v in violations} == {"advisory"}
    assert returncode == 0
    assert not any("hunter2" in v.message for v in violations)


def test_compliant_stack_with_preview_unknowns_passes_prod(tmp_path: Path) -> None:
    program = PulumiProgram(FIXTURES / "compliant", tmp_path)
    returncode, violations = preview(program, "prod")
    assert violations == []
    assert returncode == 0


def test_objects_released_on_purpose_pass_prod_and_only_those(tmp_path: Path) -> None:
    """The documented way to replace or delete a stateful object (README: Data protection):
    `paif:protection.release` names it, the program lifts its protection for the run, and the
    prod gate's mandatory protect-stateful-resources lets exactly that object through; the
    engine hands the pack the stack's config (policy/secretness.py)."""
    program = PulumiProgram(FIXTURES / "compliant", tmp_path)
    program.set_config("paif:protection", json.dumps({"release": ["supervisorNamespace", "database"]}))
    returncode, violations = preview(program, "prod")
    assert violations == []
    assert returncode == 0


SECRET_FLOWS_CONFIG = {
    "greeting": ("hello-there-7781", True),
    "held": ("held-value-7782-zz", True),
    "plainToken": ("plain-token-7783", False),
    "appName": ("chat-assistant-7784", False),
}
SECRET_FLOWS_EXPECTED = Counter(
    {
        ("no-secret-data-flow", "from-config-secret"): 1,
        ("no-secret-data-flow", "from-unsecret-password"): 1,
        ("no-secret-data-flow", "from-unsecret-config"): 1,
        ("no-secret-data-flow", "copy-of-a-secret"): 1,
        ("secret-outputs-marked", "from-plain-config"): 1,
        ("no-secrets-in-configmap", "binary-key"): 1,
    }
)


@pytest.mark.parametrize("stack_config", ["prod", "dev"])
def test_secret_flows_under_harmless_names_each_fail_with_their_rule(tmp_path: Path, stack_config: str) -> None:
    """On the real engine: the provider marks every Secret value secret, so a Secret filled
    from plain config is seen through the stack config the engine hands the pack; a copy of a
    secret that lost its marker, through the secrets the stack holds (resources and config).
    The look-alikes (`limits`, `plain-settings`, `proper`) raise nothing, and no message
    carries a value."""
    program = PulumiProgram(FIXTURES / "secret_flows", tmp_path)
    for key, (value, secret) in SECRET_FLOWS_CONFIG.items():
        program.set_config(key, value, secret=secret)
    returncode, violations = preview(program, stack_config)
    assert fired(violations) == SECRET_FLOWS_EXPECTED
    assert (returncode != 0) == (stack_config == "prod")
    for violation in violations:
        assert not any(value in violation.message for value, _ in SECRET_FLOWS_CONFIG.values()), violation
