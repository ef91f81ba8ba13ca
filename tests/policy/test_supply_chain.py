"""Supply-chain rules: allowed registries, pinned images, secure Harbor projects."""

from __future__ import annotations

from typing import Any

import pytest

from policy.rules.common import UNKNOWN, NotApplicable, Res
from policy.rules.supply_chain import ALLOWED_REGISTRY, HARBOR_PROJECT, IMAGE_PINNED, IMMUTABLE_TAGS
from tests.policy.builders import DIGEST, HARBOR, container, deployment, harbor_connection, res, urn

PROJECT = "pulumi-python:dynamic/harbor:Project"


def harbor_project(**overrides: Any) -> dict[str, Any]:
    """The inputs HarborProject gives the dynamic resource."""
    props: dict[str, Any] = {
        **harbor_connection(),
        "name": "paif-chat",
        "public": False,
        "vulnerability_scanning": True,
        "deployment_security": "high",
        "enable_content_trust_cosign": True,
        "auto_sbom_generation": True,
        "storage_quota": 200,
        "force_destroy": False,
        "project_id": None,
    }
    props.update(overrides)
    return props


class TestAllowedRegistry:
    def test_images_from_the_declared_harbor_project_pass(self) -> None:
        assert ALLOWED_REGISTRY.evaluate([res(PROJECT, harbor_project()), deployment()]) == []

    def test_image_from_another_project_fails(self) -> None:
        workload = deployment(containers=[container(image=f"{HARBOR}/library/nginx:1.27")])
        [violation] = ALLOWED_REGISTRY.evaluate([res(PROJECT, harbor_project()), workload])
        assert violation.urn == workload.urn
        assert violation.message == (
            f"container 'backend' of Deployment 'paif-chat/chat-backend' pulls '{HARBOR}/library/nginx:1.27': "
            f"push it to and pull it from {HARBOR}/paif-chat/"
        )

    def test_image_from_docker_hub_fails_with_configured_prefixes(self) -> None:
        workload = deployment(containers=[container(image="docker.io/library/nginx:1.27")])
        violations = ALLOWED_REGISTRY.evaluate(
            [workload], {"allowedRegistries": ["registry.local.paif.test/paif"]}
        )
        assert len(violations) == 1

    def test_configured_prefix_passes(self) -> None:
        workload = deployment(containers=[container(image="registry.local.paif.test/paif/chat:1.0")])
        assert (
            ALLOWED_REGISTRY.evaluate([workload], {"allowedRegistries": ["registry.local.paif.test/paif/"]})
            == []
        )

    def test_unknown_project_name_allows_the_harbor_host(self) -> None:
        workload = deployment(containers=[container(image=f"{HARBOR}/anything/chat:1.0")])
        assert ALLOWED_REGISTRY.evaluate([res(PROJECT, harbor_project(name=UNKNOWN)), workload]) == []

    def test_no_allow_list_fails_closed_naming_the_setting(self) -> None:
        [violation] = ALLOWED_REGISTRY.evaluate([deployment()])
        assert violation.urn is None
        assert "images-from-allowed-registry.allowedRegistries is empty" in violation.message
        assert ALLOWED_REGISTRY.evaluate([deployment()], {"useDeclaredHarborProjects": False}) != []

    def test_not_applicable_without_containers(self) -> None:
        with pytest.raises(NotApplicable, match="runs no containers"):
            ALLOWED_REGISTRY.evaluate([res(PROJECT, harbor_project())])


class TestImagePinned:
    @pytest.mark.parametrize(
        "image", [f"{HARBOR}/p/app:1.4.2", f"{HARBOR}/p/app@{DIGEST}", f"{HARBOR}:5000/p/app:v1"]
    )
    def test_pinned_images_pass(self, image: str) -> None:
        assert IMAGE_PINNED.evaluate(deployment(containers=[container(image=image)])) == []

    @pytest.mark.parametrize(
        ("image", "problem"),
        [
            (f"{HARBOR}/p/app:latest", "uses :latest"),
            (f"{HARBOR}/p/app", "has no tag"),
            (f"{HARBOR}:5000/p/app", "has no tag"),
        ],
    )
    def test_unpinned_images_fail(self, image: str, problem: str) -> None:
        [message] = IMAGE_PINNED.evaluate(deployment(containers=[container(image=image)]))
        assert problem in message

    def test_digest_required_when_configured(self) -> None:
        tagged = deployment(containers=[container(image=f"{HARBOR}/p/app:1.4.2")])
        assert IMAGE_PINNED.evaluate(tagged, {"requireDigest": True}) == [
            f"container 'backend' of Deployment 'paif-chat/chat-backend' image '{HARBOR}/p/app:1.4.2' is not pinned "
            "by digest: use registry/path@sha256:<digest>"
        ]
        pinned = deployment(containers=[container(image=f"{HARBOR}/p/app@{DIGEST}")])
        assert IMAGE_PINNED.evaluate(pinned, {"requireDigest": True}) == []

    def test_unknown_image_is_not_a_violation(self) -> None:
        assert IMAGE_PINNED.evaluate(deployment(containers=[container(image=UNKNOWN)])) == []  # type: ignore[arg-type]


RULE = "pulumi-python:dynamic/harbor:ImmutableTagRule"


def immutable_rule(
    tags: Any, *, repos: Any = "**", name: str = "paif-chat-immutable-tags", project: str = "paif-chat", **props: Any
) -> Res:
    """An ImmutableTagRule whose project_id came from the Project `project` (as HarborProject declares it)."""
    return res(
        RULE,
        {**harbor_connection(), "project_id": 7, "tag_pattern": tags, "repo_pattern": repos, "disabled": False, **props},
        name=name,
        property_dependencies={"project_id": (urn(PROJECT, project),)},
    )


def pulling(*images: str) -> list[Res]:
    """The project `paif-chat` and one Deployment per image."""
    project = res(PROJECT, harbor_project(), name="paif-chat")
    workloads = [deployment(f"app-{i}", containers=[container(image=image)]) for i, image in enumerate(images)]
    return [project, *workloads]


class TestImmutableTags:
    def test_a_tag_the_rule_covers_passes(self) -> None:
        stack = [*pulling(f"{HARBOR}/paif-chat/chat-backend:v1.4.2"), immutable_rule("v*")]
        assert IMMUTABLE_TAGS.evaluate(stack) == []

    def test_a_tag_no_rule_covers_fails_naming_image_tag_and_rules(self) -> None:
        stack = [*pulling(f"{HARBOR}/paif-chat/chat-backend:1.4.2"), immutable_rule("v*")]
        [violation] = IMMUTABLE_TAGS.evaluate(stack)
        assert "pulls 'harbor.paif.example.internal/paif-chat/chat-backend:1.4.2'" in violation.message
        assert "covers tag '1.4.2' (rules: 'v*' in '**')" in violation.message
        assert violation.urn == urn("kubernetes:apps/v1:Deployment", "app-0")

    @pytest.mark.parametrize(
        ("tags", "tag"), [("{v*,[0-9]*}", "1.4.2"), ("release-[0-9]*", "release-2"), ("**", "anything")]
    )
    def test_brace_class_and_doublestar_patterns_match_as_harbor_does(self, tags: str, tag: str) -> None:
        stack = [*pulling(f"{HARBOR}/paif-chat/chat-backend:{tag}"), immutable_rule(tags)]
        assert IMMUTABLE_TAGS.evaluate(stack) == []

    def test_tags_are_case_sensitive(self) -> None:
        stack = [*pulling(f"{HARBOR}/paif-chat/chat-backend:V1.4.2"), immutable_rule("v*")]
        assert len(IMMUTABLE_TAGS.evaluate(stack)) == 1

    def test_a_digest_pins_the_image_whatever_its_tag(self) -> None:
        stack = [*pulling(f"{HARBOR}/paif-chat/chat-backend:1.4.2@{DIGEST}"), immutable_rule("v*")]
        assert IMMUTABLE_TAGS.evaluate(stack) == []

    def test_a_rule_scoped_to_other_repositories_does_not_cover(self) -> None:
        stack = [*pulling(f"{HARBOR}/paif-chat/chat-backend:v1.4.2"), immutable_rule("v*", repos="chat-frontend")]
        assert len(IMMUTABLE_TAGS.evaluate(stack)) == 1
        stack = [*pulling(f"{HARBOR}/paif-chat/team/chat-backend:v1"), immutable_rule("v*", repos="*")]
        assert len(IMMUTABLE_TAGS.evaluate(stack)) == 1, "* stays within one path segment"
        stack = [*pulling(f"{HARBOR}/paif-chat/team/chat-backend:v1"), immutable_rule("v*", repos="team/**")]
        assert IMMUTABLE_TAGS.evaluate(stack) == []

    def test_any_enabled_rule_may_cover_and_a_disabled_one_does_not(self) -> None:
        image = f"{HARBOR}/paif-chat/chat-backend:1.4.2"
        assert IMMUTABLE_TAGS.evaluate([*pulling(image), immutable_rule("v*"), immutable_rule("1.*", name="b")]) == []
        stack = [*pulling(image), immutable_rule("v*"), immutable_rule("1.*", name="b", disabled=True)]
        assert len(IMMUTABLE_TAGS.evaluate(stack)) == 1

    def test_unknown_patterns_in_a_preview_decide_nothing(self) -> None:
        stack = [*pulling(f"{HARBOR}/paif-chat/chat-backend:1.4.2"), immutable_rule(UNKNOWN)]
        assert IMMUTABLE_TAGS.evaluate(stack) == []

    def test_images_of_other_registries_are_another_rules_concern(self) -> None:
        stack = [*pulling("registry.example.com/team/app:1.0"), immutable_rule("v*")]
        assert IMMUTABLE_TAGS.evaluate(stack) == []

    def test_a_project_without_enabled_immutable_rules_protects_no_tag(self) -> None:
        """Every tag of such a project can be overwritten: an image pulled from it by tag fails,
        by digest passes."""
        stack = pulling(f"{HARBOR}/paif-chat/chat-backend:v1.4.2", f"{HARBOR}/paif-chat/chat-frontend:v1@{DIGEST}")
        [violation] = IMMUTABLE_TAGS.evaluate(stack)
        assert violation.urn == stack[1].urn
        assert violation.message == (
            f"container 'backend' of Deployment 'paif-chat/app-0' pulls '{HARBOR}/paif-chat/chat-backend:v1.4.2': "
            f"the Harbor project {HARBOR}/paif-chat/ has no enabled immutable tag rule, so a push can overwrite it "
            "under running pods: declare one whose tag pattern covers 'v1.4.2' (an ImmutableTagRule of the "
            "project), or pin a @sha256 digest"
        )
        disabled = immutable_rule("v*", disabled=True)
        assert len(IMMUTABLE_TAGS.evaluate([*pulling(f"{HARBOR}/paif-chat/chat-backend:v1"), disabled])) == 1
        # A rule of a project the stack does not declare covers nothing here.
        orphan = immutable_rule("v*", project="someone-elses")
        assert len(IMMUTABLE_TAGS.evaluate([*pulling(f"{HARBOR}/paif-chat/chat-backend:v1"), orphan])) == 1

    def test_a_stack_without_a_harbor_project_is_not_applicable(self) -> None:
        workload = deployment(containers=[container(image=f"{HARBOR}/paif-chat/chat-backend:1.4.2")])
        with pytest.raises(NotApplicable, match="declares no Harbor project"):
            IMMUTABLE_TAGS.evaluate([workload, immutable_rule("v*")])


class TestHarborProject:
    def test_private_scanned_blocking_project_passes(self) -> None:
        assert HARBOR_PROJECT.evaluate(res(PROJECT, harbor_project())) == []

    @pytest.mark.parametrize("severity", ["none", "low", "medium"])
    def test_stricter_thresholds_pass(self, severity: str) -> None:
        assert HARBOR_PROJECT.evaluate(res(PROJECT, harbor_project(deployment_security=severity))) == []

    def test_public_project_fails(self) -> None:
        assert HARBOR_PROJECT.evaluate(res(PROJECT, harbor_project(public=True), name="p")) == [
            "Project 'p' is public: set public to false"
        ]

    def test_project_without_scanning_fails(self) -> None:
        [message] = HARBOR_PROJECT.evaluate(res(PROJECT, harbor_project(vulnerability_scanning=False)))
        assert "does not scan on push" in message

    @pytest.mark.parametrize(
        ("severity", "now"),
        [(None, "does not block vulnerable images"), ("critical", "blocks only 'critical' vulnerabilities")],
    )
    def test_weak_deployment_security_fails(self, severity: str | None, now: str) -> None:
        assert HARBOR_PROJECT.evaluate(
            res(PROJECT, harbor_project(deployment_security=severity), name="p")
        ) == [f"Project 'p' {now}: set deployment_security to none or low or medium or high"]

    def test_official_provider_names(self) -> None:
        props = {
            "name": "p",
            "public": "true",
            "vulnerabilityScanning": False,
            "deploymentSecurity": "critical",
        }
        assert len(HARBOR_PROJECT.evaluate(res("harbor:index/project:Project", props))) == 3
