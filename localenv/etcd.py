"""The local etcd's security, as in a real control plane: TLS with client certificates, and
Secrets encrypted at rest by the API server.

- etcd serves https only, on 127.0.0.1, and answers only clients with a certificate from the
  local CA (`--client-cert-auth`); its single-member peer listener is TLS with client
  certificates too. The API server and the health check each have their own client
  certificate (`issue_leaf`, re-issued when expired or the CA changed).
- The API server encrypts Secrets with secretbox (XSalsa20-Poly1305) before they reach etcd:
  stored values start with `k8s:enc:secretbox:v1:`. The key is generated once into
  `.localenv/pki` (0600) and kept: a new key would make every stored Secret unreadable.
  `identity` comes second, so Secrets written before encryption was on still read.
"""

from __future__ import annotations

import base64
import secrets
import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from localenv.files import write_private
from localenv.pki import Pki, issue_leaf
from localenv.pki import client_tls as pki_client_tls

SERVER = "etcd-server"
APISERVER_CLIENT = "apiserver-etcd-client"
HEALTHCHECK_CLIENT = "etcd-healthcheck-client"
ENCRYPTION_KEY_NAME = "key1"
ENCRYPTED_PREFIX = b"k8s:enc:secretbox:v1:" + ENCRYPTION_KEY_NAME.encode() + b":"


@dataclass(frozen=True)
class EtcdCerts:
    """(certificate, key) pairs: etcd's own (serving and peer), and its two clients'."""

    server: tuple[Path, Path]
    apiserver_client: tuple[Path, Path]
    healthcheck_client: tuple[Path, Path]


def etcd_certs(pki: Pki) -> EtcdCerts:
    """etcd's certificates, issued by the local CA where missing, expired or outdated."""
    return EtcdCerts(
        # Also its peer certificate (single member): serves, and is presented as a client.
        server=issue_leaf(
            pki,
            SERVER,
            common_name="etcd",
            dns_names=("localhost",),
            ips=("127.0.0.1",),
            server=True,
            client=True,
        ),
        apiserver_client=issue_leaf(
            pki, APISERVER_CLIENT, common_name="kube-apiserver-etcd-client", client=True
        ),
        healthcheck_client=issue_leaf(pki, HEALTHCHECK_CLIENT, common_name=HEALTHCHECK_CLIENT, client=True),
    )


def etcd_tls_args(pki: Pki, certs: EtcdCerts) -> list[str]:
    """etcd's TLS flags: clients and the peer listener need a certificate from the local CA."""
    cert, key = certs.server
    return [
        f"--cert-file={cert}",
        f"--key-file={key}",
        "--client-cert-auth",
        f"--trusted-ca-file={pki.ca_cert}",
        f"--peer-cert-file={cert}",
        f"--peer-key-file={key}",
        "--peer-client-cert-auth",
        f"--peer-trusted-ca-file={pki.ca_cert}",
    ]


def apiserver_etcd_args(pki: Pki, certs: EtcdCerts, port: int) -> list[str]:
    """The API server's etcd flags: https with its client certificate, Secrets encrypted."""
    cert, key = certs.apiserver_client
    return [
        f"--etcd-servers=https://127.0.0.1:{port}",
        f"--etcd-cafile={pki.ca_cert}",
        f"--etcd-certfile={cert}",
        f"--etcd-keyfile={key}",
        f"--encryption-provider-config={encryption_config(pki)}",
    ]


def encryption_key(pki: Pki) -> Path:
    """The secretbox key (32 random bytes, base64), created once and then kept."""
    path = pki.directory / "secrets-encryption.key"
    if not path.exists():
        write_private(path, base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    return path


def encryption_config(pki: Pki) -> Path:
    """The API server's EncryptionConfiguration (0600), written from the kept key."""
    key = encryption_key(pki).read_text().strip()
    document = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [
            {
                "resources": ["secrets"],
                "providers": [
                    {"secretbox": {"keys": [{"name": ENCRYPTION_KEY_NAME, "secret": key}]}},
                    {"identity": {}},
                ],
            }
        ],
    }
    path = pki.directory / "encryption-config.yaml"
    write_private(path, yaml.safe_dump(document, sort_keys=False))
    return path


def client_tls(pki: Pki, cert_and_key: tuple[Path, Path]) -> ssl.SSLContext:
    """A TLS context that trusts the local CA and presents `cert_and_key`."""
    return pki_client_tls(pki, *cert_and_key)


def etcd_healthy(port: int, pki: Pki) -> bool:
    """etcd's /health over TLS, as the health-check client."""
    cert_and_key = (pki.client_cert(HEALTHCHECK_CLIENT), pki.client_key(HEALTHCHECK_CLIENT))
    if not all(path.exists() for path in cert_and_key):
        return False
    try:
        response = httpx.get(
            f"https://127.0.0.1:{port}/health", verify=client_tls(pki, cert_and_key), timeout=2
        )
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and response.json().get("health") == "true"
