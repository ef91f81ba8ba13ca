"""Name rules vCenter enforces, checked before anything is sent (in `check` and in components)."""

from __future__ import annotations

import re
from typing import Any

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# NVIDIA vGPU profile: <prefix>_<gpu><variant>-<framebuffer GB><type>, e.g. grid_a100-40c,
# nvidia_h100xm-80c; `c` is the compute type PAIF uses, `q` graphics.
VGPU_PROFILE = re.compile(r"^[a-z0-9]+_[a-z0-9]+-[0-9]+[a-z]$")


def dns_label_problem(value: Any) -> str | None:
    """Why `value` is not a DNS label (namespace and VM class names must be), or None."""
    if not isinstance(value, str) or not DNS_LABEL.match(value):
        return f"given {value!r}; must be a DNS label: lower-case letters, digits and '-', 1-63 characters"
    return None


def vgpu_profile_problem(value: Any) -> str | None:
    """Why `value` is not an NVIDIA vGPU profile name, or None."""
    if not isinstance(value, str) or not VGPU_PROFILE.match(value):
        return (
            f"given {value!r}; must be an NVIDIA vGPU profile name <prefix>_<gpu>-<framebuffer GB><type>, "
            "lower case, e.g. grid_a100-40c or nvidia_h100xm-80c"
        )
    return None
