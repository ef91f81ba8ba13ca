"""Where the certificate provider lived before it moved to `components/certificate/`.

Kept because state written by earlier versions names the provider class by this module
path and name (`_Provider`; dynamic providers are pickled by reference): refresh and
destroy of such a stack load it from here. New code uses `components.certificate`.
"""

from components.certificate.self_signed_certificate import SelfSignedCertificate
from components.certificate.self_signed_certificate import SelfSignedCertificateProvider as _Provider

__all__ = ["SelfSignedCertificate", "_Provider"]
