"""Our custom resources against the vendors' own CRDs on a real kube-apiserver.

The CRDs come from the vendors' Go modules (cert-manager, prometheus-operator, Cluster API),
extracted by `make setup` into ~/.cache/paif/vendor-crds (toolchain/setup-platform.sh; never
committed). The objects are the ones the prod program declares, rendered under Pulumi mocks
(tests/unit/test_cluster_platform.py's program run): ServiceMonitor, PrometheusRules,
ClusterIssuer, Certificate and the Cluster. Each is created with `dryRun=All` and
`fieldValidation=Strict`, so a field the vendor schema lacks is an error, not a silent prune.

Not covered, because no vendor CRD is obtainable from the Go module proxy here: VM Service
(`VirtualMachine`), DSM (`PostgresCluster`) and Carvel (`PackageRepository`/`PackageInstall`);
those keep our own shapes (localenv/crds/, components/crds/carvel.py).
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from localenv import processes
from localenv.layout import Layout
from tests.integration.apiserver import start_apiserver
from tests.integration.test_etcd_security import wait_for
from tests.unit.harness import Registered, unwrap
from tests.unit.test_cluster_platform import CA_KEY
from tests.unit.test_program import SECRETS, WORKLOAD_KUBECONFIG

pytestmark = pytest.mark.integration

CACHE = Path(os.environ.get("PAIF_CACHE", Path.home() / ".cache" / "paif"))
VERSIONS = {
    line.split("=", 1)[0]: line.split("=", 1)[1].strip()
    for line in (Path(__file__).resolve().parents[2] / "toolchain" / "versions.env").read_text().splitlines()
    if "=" in line and not line.startswith("#")
}
VENDOR_DIRS = {
    "cert-manager": CACHE / "vendor-crds" / f"cert-manager-{VERSIONS['CERT_MANAGER_VERSION']}",
    "prometheus-operator": CACHE
    / "vendor-crds"
    / f"prometheus-operator-{VERSIONS['PROMETHEUS_OPERATOR_VERSION']}",
    "cluster-api": CACHE / "vendor-crds" / f"cluster-api-{VERSIONS['CLUSTER_API_VERSION']}",
}
# Cluster API 1.14 deprecates v1beta1; the VKS Supervisors our ClusterClass builtin-generic-v3.4.0
# targets serve v1beta1 (v1beta2 only on newer ones, docs/REFERENCE-VKS-PLATFORM.md section 6).
EXPECTED_WARNINGS = {
    '299 - "cluster.x-k8s.io/v1beta1 Cluster is deprecated; use cluster.x-k8s.io/v1beta2 Cluster"'
}
VALIDATED_KINDS = {"ServiceMonitor", "PrometheusRule", "ClusterIssuer", "Certificate", "Cluster"}


@dataclass(frozen=True)
class Endpoint:
    plural: str
    namespaced: bool


@dataclass
class ApiServer:
    url: str
    client: httpx.Client
    kinds: dict[tuple[str, str], Endpoint]
    """(apiVersion, kind) -> where to create it."""

    def path(self, obj: dict[str, Any]) -> str:
        endpoint = self.kinds[(obj["apiVersion"], obj["kind"])]
        namespace = f"/namespaces/{obj['metadata']['namespace']}" if endpoint.namespaced else ""
        return f"{self.url}/apis/{obj['apiVersion']}{namespace}/{endpoint.plural}"

    def dry_run(self, obj: dict[str, Any]) -> httpx.Response:
        return self.client.post(
            self.path(obj), params={"dryRun": "All", "fieldValidation": "Strict"}, json=obj
        )


def vendor_crds() -> list[dict[str, Any]]:
    crds = []
    for name, directory in VENDOR_DIRS.items():
        assert (directory / ".complete").exists(), f"{name} CRDs missing at {directory}: run `make setup`"
        crds += [yaml.safe_load(p.read_text()) for p in sorted(directory.glob("*.yaml"))]
    return crds


@pytest.fixture(scope="module")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    crds = vendor_crds()
    layout = Layout(tmp_path_factory.mktemp("vendor-crds") / "home")
    layout.prepare()
    try:
        server = start_apiserver(layout)
        url, process, log = server.url, server.process, server.log
        with contextlib.closing(server.client) as client:
            kinds: dict[tuple[str, str], Endpoint] = {}
            for crd in crds:
                created = client.post(
                    f"{url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd
                )
                assert created.status_code == 201, created.text
                spec = crd["spec"]
                for version in spec["versions"]:
                    if version.get("served"):
                        kinds[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = Endpoint(
                            spec["names"]["plural"], spec["scope"] == "Namespaced"
                        )

            def established() -> bool:
                items = client.get(f"{url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions").json()[
                    "items"
                ]
                return len(items) == len(crds) and all(
                    any(
                        c["type"] == "Established" and c["status"] == "True"
                        for c in (i.get("status") or {}).get("conditions") or []
                    )
                    for i in items
                )

            wait_for("vendor CRDs Established", established, 60, process, log)
            yield ApiServer(url, client, kinds)
    finally:
        processes.sweep(layout.home)


def _clean(value: Any) -> Any:
    """The object as the provider sends it: no nulls (unset inputs), no Pulumi markers."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


@pytest.fixture(scope="module")
def declared_objects() -> list[dict[str, Any]]:
    """Every custom resource of a validated kind that the prod program declares."""
    from tests.unit.harness import run_program, stack_config

    config = stack_config("prod")
    config["vks"]["platform"]["certManager"]["caCertificate"] = config["database"]["caBundle"]
    config["vks"]["gpuPool"] |= {"minReplicas": 1, "maxReplicas": 4, "osVersion": "24.04"}
    config["vks"]["platform"]["autoscaler"] = {"packageVersion": "1.33.0+vmware.1-vks.1"}
    rec = run_program(
        config,
        {**SECRETS, "workloadKubeconfig": WORKLOAD_KUBECONFIG, "corporateCaKey": CA_KEY},
        stack="prod",
    )
    objects = [_clean(unwrap(r.props)) for r in rec.resources if _kind(r) in VALIDATED_KINDS]
    return objects


def _kind(resource: Registered) -> str:
    return resource.type.rsplit(":", 1)[-1] if resource.type.startswith("kubernetes:") else ""


def _ensure_namespaces(api: ApiServer, objects: list[dict[str, Any]]) -> None:
    for namespace in {o["metadata"].get("namespace") for o in objects} - {None}:
        response = api.client.post(f"{api.url}/api/v1/namespaces", json={"metadata": {"name": namespace}})
        assert response.status_code in (201, 409), response.text


def test_the_prod_program_declares_every_validated_kind(declared_objects: list[dict[str, Any]]) -> None:
    assert {o["kind"] for o in declared_objects} == VALIDATED_KINDS


def test_vendor_crds_accept_our_objects(apiserver: ApiServer, declared_objects: list[dict[str, Any]]) -> None:
    _ensure_namespaces(apiserver, declared_objects)
    for obj in declared_objects:
        response = apiserver.dry_run(obj)
        where = f"{obj['kind']} {obj['metadata']['name']}"
        assert response.status_code == 201, f"{where}: {response.text}"
        warnings = [w for w in response.headers.get_list("warning") if w not in EXPECTED_WARNINGS]
        assert not warnings, f"{where}: {warnings}"


# (kind, where to add a field the vendor schema lacks)
UNKNOWN_FIELDS = [
    ("ServiceMonitor", ("spec", "endpoints", 0)),
    ("PrometheusRule", ("spec", "groups", 0, "rules", 0)),
    ("ClusterIssuer", ("spec", "ca")),
    ("Certificate", ("spec",)),
    ("Cluster", ("spec", "topology")),
]


@pytest.mark.parametrize(("kind", "path"), UNKNOWN_FIELDS, ids=[k for k, _ in UNKNOWN_FIELDS])
def test_a_field_the_vendor_schema_lacks_is_refused(
    apiserver: ApiServer, declared_objects: list[dict[str, Any]], kind: str, path: tuple[str | int, ...]
) -> None:
    _ensure_namespaces(apiserver, declared_objects)
    obj = copy.deepcopy(next(o for o in declared_objects if o["kind"] == kind))
    target: Any = obj
    for part in path:
        target = target[part]
    target["paifNotInTheSchema"] = "x"
    response = apiserver.dry_run(obj)
    # Strict field validation answers 400 BadRequest "strict decoding error: unknown field".
    assert response.status_code == 400, response.text
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    assert f'unknown field \\"{field}.paifNotInTheSchema\\"' in response.text


def test_a_wrong_type_is_refused(apiserver: ApiServer, declared_objects: list[dict[str, Any]]) -> None:
    """The schema is really applied: a string where the ServiceMonitor's endpoints list goes."""
    _ensure_namespaces(apiserver, declared_objects)
    obj = copy.deepcopy(next(o for o in declared_objects if o["kind"] == "ServiceMonitor"))
    obj["spec"]["endpoints"] = "http"
    response = apiserver.dry_run(obj)
    assert response.status_code == 422, response.text
