"""The end of `make up`: one real chat request through the Ingress, and its row in PostgreSQL.

HTTPS to the ingress controller on 127.0.0.1 with the app's host name as SNI and Host,
the certificate verified against the CA the stack itself issued (read from the Ingress's
TLS Secret) -> nginx frontend -> FastAPI backend -> PAIS stand-in -> reply; then the
exchange is looked up in the app's table as the database superuser. Bounded: a few tries
over at most `timeout` seconds while the Ingress route and the pods settle.
"""

from __future__ import annotations

import base64
import shlex
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from kubernetes import client as kube_client
from kubernetes import config as kube_config
from psycopg import sql

from localenv.files import write_private
from localenv.layout import Layout
from localenv.services import LocalEnvError, Services

TABLE = "chat_exchanges"


@dataclass(frozen=True)
class RoundTrip:
    url: str
    prompt: str
    reply: str
    row_id: int
    source: str
    seconds: float
    ca_file: Path

    def curl(self) -> str:
        """A command line the user can repeat (the CA file is public; no secret in it)."""
        host_port = self.url.removeprefix("https://").split("/", 1)[0]
        host, port = host_port.rsplit(":", 1)
        body = '{"message": "hello from curl"}'
        return (
            f"curl --resolve {host}:{port}:127.0.0.1 --cacert {shlex.quote(str(self.ca_file))} "
            f"-H 'content-type: application/json' -d {shlex.quote(body)} {self.url}"
        )


def _api(layout: Layout) -> Any:
    """An API client with the admin kubeconfig (Any: the client's models are untyped)."""
    return kube_config.new_client_from_config(config_file=str(layout.kubeconfig))  # type: ignore[no-untyped-call]


def ingress_ca(layout: Layout, namespace: str) -> str:
    """The PEM certificate the app's Ingress serves (self-signed locally: its own CA)."""
    api = _api(layout)
    networking: Any = kube_client.NetworkingV1Api(api)
    core: Any = kube_client.CoreV1Api(api)
    ingresses = networking.list_namespaced_ingress(namespace).items
    if not ingresses or not ingresses[0].spec.tls:
        raise LocalEnvError(f"no Ingress with TLS in namespace {namespace}")
    secret = core.read_namespaced_secret(ingresses[0].spec.tls[0].secret_name, namespace)
    certificate: str = base64.b64decode(secret.data["tls.crt"]).decode()
    return certificate


def _tls_context(ca_pem: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=ca_pem)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def chat(url: str, hostname: str, ca_pem: str, message: str, *, timeout: float = 30) -> dict[str, Any]:
    """POST {url}/api/chat via 127.0.0.1 with SNI and Host = hostname; TLS verified."""
    port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
    with httpx.Client(verify=_tls_context(ca_pem), timeout=timeout) as client:
        response = client.post(
            f"https://127.0.0.1:{port}/api/chat",
            json={"message": message},
            headers={"Host": f"{hostname}:{port}"},
            extensions={"sni_hostname": hostname},
        )
    if response.status_code != 200:
        raise LocalEnvError(f"POST {url}/api/chat answered {response.status_code}: {response.text[:500]}")
    answer: dict[str, Any] = response.json()
    return answer


def stored_exchange(services: Services, database: str, schema: str, row_id: int) -> tuple[str, str] | None:
    """(prompt, reply) of row `row_id` in the app's table, read as the superuser."""
    query = sql.SQL("SELECT prompt, reply FROM {}.{} WHERE id = %s").format(sql.Identifier(schema), sql.Identifier(TABLE))
    with psycopg.connect(services.db_dsn(database)) as conn:
        row = conn.execute(query, (row_id,)).fetchone()
    return (str(row[0]), str(row[1])) if row else None


def round_trip(
    layout: Layout,
    services: Services,
    outputs: dict[str, Any],
    *,
    ingress_port: int,
    schema: str,
    message: str = "Hello from make up: which GPU runs you?",
    timeout: float = 120,
) -> RoundTrip:
    """One chat request end to end; raises LocalEnvError naming the failing hop."""
    hostname = str(outputs["appUrl"]).removeprefix("https://").rstrip("/")
    namespace = str(outputs["appNamespace"])
    ca_pem = ingress_ca(layout, namespace)
    ca_file = layout.home / "app-ca.crt"
    write_private(ca_file, ca_pem)
    ca_file.chmod(0o644)
    url = f"https://{hostname}:{ingress_port}"
    started = time.monotonic()
    deadline = started + timeout
    attempt = 0
    last: Exception | None = None
    answer: dict[str, Any] | None = None
    while answer is None and time.monotonic() < deadline and attempt < 40:
        attempt += 1
        try:
            answer = chat(url, hostname, ca_pem, message, timeout=min(30.0, max(1.0, deadline - time.monotonic())))
        except (httpx.HTTPError, LocalEnvError) as exc:
            last = exc
            time.sleep(min(3.0, 0.5 * attempt))
    if answer is None:
        raise LocalEnvError(f"no chat reply from {url} after {attempt} tries in {timeout:.0f} s: {last}")
    elapsed = time.monotonic() - started
    row_id = int(answer["id"])
    stored = stored_exchange(services, str(outputs["dbName"]), schema, row_id)
    if stored is None or stored[0] != message or stored[1] != answer["reply"]:
        raise LocalEnvError(f"the reply came back but row {row_id} of {schema}.{TABLE} does not hold it: {stored}")
    return RoundTrip(
        url=f"{url}/api/chat",
        prompt=message,
        reply=str(answer["reply"]),
        row_id=row_id,
        source=str(answer.get("source", "")),
        seconds=elapsed,
        ca_file=ca_file,
    )
