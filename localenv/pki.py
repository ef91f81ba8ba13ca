"""Certificates and keys of the local Kubernetes API server, and the admin kubeconfig.

One CA signs the API server's serving certificate (127.0.0.1, localhost, the node IP on our
bridge and the in-cluster names) and an admin client certificate in `system:masters` (RBAC's
built-in superuser group, so no bootstrap RBAC objects are needed). A separate key pair signs
service-account tokens. For the node (localenv/node.py) it also signs the kubelet's client
certificate (`system:node:paif-node` in `system:nodes`, for the Node authorizer) and serving
certificate (the node IP), client certificates for kube-scheduler, kube-proxy and kube-router,
and the API server's client certificate towards the kubelet. Everything is kept under
`.localenv/pki` and reused while valid, so the kubeconfig the stack's config holds stays the
same across `up` runs and restarts.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from localenv.files import write_private

VALIDITY = datetime.timedelta(days=365)
# Renew a little before expiry so a long-lived .localenv never serves an expired cert.
RENEW_BEFORE = datetime.timedelta(days=7)
SERVING_DNS = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
# Loopback, the node IP on our bridge (pods reach the API server there) and the `kubernetes`
# Service's cluster IP (the first address of the service CIDR).
SERVING_IPS = ("127.0.0.1", "198.18.0.1", "198.19.0.1")
NODE_NAME = "paif-node"
NODE_IP = "198.18.0.1"
ADMIN_USER = "paif-localenv-admin"
# Client certificates of the node's components: file name -> (user, group or None). The
# kubelet's identity is what the Node authorizer and NodeRestriction expect; kube-scheduler
# and kube-proxy get the users RBAC's bootstrap bindings name; kube-router and the API
# server's client towards the kubelet get ClusterRoleBindings from localenv/node.py.
CLIENTS: dict[str, tuple[str, str | None]] = {
    "kubelet": (f"system:node:{NODE_NAME}", "system:nodes"),
    "kube-scheduler": ("system:kube-scheduler", None),
    "kube-proxy": ("system:kube-proxy", None),
    "kube-router": ("paif:kube-router", None),
    "apiserver-kubelet-client": ("paif:kube-apiserver-kubelet-client", None),
}
ADMIN_GROUP = "system:masters"
CONTEXT = "paif-local"


@dataclass(frozen=True)
class Pki:
    """Paths of the files `ensure_pki` maintains."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.directory / "apiserver.key"

    @property
    def admin_cert(self) -> Path:
        return self.directory / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.directory / "admin.key"

    def client_cert(self, name: str) -> Path:
        """A node component's client certificate (`name` in CLIENTS)."""
        return self.directory / f"{name}.crt"

    def client_key(self, name: str) -> Path:
        return self.directory / f"{name}.key"

    @property
    def kubelet_serving_cert(self) -> Path:
        return self.directory / "kubelet-serving.crt"

    @property
    def kubelet_serving_key(self) -> Path:
        return self.directory / "kubelet-serving.key"

    @property
    def service_account_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def service_account_pub(self) -> Path:
        return self.directory / "sa.pub"


LEAF_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)
"""Key usage of every leaf certificate (signing only; the extended usage says what for)."""


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: not an EC private key")
    return key


def _still_valid(path: Path, now: datetime.datetime) -> bool:
    if not path.exists():
        return False
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return cert.not_valid_after_utc - RENEW_BEFORE > now


def _issue(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    now: datetime.datetime,
    extensions: list[tuple[x509.ExtensionType, bool]],
) -> bytes:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def ensure_pki(directory: Path) -> Pki:
    """Create the CA, certificates and keys that are missing or about to expire.

    A new CA invalidates everything it signed, so it re-issues both certificates.
    """
    pki = Pki(directory)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    now = datetime.datetime.now(datetime.UTC)

    renewed_ca = False
    if not (_still_valid(pki.ca_cert, now) and pki.ca_key.exists()):
        ca_key = _new_key()
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "paif-localenv-ca")])
        ca_pem = _issue(
            ca_name,
            ca_key,
            ca_name,
            ca_key,
            now=now,
            extensions=[
                (x509.BasicConstraints(ca=True, path_length=0), True),
                (
                    x509.KeyUsage(
                        digital_signature=True,
                        content_commitment=False,
                        key_encipherment=False,
                        data_encipherment=False,
                        key_agreement=False,
                        key_cert_sign=True,
                        crl_sign=True,
                        encipher_only=False,
                        decipher_only=False,
                    ),
                    True,
                ),
            ],
        )
        write_private(pki.ca_key, _key_pem(ca_key))
        write_private(pki.ca_cert, ca_pem)
        renewed_ca = True
    ca_key = _load_key(pki.ca_key)
    ca_name = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes()).subject

    if renewed_ca or not _still_valid(pki.serving_cert, now) or not _serving_sans_current(pki.serving_cert):
        key = _new_key()
        sans: list[x509.GeneralName] = [x509.DNSName(name) for name in SERVING_DNS]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in SERVING_IPS]
        pem = _issue(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]),
            key,
            ca_name,
            ca_key,
            now=now,
            extensions=[
                (x509.BasicConstraints(ca=False, path_length=None), True),
                (LEAF_USAGE, True),
                (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
                (x509.SubjectAlternativeName(sans), False),
            ],
        )
        write_private(pki.serving_key, _key_pem(key))
        write_private(pki.serving_cert, pem)

    if renewed_ca or not _still_valid(pki.admin_cert, now):
        key = _new_key()
        pem = _issue(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, ADMIN_GROUP),
                    x509.NameAttribute(NameOID.COMMON_NAME, ADMIN_USER),
                ]
            ),
            key,
            ca_name,
            ca_key,
            now=now,
            extensions=[
                (x509.BasicConstraints(ca=False, path_length=None), True),
                (LEAF_USAGE, True),
                (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False),
            ],
        )
        write_private(pki.admin_key, _key_pem(key))
        write_private(pki.admin_cert, pem)

    # The node components' client certificates and the kubelet's serving certificate: one
    # way to issue a leaf (kept while valid for the same names and signed by this CA).
    for name, (user, group) in CLIENTS.items():
        issue_leaf(pki, name, common_name=user, organization=group, client=True)
    issue_leaf(
        pki, "kubelet-serving", common_name=f"system:node:{NODE_NAME}", dns_names=(NODE_NAME,), ips=(NODE_IP,), server=True
    )

    if not (pki.service_account_key.exists() and pki.service_account_pub.exists()):
        key = _new_key()
        write_private(pki.service_account_key, _key_pem(key))
        write_private(
            pki.service_account_pub,
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )
    return pki


def _matches(path: Path, ca: x509.Certificate, subject: x509.Name, sans: list[x509.GeneralName], now: datetime.datetime) -> bool:
    """Whether the certificate at `path` is valid for a while yet, signed by `ca`, and names
    exactly `subject` and `sans` (a changed name or a new CA means a new certificate)."""
    if not _still_valid(path, now):
        return False
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    try:
        present = list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        present = []
    return cert.subject == subject and sorted(map(str, present)) == sorted(map(str, sans))


def issue_leaf(
    pki: Pki,
    name: str,
    *,
    common_name: str,
    organization: str | None = None,
    dns_names: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
    server: bool = False,
    client: bool = False,
) -> tuple[Path, Path]:
    """A certificate + key signed by the local CA, as `<pki>/<name>.crt` and `.key` (0600);
    kept while still valid for the same names, issued anew otherwise. `server`/`client`
    set the extended key usages. Returns (certificate path, key path)."""
    cert_path, key_path = pki.directory / f"{name}.crt", pki.directory / f"{name}.key"
    now = datetime.datetime.now(datetime.UTC)
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    subject = x509.Name(attributes)
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    if key_path.exists() and _matches(cert_path, ca, subject, sans, now):
        return cert_path, key_path
    usages = [oid for oid, wanted in ((ExtendedKeyUsageOID.SERVER_AUTH, server), (ExtendedKeyUsageOID.CLIENT_AUTH, client)) if wanted]
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (LEAF_USAGE, True),
        (x509.ExtendedKeyUsage(usages), False),
    ]
    if sans:
        extensions.append((x509.SubjectAlternativeName(sans), False))
    key = _new_key()
    pem = _issue(subject, key, ca.subject, _load_key(pki.ca_key), now=now, extensions=extensions)
    write_private(key_path, _key_pem(key))
    write_private(cert_path, pem)
    return cert_path, key_path


def _serving_sans_current(path: Path) -> bool:
    """Whether the serving certificate names every address in SERVING_DNS/SERVING_IPS
    (a certificate issued before the node existed lacks the node IP)."""
    if not path.exists():
        return False
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    return set(SERVING_DNS) <= set(sans.get_values_for_type(x509.DNSName)) and set(SERVING_IPS) <= ips


def client_tls(pki: Pki, cert: Path, key: Path) -> ssl.SSLContext:
    """A TLS context that trusts the local CA and presents `cert` with `key`."""
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    context.load_cert_chain(str(cert), str(key))
    return context


def admin_tls(pki: Pki) -> ssl.SSLContext:
    """The admin user's TLS context for the local API server."""
    return client_tls(pki, pki.admin_cert, pki.admin_key)


def _kubeconfig(cluster: dict[str, str], user_name: str, user: dict[str, str]) -> str:
    """One cluster, one user, one context named CONTEXT."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": cluster}],
        "users": [{"name": user_name, "user": user}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": user_name}}],
        "current-context": CONTEXT,
        "preferences": {},
    }
    return yaml.safe_dump(document, sort_keys=False)


def component_kubeconfig(pki: Pki, server: str, name: str) -> str:
    """A kubeconfig for node component `name` (in CLIENTS) referring to its files."""
    return _kubeconfig(
        {"server": server, "certificate-authority": str(pki.ca_cert)},
        CLIENTS[name][0],
        {"client-certificate": str(pki.client_cert(name)), "client-key": str(pki.client_key(name))},
    )


def kubeconfig(pki: Pki, server: str) -> str:
    """A kubeconfig for the admin user with everything inline (it travels as a stack secret)."""

    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    return _kubeconfig(
        {"server": server, "certificate-authority-data": b64(pki.ca_cert)},
        ADMIN_USER,
        {"client-certificate-data": b64(pki.admin_cert), "client-key-data": b64(pki.admin_key)},
    )
