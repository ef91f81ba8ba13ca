"""Supply chain: images come pinned from our Harbor project, which scans and blocks."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from components.names import HARBOR_SEVERITIES, repository_pattern_matches, tag_pattern_matches
from policy.rules.common import (
    Context,
    NotApplicable,
    Res,
    ResourceRule,
    Rule,
    StackRule,
    Violation,
    describe,
    dynamic,
    first,
    is_unknown,
    truthy,
    workload_containers,
)

HARBOR_PROJECTS = (dynamic("harbor", "Project"), "harbor:index/project:Project")
IMMUTABLE_TAG_RULES = (dynamic("harbor", "ImmutableTagRule"),)
SEVERITIES: list[str] = list(HARBOR_SEVERITIES)
DIGEST = re.compile(r"@sha256:[a-f0-9]{64}$")


def _project_prefix(project: Res) -> str | None:
    """`host/project/` of a Harbor project (`host/` when its name is unknown), None without a host."""
    url, name = project.props.get("url"), project.props.get("name")
    host = urlsplit(url).netloc if isinstance(url, str) else ""
    if not host:
        return None
    return f"{host}/{name}/" if isinstance(name, str) else f"{host}/"


def _declared_prefixes(resources: Sequence[Res]) -> list[str]:
    """`host/project/` of each Harbor project in the stack (`host/` when the name is unknown)."""
    return [prefix for p in resources if p.type in HARBOR_PROJECTS and (prefix := _project_prefix(p))]


def check_registry(resources: Sequence[Res], ctx: Context) -> list[Violation]:
    """Fails closed: images with no allow-list to check them against are a violation (naming
    the missing setting), not a rule that does not apply."""
    allowed = [p if p.endswith("/") else f"{p}/" for p in ctx.strings("allowedRegistries")]
    if ctx.flag("useDeclaredHarborProjects"):
        allowed += _declared_prefixes(resources)
    pulls = [
        (resource, container, container.spec.get("image"))
        for resource in resources
        for _, container in workload_containers(resource)
    ]
    if not pulls:
        raise NotApplicable("the stack runs no containers")
    if not allowed:
        return [
            Violation(
                "no registry allow-list: images-from-allowed-registry.allowedRegistries is empty in this stack's "
                "policy config and the stack declares no Harbor project, so no image can be checked: set "
                "allowedRegistries (registry/project/ prefixes) in policy/config/<stack>.json",
                None,
            )
        ]
    return [
        Violation(
            f"{container.kind} '{container.name}' of {describe(resource)} pulls {image!r}: "
            f"push it to and pull it from {' or '.join(sorted(set(allowed)))}",
            resource.urn,
        )
        for resource, container, image in pulls
        if isinstance(image, str) and not image.startswith(tuple(allowed))
    ]


ALLOWED_REGISTRY = StackRule(
    name="images-from-allowed-registry",
    description="Images come from the stack's Harbor project (or a configured registry prefix).",
    check=check_registry,
    config={
        "allowedRegistries": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "image prefixes (registry/project/) allowed besides the declared Harbor projects",
        },
        "useDeclaredHarborProjects": {
            "type": "boolean",
            "default": True,
            "description": "allow images from every Harbor project the stack declares",
        },
    },
)


def _immutable_rules(resources: Sequence[Res]) -> dict[str, list[tuple[str, str]]]:
    """`host/project/` of each declared Harbor project -> the (repository pattern, tag pattern)
    of its enabled immutable tag rules, none for a project without any. A rule whose patterns
    are not known yet covers everything (a preview decides nothing on unknowns)."""
    # A project whose name is not known yet (a preview) could be any: it decides nothing.
    named = [p for p in resources if p.type in HARBOR_PROJECTS and isinstance(p.props.get("name"), str)]
    prefixes = {p.urn: prefix for p in named if (prefix := _project_prefix(p))}
    covered: dict[str, list[tuple[str, str]]] = {prefix: [] for prefix in prefixes.values()}
    for rule in resources:
        if rule.type not in IMMUTABLE_TAG_RULES or truthy(rule.props.get("disabled")):
            continue
        projects = rule.property_dependencies.get("project_id") or rule.dependencies
        tags, repositories = rule.props.get("tag_pattern"), rule.props.get("repo_pattern", "**")
        patterns = (
            repositories if isinstance(repositories, str) else "**",
            tags if isinstance(tags, str) else "**",
        )
        for urn in projects:
            if urn in prefixes:
                covered.setdefault(prefixes[urn], []).append(patterns)
    return covered


def check_tags_immutable(resources: Sequence[Res], ctx: Context) -> list[Violation]:
    covered = _immutable_rules(resources)
    if not covered:
        raise NotApplicable("the stack declares no Harbor project (images-from-allowed-registry checks the rest)")
    violations = []
    for resource in resources:
        for _, container in workload_containers(resource):
            image = container.spec.get("image")
            if not isinstance(image, str) or DIGEST.search(image):
                continue
            prefix = next((p for p in covered if image.startswith(p)), None)
            if prefix is None:
                continue
            repository, _, tag = image.removeprefix(prefix).partition(":")
            if not tag or any(
                repository_pattern_matches(repos, repository) and tag_pattern_matches(tags, tag)
                for repos, tags in covered[prefix]
            ):
                continue
            pulls = f"{container.kind} '{container.name}' of {describe(resource)} pulls {image!r}"
            if covered[prefix]:
                rules = ", ".join(f"{tags!r} in {repos!r}" for repos, tags in covered[prefix])
                why = f"no immutable tag rule of the Harbor project {prefix} covers tag {tag!r} (rules: {rules})"
                fix = "use a tag a rule covers, pin a @sha256 digest, or widen a rule's tag pattern"
            else:
                why = f"the Harbor project {prefix} has no enabled immutable tag rule"
                fix = f"declare one whose tag pattern covers {tag!r} (an ImmutableTagRule of the project), or pin a @sha256 digest"
            violations.append(
                Violation(f"{pulls}: {why}, so a push can overwrite it under running pods: {fix}", resource.urn)
            )
    return violations


IMMUTABLE_TAGS = StackRule(
    name="image-tag-immutable",
    description="An image pulled by tag from a declared Harbor project has a tag one of the project's enabled "
    "immutable tag rules covers.",
    check=check_tags_immutable,
)


def image_problem(image: str, require_digest: bool) -> str | None:
    """What is wrong with how `image` is pinned, or None."""
    if DIGEST.search(image):
        return None
    if require_digest:
        return "is not pinned by digest: use registry/path@sha256:<digest>"
    last = image.rsplit("/", 1)[-1].split("@", 1)[0]
    if ":" not in last:
        return "has no tag (implicitly :latest): pin a release tag or a digest"
    if last.rsplit(":", 1)[1] == "latest":
        return "uses :latest: pin a release tag or a digest"
    return None


def check_image_pinned(resource: Res, ctx: Context) -> list[str]:
    problems = []
    for _, container in workload_containers(resource):
        image = container.spec.get("image")
        if isinstance(image, str) and (problem := image_problem(image, ctx.flag("requireDigest"))):
            problems.append(
                f"{container.kind} '{container.name}' of {describe(resource)} image {image!r} {problem}"
            )
    return problems


IMAGE_PINNED = ResourceRule(
    name="image-pinned",
    description="Images are pinned: no :latest or missing tag; a digest where required.",
    check=check_image_pinned,
    config={"requireDigest": {"type": "boolean", "default": False, "description": "require @sha256 digests"}},
)


def check_harbor_project(resource: Res, ctx: Context) -> list[str]:
    if resource.type not in HARBOR_PROJECTS:
        return []
    props = resource.props
    weakest = ctx.text("weakestSeverity")
    problems = []
    if truthy(props.get("public")):
        problems.append(f"{describe(resource)} is public: set public to false")
    scanning = first(props, "vulnerability_scanning", "vulnerabilityScanning", "auto_scan", "autoScan")
    if truthy(scanning) is False:
        problems.append(f"{describe(resource)} does not scan on push: set vulnerability_scanning to true")
    security = first(props, "deployment_security", "deploymentSecurity")
    allowed = SEVERITIES[: SEVERITIES.index(weakest) + 1]
    if not is_unknown(security) and security not in allowed:
        now = (
            "does not block vulnerable images"
            if not security
            else f"blocks only {security!r} vulnerabilities"
        )
        problems.append(f"{describe(resource)} {now}: set deployment_security to {' or '.join(allowed)}")
    return problems


HARBOR_PROJECT = ResourceRule(
    name="harbor-project-secure",
    description="Harbor projects are private, scan on push and block vulnerable images (high or stricter).",
    check=check_harbor_project,
    config={
        "weakestSeverity": {
            "type": "string",
            "enum": SEVERITIES,
            "default": "high",
            "description": "the weakest deployment_security allowed (lower severities are stricter)",
        }
    },
)

RULES: list[Rule] = [ALLOWED_REGISTRY, IMAGE_PINNED, IMMUTABLE_TAGS, HARBOR_PROJECT]
