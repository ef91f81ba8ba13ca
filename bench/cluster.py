"""A throwaway Kubernetes API server for the benchmark: etcd + kube-apiserver on 127.0.0.1,
started from the tools `make setup` builds, in a private temporary directory, stopped and
deleted afterwards. No node, no controllers: objects are stored, nothing runs.

The same starter the local environment and tests/integration/test_etcd_security.py use
(etcd over TLS with client certificates, Secrets encrypted at rest); the API server binds
loopback only.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from localenv import processes
from localenv.etcd import etcd_healthy
from localenv.layout import Layout
from localenv.pki import admin_tls, ensure_pki, kubeconfig
from localenv.services import _Starter, apiserver_command

START_TIMEOUT_SECONDS = 120.0
# ServiceMonitor and PrometheusRule (prod's monitoring): the bench's own minimal CRDs, schema
# left open, so the objects can be stored. Not the upstream definitions.
MONITORING_KINDS = (("ServiceMonitor", "servicemonitors"), ("PrometheusRule", "prometheusrules"))


class ClusterError(RuntimeError):
    """The throwaway API server did not come up."""


@dataclass(frozen=True)
class Cluster:
    url: str
    kubeconfig: str

    @property
    def host_port(self) -> str:
        return self.url.removeprefix("https://")


def _wait(what: str, ready: object, process: object, log: Path) -> None:
    assert callable(ready)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if getattr(process, "poll")() is not None:  # noqa: B009 - Popen of any type
            raise ClusterError(f"{what} exited: {log.read_text()[-2000:]}")
        if ready():
            return
        time.sleep(0.3)
    raise ClusterError(f"{what} not ready after {START_TIMEOUT_SECONDS:.0f} s: {log.read_text()[-2000:]}")


def _crd(kind: str, plural: str) -> dict[str, object]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.monitoring.coreos.com"},
        "spec": {
            "group": "monitoring.coreos.com",
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }


@contextmanager
def api_server() -> Iterator[Cluster]:
    """etcd + kube-apiserver in a temporary directory for as long as the block runs."""
    with tempfile.TemporaryDirectory(prefix="paif-bench-cluster-") as tmp:
        layout = Layout(Path(tmp) / "home")
        layout.prepare()
        try:
            pki = ensure_pki(layout.pki_dir)
            ports = {"etcd": processes.free_port(), "etcd-peer": processes.free_port()}
            etcd, etcd_log = _Starter(layout, {}, ports).etcd(pki)
            _wait("etcd", lambda: etcd_healthy(ports["etcd"], pki), etcd, etcd_log)
            port = processes.free_port()
            log = layout.logs / "kube-apiserver.log"
            apiserver = processes.spawn(
                [
                    *apiserver_command(pki, ports["etcd"], port, service_cidr="198.19.0.0/20"),
                    "--authorization-mode=RBAC",
                ],
                home=layout.home,
                log=log,
            )
            url = f"https://127.0.0.1:{port}"
            tls = admin_tls(pki)

            def ready() -> bool:
                try:
                    return httpx.get(f"{url}/readyz", verify=tls, timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            _wait("kube-apiserver", ready, apiserver, log)
            with httpx.Client(base_url=url, verify=tls, timeout=10) as client:
                for kind, plural in MONITORING_KINDS:
                    created = client.post(
                        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=_crd(kind, plural)
                    )
                    if created.status_code not in {201, 409}:
                        raise ClusterError(f"CRD {plural}: HTTP {created.status_code}: {created.text[:500]}")
                deadline = time.monotonic() + 30
                while client.get("/apis/monitoring.coreos.com/v1/servicemonitors").status_code != 200:
                    if time.monotonic() > deadline:
                        raise ClusterError("the monitoring CRDs were not served after 30 s")
                    time.sleep(0.3)
            yield Cluster(url=url, kubeconfig=kubeconfig(pki, url))
        finally:
            processes.sweep(layout.home)
