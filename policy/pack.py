"""Thin adapters from our rules (plain data in, messages out) to the policy SDK.

Every property is read once through `plain()`, which turns preview unknowns into UNKNOWN;
rules skip unknowns, so a preview never reports a violation it cannot prove.

Stack rules see outputs. In a preview, a Kubernetes resource whose provider is not known
yet (prod's workload cluster before it exists) has no outputs at all, while its inputs are
fully known; the engine validates every resource before the stack, in this same process,
so the stack adapter falls back to the inputs the resource adapter recorded (and hands
them to the stack rules as `Res.inputs`, for what the program asked for rather than what an
API server defaulted).

Each resource is converted once per analyzer request, whatever the number of rules
(`policy.request_scope`; outside a request, e.g. in unit tests, every call converts).

Secret-ness: `policy.secretness` (installed by `policy/__main__.py`) keeps the engine's
secret markers, so `plain()` yields `SecretText` / `SECRET_UNKNOWN` for Pulumi secrets.
"""

from __future__ import annotations

from collections.abc import Sequence

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy.request_scope import once
from policy.rules import ALL_RULES
from policy.rules.common import NotApplicable, Res, ResourceRule, Rule, StackRule, plain

PACK_NAME = "paif"
DEFAULT_LEVEL = EnforcementLevel.ADVISORY
# URN -> the resource as its last resource validation saw it (inputs), for the stack rules.
_inputs_seen: dict[str, Res] = {}


def resource_from_args(args: ResourceValidationArgs) -> Res:
    """The resource a ResourceValidationPolicy sees (its inputs)."""
    opts = args.opts
    return Res(
        type=args.resource_type,
        props=plain(args.props),
        name=args.name,
        urn=args.urn,
        protect=bool(opts.protect),
        ignore_changes=tuple(opts.ignore_changes),
        secret_outputs=tuple(opts.additional_secret_outputs),
        parent=opts.parent,
        provider=plain(args.provider.props) if args.provider is not None else None,
    )


def resource_from_stack(resource: PolicyResource, inputs: Res | None = None) -> Res:
    """A resource as a StackValidationPolicy sees it: its outputs and dependencies; its
    `inputs` instead of outputs when the preview knows no outputs."""
    opts = resource.opts
    props = plain(resource.props)
    if not props and inputs is not None:
        props = inputs.props
    return Res(
        type=resource.resource_type,
        props=props,
        name=resource.name,
        urn=resource.urn,
        protect=bool(opts.protect),
        ignore_changes=tuple(opts.ignore_changes),
        secret_outputs=tuple(opts.additional_secret_outputs),
        parent=resource.parent.urn if resource.parent is not None else None,
        dependencies=tuple(d.urn for d in resource.dependencies),
        property_dependencies={k: tuple(d.urn for d in v) for k, v in resource.property_dependencies.items()},
        provider=plain(resource.provider.props) if resource.provider is not None else None,
        inputs=inputs.props if inputs is not None else None,
    )


def _stack_resource(resource: PolicyResource) -> Res:
    return once("stack resource", resource.props, lambda: resource_from_stack(resource, _inputs_seen.get(resource.urn)))


def _schema(rule: Rule) -> PolicyConfigSchema | None:
    return (
        PolicyConfigSchema(properties={k: dict(v) for k, v in rule.config.items()}) if rule.config else None
    )


def _resource_policy(rule: ResourceRule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        resource = once("resource", args.props, lambda: resource_from_args(args))
        _inputs_seen[resource.urn] = resource
        try:
            messages = rule.evaluate(resource, args.get_config())
        except NotApplicable as exc:
            args.not_applicable(exc.reason)
        for message in messages:
            report(message, None)

    return ResourceValidationPolicy(
        name=rule.name, description=rule.description, validate=validate, config_schema=_schema(rule)
    )


def _stack_policy(rule: StackRule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        resources = [_stack_resource(r) for r in args.resources]
        try:
            violations = rule.evaluate(resources, args.get_config())
        except NotApplicable as exc:
            args.not_applicable(exc.reason)
        for violation in violations:
            report(violation.message, violation.urn)

    return StackValidationPolicy(
        name=rule.name, description=rule.description, validate=validate, config_schema=_schema(rule)
    )


def build_policies(rules: Sequence[Rule] = ALL_RULES) -> list[Policy]:
    return [_resource_policy(r) if isinstance(r, ResourceRule) else _stack_policy(r) for r in rules]
