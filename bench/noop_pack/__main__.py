"""The benchmark's policy-pack floor: what any Python pack costs a preview before its rules do
anything.

One resource validation that reports nothing, on pulumi-policy as it ships (none of
policy/'s adjustments). The engine still starts the pack's process, calls `Remediate` and
`Analyze` for every resource and `AnalyzeStack` once; the SDK still converts each resource
for the one policy. `python -m bench` previews the apps with it beside the apps with our
pack, so the report separates the engine's and the SDK's share of the overhead from ours.
"""

from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)


def _nothing(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Accept every resource."""


PolicyPack(
    name="bench-noop",
    policies=[ResourceValidationPolicy(name="noop", description="reports nothing", validate=_nothing)],
    enforcement_level=EnforcementLevel.ADVISORY,
    description="bench floor: one resource policy that does nothing",
)
