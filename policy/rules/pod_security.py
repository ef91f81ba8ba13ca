"""Pod security: the restricted Pod Security Standard, probes, network isolation, namespaces."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from policy.rules.common import (
    BATCH_KINDS,
    Container,
    Context,
    PodTemplate,
    Res,
    ResourceRule,
    Rule,
    StackRule,
    Violation,
    describe,
    get,
    is_unknown,
    k8s_kind,
    listed,
    namespace_of,
    pod_template,
    same_namespace,
    selector_matches,
    truthy,
    workload_containers,
)

# Capabilities the restricted standard lets a container add back.
RESTRICTED_ADDABLE = frozenset({"NET_BIND_SERVICE"})
# Capabilities the baseline standard lets a container add (the runtime's defaults); adding any
# other is a baseline violation, reported by the baseline rule (each control of the standard is
# reported by the level that introduces it, as privileged and host namespaces are).
BASELINE_ADDABLE = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
SECCOMP_TYPES = ("RuntimeDefault", "Localhost")
# Kinds that are not namespaced (so "not in default" does not apply).
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "StorageClass",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PriorityClass",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "APIService",
        "CSIDriver",
        "CSINode",
        "IngressClass",
        "RuntimeClass",
        "VolumeSnapshotClass",
        "ClusterIssuer",
        "FlowSchema",
        "PriorityLevelConfiguration",
    }
)

# The baseline Pod Security Standard's allowed values (kubernetes.io/docs/concepts/security/
# pod-security-standards/, Kubernetes v1.34): sysctls namespaced to the pod, SELinux types of
# the container policy, AppArmor profiles other than unconfined.
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.ping_group_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
APPARMOR_TYPES = ("RuntimeDefault", "Localhost")
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
# Kubernetes provider types that are not one namespaced object with metadata.
NOT_OBJECTS = frozenset({"Release", "Chart", "ConfigFile", "ConfigGroup", "Directory", "Kustomize"})


def _effective(container: Container, template: PodTemplate, key: str) -> Any:
    """A securityContext setting: the container's, else the pod's."""
    value = get(container.spec, "securityContext", key)
    return get(template.spec, "securityContext", key) if value is None else value


def _restricted_problems(container: Container, template: PodTemplate) -> list[str]:
    problems = []
    non_root = _effective(container, template, "runAsNonRoot")
    if not is_unknown(non_root) and non_root is not True:
        problems.append("securityContext.runAsNonRoot: true")
    if _effective(container, template, "runAsUser") == 0:
        problems.append("a non-zero runAsUser")
    escalation = get(container.spec, "securityContext", "allowPrivilegeEscalation")
    if not is_unknown(escalation) and escalation is not False:
        problems.append("securityContext.allowPrivilegeEscalation: false")
    drop = get(container.spec, "securityContext", "capabilities", "drop")
    if not is_unknown(drop) and "ALL" not in listed(drop):
        problems.append("securityContext.capabilities.drop: [ALL]")
    add = get(container.spec, "securityContext", "capabilities", "add")
    extra = sorted(str(c) for c in _added(add) if c not in RESTRICTED_ADDABLE and c in BASELINE_ADDABLE)
    if extra:
        problems.append(f"no added capabilities besides NET_BIND_SERVICE (remove {', '.join(extra)})")
    seccomp = _effective(container, template, "seccompProfile")
    seccomp_type = get(seccomp, "type")
    # Unconfined is the baseline rule's (check_baseline).
    if not is_unknown(seccomp_type) and seccomp_type not in (*SECCOMP_TYPES, "Unconfined"):
        problems.append("securityContext.seccompProfile.type: RuntimeDefault")
    read_only = get(container.spec, "securityContext", "readOnlyRootFilesystem")
    if not is_unknown(read_only) and read_only is not True:
        problems.append("securityContext.readOnlyRootFilesystem: true")
    return problems


def check_restricted(resource: Res, _ctx: Context) -> list[str]:
    messages = []
    for template, container in workload_containers(resource):
        if is_unknown(container.spec.get("securityContext")):
            continue
        problems = _restricted_problems(container, template)
        if problems:
            messages.append(
                f"{container.kind} '{container.name}' of {describe(resource)} is not restricted: set "
                + "; ".join(problems)
            )
    return messages


RESTRICTED = ResourceRule(
    name="pod-security-restricted",
    description="Containers meet the restricted Pod Security Standard (non-root, no escalation, "
    "drop ALL, seccomp, read-only root).",
    check=check_restricted,
)


def _added(add: Any) -> list[str]:
    """The capabilities a securityContext adds (none when unknown or not a list)."""
    return [str(c) for c in listed(add)]


def _context_problems(where: str, context: Any) -> list[str]:
    """What the baseline standard forbids in a pod's or a container's securityContext."""
    if not isinstance(context, Mapping):
        return []
    problems = []
    if get(context, "seccompProfile", "type") == "Unconfined":
        problems.append(f"{where} sets seccompProfile.type 'Unconfined': use RuntimeDefault or Localhost")
    beyond = sorted(c for c in _added(get(context, "capabilities", "add")) if c not in BASELINE_ADDABLE)
    if beyond:
        problems.append(
            f"{where} adds the capabilities {', '.join(beyond)}: the baseline standard allows only the "
            "runtime's defaults (remove them)"
        )
    if truthy(get(context, "windowsOptions", "hostProcess")):
        problems.append(f"{where} runs as a Windows HostProcess: remove windowsOptions.hostProcess")
    apparmor = get(context, "appArmorProfile", "type")
    if isinstance(apparmor, str) and apparmor not in APPARMOR_TYPES:
        problems.append(f"{where} sets appArmorProfile.type {apparmor!r}: use RuntimeDefault or Localhost")
    selinux = context.get("seLinuxOptions")
    if isinstance(selinux, Mapping):
        kind = selinux.get("type")
        if isinstance(kind, str) and kind not in SELINUX_TYPES:
            problems.append(f"{where} sets seLinuxOptions.type {kind!r}: use container_t (or leave it unset)")
        if [key for key in ("user", "role") if isinstance(selinux.get(key), str) and selinux.get(key)]:
            problems.append(f"{where} sets seLinuxOptions user or role: remove them")
    proc_mount = context.get("procMount")
    if isinstance(proc_mount, str) and proc_mount != "Default":
        problems.append(f"{where} sets procMount {proc_mount!r}: remove it (Default masks /proc)")
    sysctls = context.get("sysctls")
    for sysctl in sysctls if isinstance(sysctls, list) else []:
        name = get(sysctl, "name")
        if isinstance(name, str) and name not in SAFE_SYSCTLS:
            problems.append(f"{where} sets the unsafe sysctl {name!r}: only namespaced safe sysctls are allowed")
    return problems


def check_baseline(resource: Res, _ctx: Context) -> list[str]:
    template = pod_template(resource)
    if template is None:
        return []
    problems = [
        f"{describe(resource)} sets {key}: remove it (pods share the node's namespaces)"
        for key in ("hostNetwork", "hostPID", "hostIPC")
        if truthy(template.spec.get(key))
    ]
    volumes = template.spec.get("volumes")
    for volume in volumes if isinstance(volumes, list) else []:
        if isinstance(volume, Mapping) and volume.get("hostPath") is not None:
            problems.append(
                f"{describe(resource)} mounts the node's filesystem (hostPath volume {volume.get('name')!r}): "
                "use an emptyDir, a PVC or a ConfigMap"
            )
    problems += _context_problems(describe(resource), template.spec.get("securityContext"))
    for key, value in template.annotations.items():
        unconfined = isinstance(value, str) and value != "runtime/default" and not value.startswith("localhost/")
        if str(key).startswith(APPARMOR_ANNOTATION) and unconfined:
            problems.append(
                f"{describe(resource)} annotates AppArmor {value!r} for "
                f"'{str(key).removeprefix(APPARMOR_ANNOTATION)}': use runtime/default or localhost/<profile>"
            )
    for _, container in workload_containers(resource):
        where = f"{container.kind} '{container.name}' of {describe(resource)}"
        problems += _context_problems(where, container.spec.get("securityContext"))
        if truthy(get(container.spec, "securityContext", "privileged")):
            problems.append(f"{where} is privileged: set securityContext.privileged to false")
        ports = container.spec.get("ports")
        for port in ports if isinstance(ports, list) else []:
            if isinstance(port, Mapping) and port.get("hostPort"):
                problems.append(f"{where} binds hostPort {port.get('hostPort')}: expose it through a Service")
    return problems


BASELINE = ResourceRule(
    name="pod-security-baseline",
    description="The baseline Pod Security Standard: no privileged containers, host namespaces, host ports, "
    "hostPath volumes, Windows HostProcess, unconfined AppArmor, custom SELinux types, unmasked /proc "
    "or unsafe sysctls.",
    check=check_baseline,
)


def check_probes(resource: Res, _ctx: Context) -> list[str]:
    if k8s_kind(resource.type) in BATCH_KINDS:
        return []
    problems = []
    for _, container in workload_containers(resource, init=False):
        missing = [
            probe
            for probe in ("livenessProbe", "readinessProbe")
            if not is_unknown(container.spec.get(probe)) and not container.spec.get(probe)
        ]
        if missing:
            problems.append(
                f"container '{container.name}' of {describe(resource)} has no {' or '.join(missing)}: add them "
                "(httpGet on a health endpoint)"
            )
    return problems


PROBES = ResourceRule(
    name="container-probes",
    description="Long-running containers have liveness and readiness probes.",
    check=check_probes,
)


def _is_default_deny(policy: Res, require_egress: bool) -> bool | None:
    spec = policy.props.get("spec")
    selector, types = get(spec, "podSelector"), get(spec, "policyTypes")
    if is_unknown(selector) or is_unknown(types):
        return None
    if not isinstance(selector, Mapping) or selector.get("matchLabels") or selector.get("matchExpressions"):
        return False
    types = types if isinstance(types, list) else ["Ingress"]
    wanted = {"Ingress", "Egress"} if require_egress else {"Ingress"}
    denies = {t for t in wanted if t in types and not get(spec, t.lower())}
    return denies == wanted


def check_network_policies(resources: Sequence[Res], ctx: Context) -> list[Violation]:
    policies = [r for r in resources if k8s_kind(r.type) == "NetworkPolicy"]
    workloads = [r for r in resources if pod_template(r) is not None]
    violations = []
    namespaces_reported: set[str] = set()
    for workload in workloads:
        template = pod_template(workload)
        assert template is not None
        local = [p for p in policies if same_namespace(p, workload)]
        namespace = namespace_of(workload)
        shown = namespace if isinstance(namespace, str) else "(provider default)"
        denied = any(_is_default_deny(p, ctx.flag("requireEgressDeny")) is not False for p in local)
        if not denied and shown not in namespaces_reported:
            namespaces_reported.add(shown)
            traffic = "ingress and egress" if ctx.flag("requireEgressDeny") else "ingress"
            violations.append(
                Violation(
                    f"namespace {shown} has no default-deny NetworkPolicy: declare one with podSelector {{}} "
                    f"that denies all {traffic}",
                    workload.urn,
                )
            )
        if ctx.flag("requireWorkloadPolicy"):
            own = [
                p
                for p in local
                if get(p.props, "spec", "podSelector", "matchLabels")
                or get(p.props, "spec", "podSelector", "matchExpressions")
            ]
            if not any(
                selector_matches(get(p.props, "spec", "podSelector"), template.labels) is not False
                for p in own
            ):
                violations.append(
                    Violation(
                        f"{describe(workload)} is selected by no NetworkPolicy of its own: declare one that "
                        "selects its pods and allows only the flows it needs",
                        workload.urn,
                    )
                )
    return violations


NETWORK_POLICIES = StackRule(
    name="network-policy-coverage",
    description="Every namespace with workloads denies traffic by default, and every workload has its own NetworkPolicy.",
    check=check_network_policies,
    config={
        "requireEgressDeny": {
            "type": "boolean",
            "default": True,
            "description": "the default deny must cover egress too",
        },
        "requireWorkloadPolicy": {
            "type": "boolean",
            "default": True,
            "description": "every workload must be selected by a NetworkPolicy with a non-empty podSelector",
        },
    },
)


def check_namespace(resource: Res, _ctx: Context) -> list[str]:
    kind = k8s_kind(resource.type)
    if kind is None or kind in CLUSTER_SCOPED or kind in NOT_OBJECTS or kind.endswith(("Patch", "List")):
        return []
    namespace = namespace_of(resource)
    if is_unknown(namespace):
        return []
    if namespace is None:
        if resource.provider is None:
            return []
        provider_namespace = resource.provider.get("namespace")
        if is_unknown(provider_namespace) or (
            isinstance(provider_namespace, str) and provider_namespace not in ("", "default")
        ):
            return []
    elif namespace != "default":
        return []
    return [
        f"{describe(resource)} lands in the 'default' namespace: set metadata.namespace to the app's namespace"
    ]


NO_DEFAULT_NAMESPACE = ResourceRule(
    name="no-default-namespace",
    description="Nothing is deployed into the 'default' namespace.",
    check=check_namespace,
)

RULES: list[Rule] = [RESTRICTED, BASELINE, PROBES, NETWORK_POLICIES, NO_DEFAULT_NAMESPACE]
