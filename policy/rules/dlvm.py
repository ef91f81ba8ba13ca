"""The DLVM's workload (dev): what runs inside a VM Service VirtualMachine, checked like pods.

In dev the app runs in containers on a Deep Learning VM, declared in its cloud-init user
data, which is a Pulumi secret the pack cannot (and must not) read. The `DlvmWorkstation`
component (components/dlvm.py) therefore puts the workload's shape on the VirtualMachine as
a JSON annotation, `paif.vmware.com/workload`, without any value:

    {"containers": [{"name", "image", "resources": {"requests", "limits"},
                     "healthCheck": {"port", "path"}, "env": {NAME: value}, "envFrom": [files]}],
     "published": [{"port", "protocol": "https" | "http-redirect" | "http", "container"}],
     "tls": {"port", "certificate": "self-signed" | "given" | "secret", "secret": "Secret/<name>",
             "protocols": [...]},
     "secrets": {"from": "Secret/<name>", "keys": [NAME, ...]}}

These rules read it. The container checks are the pod rules' own (container-resources,
image-pinned, images-from-allowed-registry, no-secret-literal-env) run on the containers as
if they were a pod's, so dev's workloads meet the same bar as the other stacks'; TLS, health
checks and where the secrets come from are checked on the VM's own terms, and so is the VM's
VM Service readiness probe (`spec.readinessProbe`: without one VM Service reports the VM
without asking whether the app answers). A VM that bootstraps the app from cloud-init without
the annotation is itself a violation: the pack would otherwise see nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from policy.rules import limits, secrets, supply_chain
from policy.rules.common import (
    UNKNOWN,
    Context,
    NotApplicable,
    Res,
    ResourceRule,
    Rule,
    StackRule,
    Unknown,
    Violation,
    get,
    is_secret,
    is_unknown,
    listed,
    object_name,
)

VIRTUAL_MACHINE = "kubernetes:vmoperator.vmware.com/v1alpha3:VirtualMachine"
WORKLOAD_ANNOTATION = "paif.vmware.com/workload"
SAFE_PROTOCOLS = ("TLSv1.2", "TLSv1.3")
# The actions of a VM Service readiness probe (vm-operator api/v1alpha3 virtualmachine_readiness_types.go).
PROBE_ACTIONS = ("guestInfo", "guestHeartbeat", "tcpSocket")


def _bootstraps_with_cloud_init(resource: Res) -> bool:
    cloud_init = get(resource.props, "spec", "bootstrap", "cloudInit")
    return isinstance(cloud_init, Mapping) or is_unknown(cloud_init)


def workload(resource: Res) -> Mapping[str, Any] | Unknown | None:
    """The VM's workload annotation, parsed; None when the VM has none (or is not a VM),
    UNKNOWN when a preview does not know it yet."""
    if resource.type != VIRTUAL_MACHINE:
        return None
    value = get(resource.props, "metadata", "annotations", WORKLOAD_ANNOTATION)
    if is_unknown(value):
        return UNKNOWN
    if not isinstance(value, str):
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, Mapping) else {}


def _containers(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = spec.get("containers")
    return [c for c in items if isinstance(c, Mapping)] if isinstance(items, list) else []


def as_pod(resource: Res, spec: Mapping[str, Any]) -> Res:
    """The VM's containers as a Pod, so the pod rules can judge them (same URN: violations
    point at the VM). Literal env values become the pod's literal env."""
    pod_containers = []
    for item in _containers(spec):
        container: dict[str, Any] = {"name": item.get("name"), "image": item.get("image")}
        if "resources" in item:
            container["resources"] = item["resources"]
        env = item.get("env")
        if isinstance(env, Mapping):
            container["env"] = [{"name": k, "value": v} for k, v in env.items()]
        pod_containers.append(container)
    meta = resource.props.get("metadata")
    name = f"{object_name(resource)} (DLVM)"
    return Res(
        type="kubernetes:core/v1:Pod",
        props={
            "metadata": {"name": name.rsplit("/", 1)[-1], "namespace": get(meta, "namespace")},
            "spec": {"containers": pod_containers},
        },
        name=resource.name,
        urn=resource.urn,
    )


def _vm(resource: Res) -> str:
    return f"VirtualMachine '{object_name(resource)}'"


def check_declared(resource: Res, _ctx: Context) -> list[str]:
    if resource.type != VIRTUAL_MACHINE or not _bootstraps_with_cloud_init(resource):
        return []
    spec = workload(resource)
    if isinstance(spec, Unknown):
        return []
    if spec is None:
        return [
            f"{_vm(resource)} runs what its cloud-init says, and the pack cannot see it: declare the workload in "
            f"the annotation {WORKLOAD_ANNOTATION} (DlvmWorkstation does) so its containers, TLS and limits are checked"
        ]
    if not _containers(spec):
        return [f"{_vm(resource)} annotation {WORKLOAD_ANNOTATION} lists no containers: it must be JSON with 'containers'"]
    return []


WORKLOAD_DECLARED = ResourceRule(
    name="dlvm-workload-declared",
    description="A VM bootstrapped by cloud-init declares its workload (containers, ports, TLS) for the pack.",
    check=check_declared,
)


def _spec(resource: Res) -> Mapping[str, Any] | None:
    """The parsed workload of a VM the other rules check (None: nothing to check)."""
    spec = workload(resource)
    if spec is None or isinstance(spec, Unknown):
        return None
    return spec


def check_tls_only(resource: Res, ctx: Context) -> list[str]:
    spec = _spec(resource)
    if spec is None:
        return []
    problems = []
    published = [p for p in listed(spec.get("published")) if isinstance(p, Mapping)]
    https = [p for p in published if p.get("protocol") == "https"]
    for port in published:
        protocol = port.get("protocol")
        if protocol == "http-redirect" and ctx.flag("allowHttpRedirect"):
            continue
        if protocol != "https":
            problems.append(
                f"{_vm(resource)} publishes port {port.get('port')} as {protocol!r}: serve the app over https only "
                "(plain http may only redirect to https)"
            )
    if not https:
        problems.append(f"{_vm(resource)} publishes no https port: put the app behind TLS (a TLS proxy on 443)")
    tls = spec.get("tls")
    if not isinstance(tls, Mapping):
        problems.append(f"{_vm(resource)} declares no tls section: say which certificate the VM serves")
        return problems
    allowed = ctx.strings("allowedCertificateSources")
    if tls.get("certificate") not in allowed:
        problems.append(
            f"{_vm(resource)} serves a certificate from {tls.get('certificate')!r}: use one of {', '.join(allowed)}"
        )
    weak = [p for p in listed(tls.get("protocols")) if p not in SAFE_PROTOCOLS]
    if weak:
        problems.append(f"{_vm(resource)} allows {', '.join(map(str, weak))}: allow only TLSv1.2 and TLSv1.3")
    return problems


TLS_ONLY = ResourceRule(
    name="dlvm-tls-only",
    description="The DLVM serves the app over TLS only (1.2+); plain http at most redirects to https.",
    check=check_tls_only,
    config={
        "allowHttpRedirect": {
            "type": "boolean",
            "default": True,
            "description": "allow a plain-http port that only redirects to https",
        },
        "allowedCertificateSources": {
            "type": "array",
            "items": {"type": "string", "enum": ["self-signed", "given", "secret", "issuer"]},
            "default": ["self-signed", "given", "secret", "issuer"],
            "description": "where the VM's certificate may come from",
        },
    },
)


def check_limits_and_health(resource: Res, ctx: Context) -> list[str]:
    spec = _spec(resource)
    if spec is None:
        return []
    pod = as_pod(resource, spec)
    problems = limits.CONTAINER_RESOURCES.check(pod, ctx)
    for item in _containers(spec):
        check = item.get("healthCheck")
        if not isinstance(check, Mapping) or not check.get("port") or not check.get("path"):
            problems.append(
                f"container '{item.get('name')}' of {_vm(resource)} has no health check: give it healthCheck "
                "{port, path} (a docker health check the VM restarts it on)"
            )
    probe = get(resource.props, "spec", "readinessProbe")
    if not is_unknown(probe) and not (
        isinstance(probe, Mapping) and any(probe.get(action) or is_unknown(probe.get(action)) for action in PROBE_ACTIONS)
    ):
        problems.append(
            f"{_vm(resource)} has no readiness probe: VM Service then cannot tell whether the app answers; give "
            "spec.readinessProbe (guestInfo set by the guest's health check, as DlvmWorkstation does)"
        )
    return problems


LIMITS_AND_HEALTH = ResourceRule(
    name="dlvm-container-limits-health",
    description="Every container on a DLVM has CPU and memory requests, a memory limit and a health check; the VM a readiness probe.",
    check=check_limits_and_health,
    config=limits.CONTAINER_RESOURCES.config,
)


def check_images(resources: Sequence[Res], ctx: Context) -> list[Violation]:
    vms = [(r, spec) for r in resources if (spec := _spec(r)) is not None]
    if not vms:
        raise NotApplicable("the stack runs no DLVM")
    pods = [as_pod(vm, spec) for vm, spec in vms]
    harbor = [r for r in resources if r.type in supply_chain.HARBOR_PROJECTS]
    violations = supply_chain.check_registry([*harbor, *pods], ctx)
    for pod in pods:
        violations += [Violation(m, pod.urn) for m in supply_chain.check_image_pinned(pod, ctx)]
    return violations


IMAGES = StackRule(
    name="dlvm-images-pinned-allowed",
    description="Images on a DLVM are pinned and come from the stack's Harbor project (or an allowed registry).",
    check=check_images,
    config={**supply_chain.ALLOWED_REGISTRY.config, **supply_chain.IMAGE_PINNED.config},
)


def check_secrets(resource: Res, ctx: Context) -> list[str]:
    if resource.type != VIRTUAL_MACHINE:
        return []
    problems = []
    cloud_init = get(resource.props, "spec", "bootstrap", "cloudInit")
    if isinstance(cloud_init, Mapping) and cloud_init.get("cloudConfig") is not None:
        problems.append(
            f"{_vm(resource)} carries its cloud-config inline in the spec (plain in state and on the Supervisor): "
            "put the user data in a Secret that is a Pulumi secret and reference it with rawCloudConfig"
        )
    annotations = get(resource.props, "metadata", "annotations")
    if isinstance(annotations, Mapping):
        problems += [
            f"{_vm(resource)} annotation {key} holds a Pulumi secret in plaintext: annotations are not secret"
            for key, value in annotations.items()
            if is_secret(value)
        ]
    spec = _spec(resource)
    if spec is not None:
        problems += secrets.NO_SECRET_LITERAL_ENV.check(as_pod(resource, spec), ctx)
        source = get(spec, "secrets", "from")
        keys = get(spec, "secrets", "keys")
        if keys and not (isinstance(source, str) and source.startswith("Secret/")):
            problems.append(
                f"{_vm(resource)} gets its secret settings from {source!r}: deliver them in the cloud-init Secret"
            )
    return problems


NO_PLAINTEXT_SECRETS = ResourceRule(
    name="dlvm-no-plaintext-secrets",
    description="A DLVM gets secrets only through its cloud-init Secret: no inline cloud-config, secret annotations or literal secret env.",
    check=check_secrets,
    config=secrets.NO_SECRET_LITERAL_ENV.config,
)

RULES: list[Rule] = [WORKLOAD_DECLARED, TLS_ONLY, LIMITS_AND_HEALTH, IMAGES, NO_PLAINTEXT_SECRETS]
