"""The naming rules, in one place: what Kubernetes, vCenter, NVIDIA and Harbor accept as names
and quantities. Components, providers' `check` and the config models all use these, so a
value is judged the same way before anything is sent."""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any, Literal, get_args

from wcmatch import fnmatch, glob

# RFC 1123 label: Kubernetes object names and namespaces, vSphere namespaces and VM classes.
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# RFC 1123 subdomain (host names) whose last label is not all digits (RFC 3696 section 2): `0`,
# `10.1` or `999.1.1.1` are not names, inet_aton and most resolvers read them as IPv4 addresses.
DNS_NAME = re.compile(
    r"^(?=.{1,253}$)(?!(?:.*\.)?[0-9]+$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$"
)
NUMERIC_LAST_LABEL = re.compile(r"(?:^|\.)[0-9]+$")
NUMERIC_LAST_LABEL_RULE = "its last label must not be all digits (0, 10.1 or 999.1.1.1 read as IP addresses)"
# A Kubernetes resource quantity (2, 500m, 1.5Gi).
K8S_QUANTITY = re.compile(
    r"^(?P<number>[0-9]+(\.[0-9]+)?|\.[0-9]+)(?P<unit>m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
)


# What each suffix of a quantity multiplies its number by.
QUANTITY_UNITS: dict[str, Fraction] = {
    "m": Fraction(1, 1000),
    "": Fraction(1),
    **{unit: Fraction(10) ** (3 * power) for power, unit in enumerate("kMGTPE", start=1)},
    **{f"{unit}i": Fraction(2) ** (10 * power) for power, unit in enumerate("KMGTPE", start=1)},
}


def quantity(value: str, what: str) -> Fraction:
    """A Kubernetes quantity in base units (cores, bytes)."""
    match = K8S_QUANTITY.match(value)
    if match is None:
        raise ValueError(f"{what} {value!r}: must be a Kubernetes quantity such as 500m, 2 or 512Mi")
    return Fraction(match["number"]) * QUANTITY_UNITS[match["unit"] or ""]


HarborSeverity = Literal["none", "low", "medium", "high", "critical"]
HARBOR_SEVERITIES: tuple[HarborSeverity, ...] = get_args(HarborSeverity)
"""Harbor's vulnerability severities, mildest first. Harbor blocks pulls of images with
vulnerabilities at or above the chosen `deployment_security`, so an earlier one is stricter."""
# Harbor project and robot names: lower-case words joined by one of . _ -
HARBOR_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
# Harbor's cron: six fields (seconds first).
HARBOR_CRON = re.compile(r"^\S+( \S+){5}$")
# NVIDIA vGPU profile: <prefix>_<gpu><variant>-<framebuffer GB><type>, e.g. grid_a100-40c,
# nvidia_h100xm-80c; the type is one of NVIDIA's vGPU series: `c` compute (what PAIF uses),
# `q` virtual workstation, `b` virtual PC, `a` virtual applications.
VGPU_PROFILE = re.compile(r"^[a-z0-9]+_[a-z0-9]+-[1-9][0-9]*[abcq]$")
VGPU_PROFILE_RULE = (
    "must be an NVIDIA vGPU profile name <prefix>_<gpu>-<framebuffer GB><type>, lower case, e.g. "
    "grid_a100-40c or nvidia_h100xm-80c; the type is c (compute), q, b or a"
)


def tag_pattern_matches(pattern: str, tag: str) -> bool:
    """Whether Harbor's doublestar tag `pattern` selects `tag`: `*` and `**` (a tag has no '/'),
    `?`, `[...]`, `[!...]`, `{a,b}`, case-sensitive, as Harbor's immutable tag and retention
    rules match."""
    return fnmatch.fnmatch(tag, pattern, flags=fnmatch.BRACE | fnmatch.CASE)


def repository_pattern_matches(pattern: str, repository: str) -> bool:
    """Whether Harbor's doublestar repository `pattern` selects `repository` (its path in the
    project, e.g. `chat-backend` or `team/chat-backend`): `*` stays within one segment, `**`
    spans segments."""
    return glob.globmatch(repository, pattern, flags=glob.BRACE | glob.GLOBSTAR | glob.CASE)


def dns_label_problem(value: Any) -> str | None:
    """Why `value` is not a DNS label (namespace and VM class names must be), or None."""
    if not isinstance(value, str) or not DNS_LABEL.match(value):
        return f"given {value!r}; must be a DNS label: lower-case letters, digits and '-', 1-63 characters"
    return None


def vgpu_profile_problem(value: Any) -> str | None:
    """Why `value` is not an NVIDIA vGPU profile name, or None."""
    if not isinstance(value, str) or not VGPU_PROFILE.match(value):
        return f"given {value!r}; {VGPU_PROFILE_RULE}"
    return None
