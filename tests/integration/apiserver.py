"""A throwaway kube-apiserver for the integration tests: etcd (TLS, client certificates, the
local environment's own starter) and kube-apiserver on 127.0.0.1 in a test's own directory,
optionally with kube-controller-manager (pulumi-kubernetes deletes in the foreground, which
only the garbage collector completes). The caller sweeps `layout.home` afterwards."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from localenv import processes
from localenv.layout import Layout
from localenv.pki import Pki, admin_tls, ensure_pki, kubeconfig
from localenv.services import _Starter, apiserver_command
from tests.integration.test_etcd_security import start_etcd, wait_for


@dataclass
class ApiServerProcess:
    url: str
    pki: Pki
    client: httpx.Client
    """An admin client, already used (close it with contextlib.closing, not `with`)."""
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def kubeconfig(self) -> str:
        """An admin kubeconfig with everything inline."""
        return kubeconfig(self.pki, self.url)


def start_apiserver(layout: Layout, *, controller_manager: bool = False) -> ApiServerProcess:
    """etcd + kube-apiserver (RBAC, loopback only), ready to serve; with the controller manager
    when asked."""
    pki = ensure_pki(layout.pki_dir)
    _, etcd_port = start_etcd(layout, pki)
    port = processes.free_port()
    log = layout.logs / "kube-apiserver.log"
    process = processes.spawn(
        [*apiserver_command(pki, etcd_port, port, service_cidr="198.19.0.0/24"), "--authorization-mode=RBAC"],
        home=layout.home,
        log=log,
    )
    client = httpx.Client(verify=admin_tls(pki), timeout=30)
    server = ApiServerProcess(f"https://127.0.0.1:{port}", pki, client, process, log)

    def ready() -> bool:
        try:
            return server.client.get(f"{server.url}/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    wait_for("kube-apiserver", ready, 120, process, log)
    if controller_manager:
        path = layout.home / "admin.kubeconfig"
        path.write_text(server.kubeconfig)
        path.chmod(0o600)
        _Starter(layout, {}, {"kube-controller-manager": processes.free_port()}).controller_manager(pki, path)
    return server


@contextmanager
def running_apiserver(
    home: Path, *, namespaces: tuple[str, ...] = (), controller_manager: bool = False
) -> Iterator[ApiServerProcess]:
    """`start_apiserver` in a fresh layout under `home`, with `namespaces` created; every
    process under `home` is swept afterwards."""
    layout = Layout(home)
    layout.prepare()
    try:
        server = start_apiserver(layout, controller_manager=controller_manager)
        try:
            for name in namespaces:
                created = server.client.post(f"{server.url}/api/v1/namespaces", json={"metadata": {"name": name}})
                assert created.status_code == 201, created.text
            yield server
        finally:
            server.client.close()
    finally:
        processes.sweep(layout.home)
