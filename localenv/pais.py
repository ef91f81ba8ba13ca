"""The PAIS stand-in as a local service: `python -m app.pais_standin` on the node's bridge
address, port 443 (where the backend's egress rule lets it go, as it would to a real PAIS
outside the cluster), and on a loopback port for the tests.

Its certificate names pais.local.paif.test (cluster DNS answers that name with the bridge
address) and is signed by the local CA, which the stack hands the backend as the PAIS CA
bundle. The one client it accepts is the stack's (paif:pais.clientId with the generated
paif:paisClientSecret), listed in a 0600 file, never on a command line.
"""

from __future__ import annotations

import json
import ssl
import sys
from pathlib import Path

import httpx

from localenv.files import write_private
from localenv.layout import Layout
from localenv.pki import Pki, issue_leaf

HOSTNAME = "pais.local.paif.test"
HTTPS_PORT = 443


def argv(layout: Layout, pki: Pki, *, node_ip: str, port: int, client_id: str, client_secret: str) -> list[str]:
    """The command line of the stand-in (no secret in it); writes its certificate and the
    clients file first."""
    cert, key = issue_leaf(
        pki, "pais", common_name=HOSTNAME, dns_names=(HOSTNAME,), ips=("127.0.0.1", node_ip), server=True
    )
    directory = layout.home / "pais"
    directory.mkdir(mode=0o700, exist_ok=True)
    clients = directory / "clients.json"
    write_private(clients, json.dumps({"clients": [{"client_id": client_id, "client_secret": client_secret}]}))
    return [
        sys.executable,
        "-m",
        "app.pais_standin",
        "--listen",
        f"{node_ip}:{HTTPS_PORT}",
        "--listen",
        f"127.0.0.1:{port}",
        "--cert",
        str(cert),
        "--key",
        str(key),
        "--clients-file",
        str(clients),
        "--log-level",
        "warning",
    ]


def healthy(pki: Pki, port: int) -> bool:
    """The stand-in answers /healthz over TLS verified against the local CA."""
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    try:
        with httpx.Client(verify=context, timeout=2) as client:
            response = client.get(
                f"https://127.0.0.1:{port}/healthz",
                extensions={"sni_hostname": HOSTNAME},
                headers={"Host": HOSTNAME},
            )
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def clients_file(layout: Layout) -> Path:
    return layout.home / "pais" / "clients.json"
