"""The DLVM serves an existing kubernetes.io/tls Secret (paif:app.tls.mode secret in dev, issue 12),
in the real engine against a real kube-apiserver.

The Secret is read with the kubernetes provider's `Secret.get` through the component's
provider; its certificate lands in the user data's public part, its key only in the secret
part; the state holds the key only as ciphertext. A Secret that is no TLS pair fails the
preview naming the Secret, never a value. The VM keeps its readiness probe on the API server
(our CRD stand-in, localenv/crds/, does not prune it). No VM Operator runs: nothing is awaited.
"""

from __future__ import annotations

import base64
import contextlib
import email
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from components.certificate.self_signed_certificate import issue_self_signed
from localenv import processes
from localenv.layout import Layout
from tests.integration.apiserver import start_apiserver
from tests.integration.engine import ROOT, PulumiFailed, PulumiProgram

pytestmark = pytest.mark.integration

PROGRAM = Path(__file__).parent / "programs" / "dlvm"
CRD = ROOT / "localenv" / "crds" / "virtualmachines.vmoperator.vmware.com.yaml"
NAMESPACE = "dlvm-tls"
HOSTNAME = "chat.dev.paif.example.internal"


@dataclass
class Cluster:
    url: str
    client: httpx.Client
    kubeconfig: str
    certificate: str
    key: str

    def create(self, path: str, body: dict[str, Any]) -> None:
        created = self.client.post(f"{self.url}{path}", json=body)
        assert created.status_code == 201, created.text

    def get(self, path: str) -> dict[str, Any]:
        response = self.client.get(f"{self.url}{path}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    layout = Layout(tmp_path_factory.mktemp("dlvm-tls-apiserver") / "home")
    layout.prepare()
    certificate, key = issue_self_signed([HOSTNAME], 30)
    try:
        server = start_apiserver(layout)
        with contextlib.closing(server.client) as client:
            cluster = Cluster(server.url, client, server.kubeconfig, certificate, key)
            cluster.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", yaml.safe_load(CRD.read_text()))
            deadline = time.monotonic() + 60
            while client.get(f"{server.url}/apis/vmoperator.vmware.com/v1alpha3").status_code != 200:
                assert time.monotonic() < deadline, "the VirtualMachine CRD was not served after 60 s"
                time.sleep(0.2)
            cluster.create("/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
            secrets = f"/api/v1/namespaces/{NAMESPACE}/secrets"
            cluster.create(
                secrets,
                {
                    "metadata": {"name": "chat-tls"},
                    "type": "kubernetes.io/tls",
                    "data": {"tls.crt": b64(certificate), "tls.key": b64(key)},
                },
            )
            cluster.create(
                secrets,
                {"metadata": {"name": "not-tls"}, "type": "Opaque", "data": {"tls.crt": b64(certificate), "tls.key": b64(key)}},
            )
            yield cluster
    finally:
        processes.sweep(layout.home)


def program_for(cluster: Cluster, workdir: Path, secret_name: str) -> PulumiProgram:
    program = PulumiProgram(PROGRAM, workdir)
    program.set_config("kubeconfig", cluster.kubeconfig, secret=True)
    program.set_config("namespace", NAMESPACE)
    program.set_config("tlsSecretName", secret_name)
    program.set_config("dbPassword", "db-pw-7d2e91c4", secret=True)
    return program


def user_data_parts(cluster: Cluster) -> dict[str, dict[str, Any]]:
    """The cloud-init Secret on the API server: each MIME part's files by path."""
    secret = cluster.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/chat-dlvm-cloud-init")
    message = email.message_from_string(base64.b64decode(secret["data"]["user-data"]).decode())
    parts: dict[str, dict[str, Any]] = {}
    for part in message.walk():
        if not part.is_multipart():
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            parts[str(part.get_filename())] = {f["path"]: f for f in yaml.safe_load(payload.decode())["write_files"]}
    return parts


def key_lines(key: str) -> list[str]:
    return [line for line in key.splitlines() if line and not line.startswith("-----")]


def test_the_vm_serves_the_secret_and_the_key_stays_ciphertext(
    cluster: Cluster, tmp_path: Path
) -> None:
    program = program_for(cluster, tmp_path, "chat-tls")
    created = program.up()
    assert created.get("create", 0) >= 4, created

    parts = user_data_parts(cluster)
    assert parts["app.cfg"]["/etc/paif/tls/tls.crt"]["content"] == cluster.certificate
    assert parts["secrets.cfg"]["/etc/paif/tls/tls.key"]["content"] == cluster.key
    assert "/etc/paif/tls/tls.key" not in parts["app.cfg"]

    vm = cluster.get(f"/apis/vmoperator.vmware.com/v1alpha3/namespaces/{NAMESPACE}/virtualmachines/chat-dlvm")
    assert vm["spec"]["readinessProbe"] == {"guestInfo": [{"key": "paif.ready", "value": "^true$"}]}
    workload = json.loads(vm["metadata"]["annotations"]["paif.vmware.com/workload"])
    assert workload["tls"]["certificate"] == "secret" and workload["tls"]["secret"] == "Secret/chat-tls"

    # The certificate is public (the reviewable cloudConfig output); the key is nowhere in plaintext.
    published = {f["path"]: f for f in yaml.safe_load(program.outputs()["cloudConfig"])["write_files"]}
    assert published["/etc/paif/tls/tls.crt"]["content"] == cluster.certificate
    exported = program.export()
    for line in [*key_lines(cluster.key), b64(cluster.key)]:
        assert line not in exported
    resources = json.loads(exported)["deployment"]["resources"]
    [stack] = [r for r in resources if r["type"] == "pulumi:pulumi:Stack"]
    assert isinstance(stack["outputs"]["cloudConfig"], str)  # not a secret: it holds nothing secret
    [read] = [r for r in resources if r["urn"].endswith("Secret::dlvm-tls-source")]
    assert "ciphertext" in json.dumps(read["outputs"]["data"])
    # Read again, nothing changed: no replacement.
    assert program.up().get("replace", 0) == 0
    print("timings:", [(cmd, round(seconds, 1)) for cmd, seconds in program.timings])


def test_a_secret_that_is_no_tls_pair_fails_naming_it(cluster: Cluster, tmp_path: Path) -> None:
    program = program_for(cluster, tmp_path, "not-tls")
    with pytest.raises(PulumiFailed) as failed:
        program.preview()
    message = str(failed.value)
    assert f"TLS Secret '{NAMESPACE}/not-tls': type 'Opaque'; must be a kubernetes.io/tls Secret" in message
    for line in key_lines(cluster.key):
        assert line not in message
