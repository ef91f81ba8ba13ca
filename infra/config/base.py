"""Shared building blocks for the typed stack config: the model base and value types."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from cryptography import x509
from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")
K8S_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
# registry/path:tag or registry/path@sha256:<64 hex>; the registry part is required.
IMAGE_REF = re.compile(
    r"^(?P<registry>[a-z0-9.-]+(:[0-9]+)?)/(?P<path>[a-z0-9]+([._/-][a-z0-9]+)*)"
    r"(:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


class Model(BaseModel):
    """Config section: camelCase keys in YAML, unknown keys rejected, values immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
        use_attribute_docstrings=True,
    )


def _dns_label(value: str) -> str:
    if not DNS_LABEL.match(value):
        raise ValueError("must be a DNS label: lower-case letters, digits and '-', 1-63 characters")
    return value


def _dns_name(value: str) -> str:
    if not DNS_NAME.match(value):
        raise ValueError("must be a DNS name such as chat.example.com (lower-case, dot-separated labels)")
    return value


def _quantity(value: str) -> str:
    if not K8S_QUANTITY.match(value):
        raise ValueError("must be a Kubernetes quantity such as 500m, 2, 512Mi or 20Gi")
    return value


def _image(value: str) -> str:
    match = IMAGE_REF.match(value)
    if not match:
        raise ValueError("must be registry/path:tag or registry/path@sha256:<digest>")
    if not match["tag"] and not match["digest"]:
        raise ValueError("must be pinned by tag or digest (no implicit latest)")
    if match["tag"] == "latest":
        raise ValueError("tag 'latest' is not allowed: pin a release tag or a digest")
    return value


def _https_url(value: str) -> str:
    if not re.match(r"^https://[^\s/]+(/\S*)?$", value):
        raise ValueError("must be an https:// URL")
    return value.rstrip("/")


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError("must be a network in CIDR notation such as 10.20.0.0/24") from exc


PRIVATE_KEY_ERROR = "private_key_in_certificates"
"""Error type whose input (a key) is never shown in a config error."""


def _pem_certificates(value: str) -> str:
    if "PRIVATE KEY-----" in value:
        raise PydanticCustomError(
            PRIVATE_KEY_ERROR, "holds a private key; give only the CA certificate(s) (the key was not shown)"
        )
    if "-----BEGIN CERTIFICATE-----" not in value:
        raise ValueError("must be PEM certificate(s) (-----BEGIN CERTIFICATE----- ...), not a file name")
    try:
        x509.load_pem_x509_certificates(value.encode())
    except ValueError as exc:
        raise ValueError(f"must be PEM certificate(s) that parse: {exc}") from None
    return value.strip() + "\n"


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
DnsName = Annotated[str, AfterValidator(_dns_name)]
Quantity = Annotated[str, AfterValidator(_quantity)]
ImageRef = Annotated[str, AfterValidator(_image)]
HttpsUrl = Annotated[str, AfterValidator(_https_url)]
Cidr = Annotated[str, AfterValidator(_cidr)]
PemCertificates = Annotated[str, AfterValidator(_pem_certificates)]
"""One or more PEM certificates (CA certificates are public: ConfigMaps and cloud-config may hold them)."""


def image_registry(image: str) -> str:
    """The registry host of a validated image reference."""
    match = IMAGE_REF.match(image)
    assert match is not None
    return match["registry"]


def image_is_digest_pinned(image: str) -> bool:
    match = IMAGE_REF.match(image)
    return bool(match and match["digest"])
