"""Every rule of the pack, grouped by concern (the order the pack reports them in)."""

from policy.rules import (
    availability,
    dlvm,
    limits,
    platform,
    pod_security,
    rbac,
    resource_options,
    secrets,
    supply_chain,
    tls,
)
from policy.rules.common import Rule

ALL_RULES: list[Rule] = [
    *tls.RULES,
    *limits.RULES,
    *secrets.RULES,
    *availability.RULES,
    *supply_chain.RULES,
    *pod_security.RULES,
    *rbac.RULES,
    *resource_options.RULES,
    *platform.RULES,
    *dlvm.RULES,
]

__all__ = ["ALL_RULES", "Rule"]
