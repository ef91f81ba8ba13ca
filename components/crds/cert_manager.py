"""cert-manager CRs (`cert-manager.io/v1`): the corporate-CA ClusterIssuer and Certificates.

Validated against cert-manager's own CRDs (extracted at setup from the Go module) by
tests/integration/test_vendor_crds.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

API_VERSION = "cert-manager.io/v1"
CLUSTER_ISSUER = "ClusterIssuer"
CERTIFICATE = "Certificate"
CLUSTER_RESOURCE_NAMESPACE = "cert-manager"
"""Where a ClusterIssuer's `spec.ca.secretName` is looked up (cert-manager's default; VKS runs
cert-manager in this namespace)."""


def ca_cluster_issuer_spec(ca_secret_name: str) -> dict[str, Any]:
    """An issuer that signs with the CA key pair in Secret `ca_secret_name` (tls.crt + tls.key)."""
    return {"ca": {"secretName": ca_secret_name}}


def certificate_spec(
    secret_name: str, dns_names: Sequence[str], issuer: str, duration: str = "2160h"
) -> dict[str, Any]:
    """A certificate for `dns_names` from ClusterIssuer `issuer`, renewed a third before expiry."""
    return {
        "secretName": secret_name,
        "dnsNames": list(dns_names),
        "duration": duration,
        "renewBefore": "720h",
        "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        "issuerRef": {"group": "cert-manager.io", "kind": CLUSTER_ISSUER, "name": issuer},
    }
