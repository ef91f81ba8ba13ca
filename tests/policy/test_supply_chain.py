"""Supply-chain rules: allowed registries, pinned images, secure Harbor projects."""

from __future__ import annotations

from typing import Any

import pytest

from policy.rules.common import UNKNOWN, NotApplicable
from policy.rules.supply_chain import ALLOWED_REGISTRY, HARBOR_PROJECT, IMAGE_PINNED
from tests.policy.builders import DIGEST, HARBOR, container, deployment, harbor_connection, res

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
