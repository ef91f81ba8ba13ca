"""Pod-security rules: restricted and baseline standards, probes, NetworkPolicies, namespaces."""

from __future__ import annotations

from typing import Any

import pytest

from policy.rules.common import UNKNOWN
from policy.rules.pod_security import BASELINE, NETWORK_POLICIES, NO_DEFAULT_NAMESPACE, PROBES, RESTRICTED
from tests.policy.builders import (
    LABELS,
    backend_policy,
    changed,
    config_map,
    container,
    default_deny,
    deployment,
    network_policy,
    res,
)

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def with_container(path: str, value: Any) -> Any:
    return deployment(containers=[changed(container(), path, value)])


class TestRestricted:
    def test_restricted_container_passes(self) -> None:
        assert RESTRICTED.evaluate(deployment()) == []

    def test_pod_level_settings_are_inherited(self) -> None:
        spec = changed(container(), "securityContext.runAsNonRoot", None)
        spec = changed(spec, "securityContext.seccompProfile", None)
        assert RESTRICTED.evaluate(deployment(containers=[spec])) == []

    @pytest.mark.parametrize(
        ("path", "value", "fix"),
        [
            ("securityContext.allowPrivilegeEscalation", None, "allowPrivilegeEscalation: false"),
            ("securityContext.readOnlyRootFilesystem", False, "readOnlyRootFilesystem: true"),
            ("securityContext.capabilities.drop", ["NET_RAW"], "capabilities.drop: [ALL]"),
            ("securityContext.capabilities.add", ["CHOWN"], "remove CHOWN"),
            ("securityContext.runAsNonRoot", False, "runAsNonRoot: true"),
            ("securityContext.runAsUser", 0, "non-zero runAsUser"),
            ("securityContext.seccompProfile", {"type": "Localhos"}, "seccompProfile.type: RuntimeDefault"),
        ],
    )
    def test_each_missing_setting_fails(self, path: str, value: Any, fix: str) -> None:
        [message] = RESTRICTED.evaluate(with_container(path, value))
        assert message.startswith(
            "container 'backend' of Deployment 'paif-chat/chat-backend' is not restricted: set"
        )
        assert fix in message

    def test_without_pod_defaults_everything_is_listed(self) -> None:
        props = changed(
            deployment(containers=[{"name": "c", "image": "x"}]).props,
            "spec.template.spec.securityContext",
            None,
        )
        [message] = RESTRICTED.evaluate(res(DEPLOYMENT, props))
        assert message.count(";") == 4

    def test_unknown_security_context_is_not_a_violation(self) -> None:
        assert RESTRICTED.evaluate(with_container("securityContext", UNKNOWN)) == []


class TestBaseline:
    def test_plain_pod_passes(self) -> None:
        assert BASELINE.evaluate(deployment()) == []

    @pytest.mark.parametrize("key", ["hostNetwork", "hostPID", "hostIPC"])
    def test_host_namespaces_fail(self, key: str) -> None:
        props = changed(deployment().props, f"spec.template.spec.{key}", True)
        assert BASELINE.evaluate(res(DEPLOYMENT, props)) == [
            f"Deployment 'paif-chat/chat-backend' sets {key}: remove it (pods share the node's namespaces)"
        ]

    def test_host_path_fails(self) -> None:
        props = changed(
            deployment().props, "spec.template.spec.volumes", [{"name": "root", "hostPath": {"path": "/"}}]
        )
        assert len(BASELINE.evaluate(res(DEPLOYMENT, props))) == 1

    def test_privileged_container_fails(self) -> None:
        assert BASELINE.evaluate(with_container("securityContext.privileged", True)) == [
            "container 'backend' of Deployment 'paif-chat/chat-backend' is privileged: set securityContext.privileged to false"
        ]

    def test_host_port_fails(self) -> None:
        assert len(BASELINE.evaluate(with_container("ports", [{"containerPort": 80, "hostPort": 80}]))) == 1

    @pytest.mark.parametrize(
        ("setting", "value", "fix"),
        [
            ("windowsOptions", {"hostProcess": True}, "remove windowsOptions.hostProcess"),
            ("appArmorProfile", {"type": "Unconfined"}, "use RuntimeDefault or Localhost"),
            ("seLinuxOptions", {"type": "spc_t"}, "use container_t"),
            ("seLinuxOptions", {"user": "system_u"}, "remove them"),
            ("procMount", "Unmasked", "Default masks /proc"),
            ("seccompProfile", {"type": "Unconfined"}, "use RuntimeDefault or Localhost"),
            ("capabilities", {"add": ["SYS_ADMIN", "CHOWN"], "drop": ["ALL"]}, "adds the capabilities SYS_ADMIN:"),
        ],
    )
    def test_forbidden_security_context_settings_fail_in_pod_and_container(
        self, setting: str, value: Any, fix: str
    ) -> None:
        pod = changed(deployment().props, f"spec.template.spec.securityContext.{setting}", value)
        for resource in (res(DEPLOYMENT, pod), with_container(f"securityContext.{setting}", value)):
            [message] = BASELINE.evaluate(resource)
            assert fix in message and "Deployment 'paif-chat/chat-backend'" in message

    @pytest.mark.parametrize(
        ("setting", "value"),
        [
            ("appArmorProfile", {"type": "RuntimeDefault"}),
            ("appArmorProfile", {"type": "Localhost", "localhostProfile": "k8s-app"}),
            ("seLinuxOptions", {"type": "container_init_t", "level": "s0:c123,c456"}),
            ("procMount", "Default"),
            ("windowsOptions", {"hostProcess": False, "runAsUserName": "app"}),
            ("sysctls", [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]),
        ],
    )
    def test_allowed_security_context_settings_pass(self, setting: str, value: Any) -> None:
        pod = changed(deployment().props, f"spec.template.spec.securityContext.{setting}", value)
        assert BASELINE.evaluate(res(DEPLOYMENT, pod)) == []

    def test_unsafe_sysctls_fail(self) -> None:
        sysctls = [{"name": "kernel.shm_rmid_forced", "value": "1"}, {"name": "kernel.msgmax", "value": "65536"}]
        pod = changed(deployment().props, "spec.template.spec.securityContext.sysctls", sysctls)
        [message] = BASELINE.evaluate(res(DEPLOYMENT, pod))
        assert "'kernel.msgmax'" in message and "shm_rmid_forced" not in message

    def test_unconfined_apparmor_annotation_fails(self) -> None:
        annotations = {
            "container.apparmor.security.beta.kubernetes.io/backend": "unconfined",
            "container.apparmor.security.beta.kubernetes.io/sidecar": "localhost/k8s-app",
            "example.com/other": "unconfined",
        }
        pod = changed(deployment().props, "spec.template.metadata.annotations", annotations)
        [message] = BASELINE.evaluate(res(DEPLOYMENT, pod))
        assert "'unconfined' for 'backend'" in message
        ok = changed(pod, "spec.template.metadata.annotations", {k: "runtime/default" for k in annotations})
        assert BASELINE.evaluate(res(DEPLOYMENT, ok)) == []


class TestProbes:
    def test_probes_pass(self) -> None:
        assert PROBES.evaluate(deployment()) == []

    @pytest.mark.parametrize("probe", ["livenessProbe", "readinessProbe"])
    def test_missing_probe_fails(self, probe: str) -> None:
        assert PROBES.evaluate(with_container(probe, None)) == [
            f"container 'backend' of Deployment 'paif-chat/chat-backend' has no {probe}: add them "
            "(httpGet on a health endpoint)"
        ]

    def test_jobs_need_no_probes(self) -> None:
        job = {"spec": {"template": {"spec": {"containers": [{"name": "migrate", "image": "x"}]}}}}
        assert PROBES.evaluate(res("kubernetes:batch/v1:Job", job)) == []


class TestNetworkPolicies:
    def test_default_deny_and_own_policy_pass(self) -> None:
        assert NETWORK_POLICIES.evaluate([deployment(), default_deny(), backend_policy()]) == []

    def test_missing_default_deny_fails_once_per_namespace(self) -> None:
        first, second = deployment("a"), deployment("b")
        violations = NETWORK_POLICIES.evaluate([first, second, backend_policy()])
        assert [(v.urn, v.message) for v in violations] == [
            (
                first.urn,
                "namespace paif-chat has no default-deny NetworkPolicy: declare one with podSelector {} that "
                "denies all ingress and egress",
            )
        ]

    def test_ingress_only_deny_fails_unless_configured(self) -> None:
        ingress_only = network_policy("default-deny", {}, ["Ingress"])
        assert len(NETWORK_POLICIES.evaluate([deployment(), ingress_only, backend_policy()])) == 1
        assert (
            NETWORK_POLICIES.evaluate(
                [deployment(), ingress_only, backend_policy()], {"requireEgressDeny": False}
            )
            == []
        )

    def test_deny_with_allow_rules_is_not_a_default_deny(self) -> None:
        allow_all = network_policy("allow-all", {}, ["Ingress", "Egress"], ingress=[{}], egress=[{}])
        assert len(NETWORK_POLICIES.evaluate([deployment(), allow_all, backend_policy()])) == 1

    def test_workload_without_its_own_policy_fails(self) -> None:
        workload = deployment(labels={"app.kubernetes.io/name": "other"})
        [violation] = NETWORK_POLICIES.evaluate([workload, default_deny(), backend_policy()])
        assert violation.message.endswith(
            "is selected by no NetworkPolicy of its own: declare one that selects "
            "its pods and allows only the flows it needs"
        )
        assert NETWORK_POLICIES.evaluate([workload, default_deny()], {"requireWorkloadPolicy": False}) == []

    def test_unknown_selector_counts_as_selecting(self) -> None:
        unknown = network_policy("backend", {"matchLabels": UNKNOWN}, ["Ingress"])
        assert NETWORK_POLICIES.evaluate([deployment(labels=LABELS), default_deny(), unknown]) == []


class TestNoDefaultNamespace:
    def test_app_namespace_passes(self) -> None:
        assert NO_DEFAULT_NAMESPACE.evaluate(config_map({})) == []

    def test_default_namespace_fails(self) -> None:
        props = {"metadata": {"name": "x", "namespace": "default"}}
        assert NO_DEFAULT_NAMESPACE.evaluate(res("kubernetes:core/v1:ConfigMap", props)) == [
            "ConfigMap 'default/x' lands in the 'default' namespace: set metadata.namespace to the app's namespace"
        ]

    def test_unset_namespace_depends_on_the_provider(self) -> None:
        resource = deployment(namespace=None)
        assert len(NO_DEFAULT_NAMESPACE.evaluate(resource)) == 0
        with_default = res(DEPLOYMENT, dict(resource.props), provider={"namespace": None})
        with_namespace = res(DEPLOYMENT, dict(resource.props), provider={"namespace": "paif-chat-dev"})
        assert len(NO_DEFAULT_NAMESPACE.evaluate(with_default)) == 1
        assert NO_DEFAULT_NAMESPACE.evaluate(with_namespace) == []

    def test_cluster_scoped_kinds_are_ignored(self) -> None:
        assert (
            NO_DEFAULT_NAMESPACE.evaluate(
                res("kubernetes:core/v1:Namespace", {"metadata": {"name": "x"}}, provider={})
            )
            == []
        )
