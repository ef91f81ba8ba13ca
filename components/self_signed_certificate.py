"""A self-signed TLS certificate as a dynamic resource (type `dynamic/tls:SelfSignedCertificate`).

Used for the local and dev Ingress. The private key is a secret output: it is encrypted in
state and never shown. Generated with `cryptography` because the pulumi-tls provider plugin
cannot be built from the Go module proxy reachable here.
"""

from __future__ import annotations

import datetime
from typing import Any

import pulumi
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider


def issue_self_signed(hostnames: list[str], validity_days: int) -> tuple[str, str]:
    """A P-256 key and a certificate for `hostnames`, both PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=validity_days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hostnames]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return cert_pem, key_pem


class _Provider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        cert_pem, key_pem = issue_self_signed(list(props["hostnames"]), int(props["validity_days"]))
        return CreateResult(
            id_=f"self-signed-{props['hostnames'][0]}",
            outs={**props, "cert_pem": cert_pem, "key_pem": key_pem},
        )

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in ("hostnames", "validity_days") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=False)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, props)


class SelfSignedCertificate(Resource, module="tls", name="SelfSignedCertificate"):
    """A certificate for the given host names; `key_pem` is a secret output."""

    cert_pem: pulumi.Output[str]
    key_pem: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        hostnames: list[str],
        validity_days: int = 365,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            _Provider(),
            name,
            {"hostnames": hostnames, "validity_days": validity_days, "cert_pem": None, "key_pem": None},
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["key_pem"])),
        )
