"""Self-signed TLS certificates (type `dynamic/tls:SelfSignedCertificate`) for local and dev Ingresses."""

from components.certificate.self_signed_certificate import (
    SelfSignedCertificate,
    SelfSignedCertificateArgs,
    SelfSignedCertificateProvider,
)

__all__ = ["SelfSignedCertificate", "SelfSignedCertificateArgs", "SelfSignedCertificateProvider"]
