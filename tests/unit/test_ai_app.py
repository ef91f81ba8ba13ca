"""AiApp under Pulumi mocks: what it registers for a production-shaped and a minimal app."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pulumi
import pytest

from components.ai_app import AiApp, AiAppArgs, AutoscalingSpec, ResourceSpec, TlsSpec
from tests.unit.harness import Recorded, contains_plain, run

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SECRET = "kubernetes:core/v1:Secret"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"

CLIENT_SECRET = "pais-client-secret-value"
DB_PASSWORD = "db-password-value"


def base_args(**changes: Any) -> AiAppArgs:
    args = AiAppArgs(
        name="chat",
        namespace="paif-chat",
        hostname="chat.example.com",
        frontend_image="harbor.example.com/paif/chat-frontend:1.0.0",
        backend_image="harbor.example.com/paif/chat-backend:1.0.0",
        frontend_resources=ResourceSpec("100m", "128Mi", "256Mi", "500m"),
        backend_resources=ResourceSpec("500m", "512Mi", "1Gi", None),
        config={"PAIS_BASE_URL": "https://pais.example.com", "DB_HOST": "db.example.com"},
        secrets={
            "PAIS_CLIENT_SECRET": pulumi.Output.secret(CLIENT_SECRET),
            "DB_PASSWORD": pulumi.Output.secret(DB_PASSWORD),
        },
        pais_egress_cidr="10.0.1.0/24",
        db_egress_cidr="10.0.2.0/24",
    )
    return replace(args, **changes)


def declare(args: AiAppArgs) -> Recorded:
    return run(lambda: AiApp("chat", args))


@pytest.fixture(scope="module")
def prod() -> Recorded:
    return declare(
        base_args(
            replicas=3,
            autoscaling=AutoscalingSpec(3, 10, 70),
            disruption_budget=True,
            anti_affinity=True,
            monitoring=True,
            tls=TlsSpec(mode="cert-manager", cluster_issuer="corp-ca"),
            uploads_volume_size="5Gi",
            uploads_access_mode="ReadWriteMany",
            uploads_storage_class="vsan-file-services",
            image_pull_dockerconfigjson=pulumi.Output.secret('{"auths": {}}'),
        )
    )


@pytest.fixture(scope="module")
def minimal() -> Recorded:
    return declare(base_args())


def containers(rec: Recorded) -> list[dict[str, Any]]:
    return [c for d in rec.of_type(DEPLOYMENT) for c in d.props["spec"]["template"]["spec"]["containers"]]


def test_prod_shape_has_ha_objects(prod: Recorded) -> None:
    deployments = prod.of_type(DEPLOYMENT)
    assert sorted(d.props["metadata"]["name"] for d in deployments) == ["chat-backend", "chat-frontend"]
    assert len(prod.of_type(HPA)) == 2
    assert all(h.props["spec"]["minReplicas"] == 3 for h in prod.of_type(HPA))
    pdbs = prod.of_type(PDB)
    assert len(pdbs) == 2
    assert {p.props["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] for p in pdbs} == {
        "frontend",
        "backend",
    }
    for d in deployments:
        pod = d.props["spec"]["template"]["spec"]
        assert pod["affinity"]["podAntiAffinity"]
        assert pod["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
        assert pod["imagePullSecrets"] == [{"name": "chat-registry"}]


def test_minimal_shape_has_no_ha_objects(minimal: Recorded) -> None:
    assert [d.props["spec"]["replicas"] for d in minimal.of_type(DEPLOYMENT)] == [1, 1]
    assert not minimal.of_type(HPA)
    assert not minimal.of_type(PDB)
    assert "kubernetes:monitoring.coreos.com/v1:ServiceMonitor" not in minimal.types()


def test_the_hpa_alone_owns_replicas(prod: Recorded) -> None:
    """With an HPA the Deployment declares no spec.replicas: Pulumi never claims the field the
    HPA (or a `kubectl scale`) writes, so neither fights the other."""
    targets = {h.props["spec"]["scaleTargetRef"]["name"] for h in prod.of_type(HPA)}
    for d in prod.of_type(DEPLOYMENT):
        assert d.props["metadata"]["name"] in targets
        assert "replicas" not in d.props["spec"], f"{d.name} declares replicas beside its HPA"
        assert "pulumi.com/patchForce" not in (d.props["metadata"].get("annotations") or {})


def test_declared_replicas_win_over_an_out_of_band_scale(minimal: Recorded) -> None:
    """Without an HPA the declared count is the truth: a `kubectl scale` (another field manager
    owning spec.replicas) must not wedge the next update with a server-side-apply conflict."""
    for d in minimal.of_type(DEPLOYMENT):
        assert d.props["spec"]["replicas"] == 1
        assert d.props["metadata"]["annotations"]["pulumi.com/patchForce"] == "true"


def test_monitoring_objects(prod: Recorded) -> None:
    rules = prod.one("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "chat-alerts").props["spec"]
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    assert any("histogram_quantile(0.95" in e for e in exprs)
    assert any('status=~"5.."' in e for e in exprs)
    monitor = prod.one("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "chat-servicemonitor")
    assert monitor.props["spec"]["endpoints"][0]["path"] == "/metrics"


@pytest.mark.parametrize("shape", ["prod", "minimal"])
def test_every_container_is_limited_probed_and_restricted(shape: str, request: pytest.FixtureRequest) -> None:
    rec: Recorded = request.getfixturevalue(shape)
    for c in containers(rec):
        assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
        assert c["resources"]["limits"]["memory"]
        assert c["livenessProbe"]["httpGet"]["path"] and c["readinessProbe"]["httpGet"]["path"]
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert sc["seccompProfile"]["type"] == "RuntimeDefault"
        assert ":latest" not in c["image"]
    for d in rec.of_type(DEPLOYMENT):
        pod = d.props["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
    for sa in rec.of_type("kubernetes:core/v1:ServiceAccount"):
        assert sa.props["automountServiceAccountToken"] is False


def test_cpu_limit_is_optional(prod: Recorded) -> None:
    by_name = {c["name"]: c for c in containers(prod)}
    assert by_name["frontend"]["resources"]["limits"]["cpu"] == "500m"
    assert "cpu" not in by_name["backend"]["resources"]["limits"]


def test_secrets_never_plain(prod: Recorded) -> None:
    app_secret = prod.one(SECRET, "chat-secrets")
    assert app_secret.is_secret("stringData")
    assert app_secret.props["stringData"]["PAIS_CLIENT_SECRET"] == CLIENT_SECRET
    for resource in prod.resources:
        for needle in (CLIENT_SECRET, DB_PASSWORD):
            assert not contains_plain(resource.inputs, needle), f"{needle} in plain text in {resource.name}"
    config_map = prod.one(CONFIG_MAP, "chat-config").props["data"]
    assert CLIENT_SECRET not in config_map.values()
    backend = next(c for c in containers(prod) if c["name"] == "backend")
    literal = [e for e in backend["env"] if "value" in e]
    assert literal == []
    assert {e["valueFrom"]["secretKeyRef"]["key"] for e in backend["env"]} == {"DB_PASSWORD", "PAIS_CLIENT_SECRET"}


def test_ingress_tls_covers_host(prod: Recorded, minimal: Recorded) -> None:
    for rec in (prod, minimal):
        ingress = rec.one(INGRESS, "chat-ingress").props
        hosts = {h for t in ingress["spec"]["tls"] for h in t["hosts"]}
        assert {r["host"] for r in ingress["spec"]["rules"]} <= hosts
    assert prod.one(INGRESS, "chat-ingress").props["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "corp-ca"
    tls_secret = minimal.one(SECRET, "chat-tls")
    assert tls_secret.props["type"] == "kubernetes.io/tls"
    assert tls_secret.is_secret("stringData")


def test_network_policies(prod: Recorded) -> None:
    policies = {p.props["metadata"]["name"]: p.props["spec"] for p in prod.of_type(NETPOL)}
    assert policies["chat-default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    backend = policies["chat-backend"]
    assert backend["ingress"][0]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "frontend"
    egress_cidrs = {peer["ipBlock"]["cidr"] for rule in backend["egress"] for peer in rule["to"] if "ipBlock" in peer}
    assert egress_cidrs == {"10.0.1.0/24", "10.0.2.0/24"}
    frontend = policies["chat-frontend"]
    assert frontend["egress"][0]["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "backend"


PVC = "kubernetes:core/v1:PersistentVolumeClaim"


def test_uploads_volume(prod: Recorded, minimal: Recorded) -> None:
    assert prod.one(PVC, "chat-uploads").props["spec"]["resources"] == {"requests": {"storage": "5Gi"}}
    assert not minimal.of_type(PVC)


def test_replicas_share_uploads_through_a_read_write_many_class(prod: Recorded) -> None:
    """Several anti-affine replicas on different nodes mount the claim: only a ReadWriteMany
    volume (e.g. vSAN File Services) can be mounted by all of them."""
    spec = prod.one(PVC, "chat-uploads").props["spec"]
    assert spec["accessModes"] == ["ReadWriteMany"]
    assert spec["storageClassName"] == "vsan-file-services"


def test_a_single_replica_writes_uploads_to_a_read_write_once_volume() -> None:
    rec = declare(base_args(uploads_volume_size="1Gi"))
    spec = rec.one(PVC, "chat-uploads").props["spec"]
    assert spec["accessModes"] == ["ReadWriteOnce"]
    assert "storageClassName" not in spec, "the cluster's default class"
    backend = rec.one(DEPLOYMENT, "chat-backend").props["spec"]["template"]["spec"]
    assert {"name": "uploads", "persistentVolumeClaim": {"claimName": "chat-uploads"}} in backend["volumes"]


@pytest.mark.parametrize(
    "changes",
    [
        {"replicas": 2},
        {"autoscaling": AutoscalingSpec(1, 3, 70)},
    ],
    ids=["replicas", "autoscaling"],
)
def test_read_write_once_uploads_refuse_several_replicas(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="ReadWriteOnce"):
        AiApp("chat", base_args(uploads_volume_size="1Gi", **changes))


def test_namespace_enforces_restricted_pod_security(minimal: Recorded) -> None:
    ns = minimal.one("kubernetes:core/v1:Namespace", "chat-ns").props
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def policy_specs(rec: Recorded) -> dict[str, dict[str, Any]]:
    return {p.props["metadata"]["name"]: p.props["spec"] for p in rec.of_type(NETPOL)}


KUBE_DNS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


@pytest.mark.parametrize("shape", ["prod", "minimal"])
def test_dns_egress_reaches_kube_dns_in_kube_system_only(shape: str, request: pytest.FixtureRequest) -> None:
    rec: Recorded = request.getfixturevalue(shape)
    for name in ("chat-frontend", "chat-backend"):
        dns = [rule for rule in policy_specs(rec)[name]["egress"] if rule["ports"] == DNS_PORTS]
        assert dns == [{"to": [KUBE_DNS], "ports": DNS_PORTS}], name


def test_backend_egress_is_exactly_pais_postgres_and_dns(minimal: Recorded) -> None:
    assert policy_specs(minimal)["chat-backend"]["egress"] == [
        {"to": [{"ipBlock": {"cidr": "10.0.1.0/24"}}], "ports": [{"protocol": "TCP", "port": 443}]},
        {"to": [{"ipBlock": {"cidr": "10.0.2.0/24"}}], "ports": [{"protocol": "TCP", "port": 5432}]},
        {"to": [KUBE_DNS], "ports": DNS_PORTS},
    ]


def test_frontend_reaches_the_backend_service_it_proxies_to(minimal: Recorded) -> None:
    """nginx proxies /api/ to BACKEND_URL: the backend Service's name and port, which the
    frontend's egress and the backend's ingress allow between exactly these pods."""
    config = minimal.one(CONFIG_MAP, "chat-config").props["data"]
    assert config["BACKEND_URL"] == "http://chat-backend.paif-chat.svc:8000"
    service = minimal.one("kubernetes:core/v1:Service", "chat-backend").props
    assert service["spec"]["ports"][0]["port"] == 8000
    policies = policy_specs(minimal)
    backend_pods = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "chat", "app.kubernetes.io/component": "backend"}}}
    frontend_pods = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "chat", "app.kubernetes.io/component": "frontend"}}}
    assert {"to": [backend_pods], "ports": [{"protocol": "TCP", "port": 8000}]} in policies["chat-frontend"]["egress"]
    assert policies["chat-backend"]["ingress"] == [{"from": [frontend_pods], "ports": [{"protocol": "TCP", "port": 8000}]}]


def test_metrics_are_scraped_from_the_monitoring_namespace_only() -> None:
    rec = declare(base_args(monitoring=True, monitoring_namespace="tanzu-system-monitoring"))
    scrape = {
        "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "tanzu-system-monitoring"}}}],
        "ports": [{"protocol": "TCP", "port": 8000}],
    }
    ingress = policy_specs(rec)["chat-backend"]["ingress"]
    assert len(ingress) == 2 and ingress[1] == scrape
    assert "podSelector" in ingress[0]["from"][0]


def test_no_scrape_rule_without_monitoring(minimal: Recorded) -> None:
    assert len(policy_specs(minimal)["chat-backend"]["ingress"]) == 1


def test_ingress_names_its_class() -> None:
    rec = declare(base_args(ingress_class="contour"))
    assert rec.one(INGRESS, "chat-ingress").props["spec"]["ingressClassName"] == "contour"


CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBexample\n-----END CERTIFICATE-----\n"


def test_ca_bundles_are_mounted_into_the_backend_from_a_config_map() -> None:
    rec = declare(base_args(ca_bundles={"db.crt": CA_PEM, "pais.crt": CA_PEM}))
    assert rec.one(CONFIG_MAP, "chat-ca").props["data"] == {"db.crt": CA_PEM, "pais.crt": CA_PEM}
    pod = rec.one(DEPLOYMENT, "chat-backend").props["spec"]["template"]["spec"]
    assert {"name": "ca", "configMap": {"name": "chat-ca"}} in pod["volumes"]
    [backend] = pod["containers"]
    assert {"name": "ca", "mountPath": "/etc/paif/ca", "readOnly": True} in backend["volumeMounts"]
    frontend = rec.one(DEPLOYMENT, "chat-frontend").props["spec"]["template"]["spec"]
    assert all(v["name"] != "ca" for v in frontend["volumes"])


def test_no_ca_config_map_without_bundles(minimal: Recorded) -> None:
    assert [c.name for c in minimal.of_type(CONFIG_MAP)] == ["chat-config"]


def _settings_digest(rec: Recorded) -> str:
    backend = rec.one(DEPLOYMENT, "chat-backend")
    assert not backend.is_secret("spec"), "the digest must not make the Deployment's spec a secret"
    digest: str = backend.props["spec"]["template"]["metadata"]["annotations"]["paif.vmware.com/settings-digest"]
    return digest


def test_a_changed_setting_or_secret_rolls_the_backend_and_the_digest_reveals_neither(minimal: Recorded) -> None:
    """The backend reads its ConfigMap and Secret at start only: the pod template carries a
    keyed digest of both, so a database on another port or a rotated password rolls the pods."""
    digest = _settings_digest(minimal)
    assert digest.startswith("hmac-sha256:") and digest == _settings_digest(declare(base_args()))
    moved = base_args(config={"PAIS_BASE_URL": "https://pais.example.com", "DB_HOST": "db.example.com", "DB_PORT": "6543"})
    assert _settings_digest(declare(moved)) != digest
    rotated = base_args(
        secrets={
            "PAIS_CLIENT_SECRET": pulumi.Output.secret(CLIENT_SECRET),
            "DB_PASSWORD": pulumi.Output.secret("rotated-password-value"),
        }
    )
    assert _settings_digest(declare(rotated)) != digest
    assert not contains_plain(minimal.one(DEPLOYMENT, "chat-backend").inputs, DB_PASSWORD)
    # The frontend reads nothing of them.
    assert "annotations" not in minimal.one(DEPLOYMENT, "chat-frontend").props["spec"]["template"]["metadata"]
