"""Self-signed TLS certificates (type `dynamic/tls:SelfSignedCertificate`) for local and dev Ingresses."""

from components.certificate.self_signed_certificate import (
    SelfSignedCertificate,
    SelfSignedCertificateProvider,
)

__all__ = ["SelfSignedCertificate", "SelfSignedCertificateProvider"]
