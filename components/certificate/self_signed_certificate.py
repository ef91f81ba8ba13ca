"""A self-signed TLS certificate as a dynamic resource (type `dynamic/tls:SelfSignedCertificate`).

Used for the local and dev Ingress. The private key is a secret output: it is encrypted in
state and never shown. Generated with `cryptography` because the pulumi-tls provider plugin
cannot be built from the Go module proxy reachable here.
"""

from __future__ import annotations

import datetime
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import pulumi
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from components.dynamic.provider import ObjectProvider, Props
from components.dynamic.resource import DynamicResource, ResourceArgs


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


class SelfSignedCertificateProvider(ObjectProvider[None]):
    """Nothing to connect to: the certificate exists only in state."""

    kind = "certificate"
    replace_keys = ("hostnames", "validity_days")
    # The Ingress switches to the new certificate before the old one goes.
    delete_before_replace = False

    def session(self, props: Props) -> AbstractContextManager[None]:
        return nullcontext()

    def create_object(self, session: None, props: Props) -> tuple[str, dict[str, Any]]:
        cert_pem, key_pem = issue_self_signed(list(props["hostnames"]), int(props["validity_days"]))
        return f"self-signed-{props['hostnames'][0]}", {"cert_pem": cert_pem, "key_pem": key_pem}

    def observe(self, session: None, id_: str, props: Props) -> dict[str, Any] | None:
        return {}

    def delete_object(self, session: None, id_: str, props: Props) -> None:
        """Nothing outside state to delete."""


@dataclass(frozen=True, kw_only=True)
class SelfSignedCertificateArgs(ResourceArgs):
    outputs = ("cert_pem", "key_pem")
    secrets = ("key_pem",)
    hostnames: list[str]
    validity_days: int = 365


class SelfSignedCertificate(
    DynamicResource[SelfSignedCertificateArgs], module="tls", name="SelfSignedCertificate"
):
    """A certificate for the given host names; `key_pem` is a secret output."""

    provider_class = SelfSignedCertificateProvider
    cert_pem: pulumi.Output[str]
    key_pem: pulumi.Output[str]
