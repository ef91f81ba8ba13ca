"""Shared building blocks for the typed stack config: the model base and value types."""

from __future__ import annotations

import ipaddress
import re
import types
from collections.abc import Callable
from datetime import UTC, datetime
from fractions import Fraction
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit

import yaml
from cryptography import x509
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from components.names import (
    DNS_LABEL,
    DNS_NAME,
    K8S_QUANTITY,
    NUMERIC_LAST_LABEL,
    NUMERIC_LAST_LABEL_RULE,
    quantity,
)

# userinfo of a URL (scheme://user:password@host) or of a bare user:password@host.
_CREDENTIALS = re.compile(r"(^|//)([^\s/@:]*):[^\s/@]*@")
# Booleans written as YAML 1.1 words arrive as strings; only true and false are unambiguous.
_FLAG_WORDS = {"true": True, "false": False}
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

    @field_validator("*", mode="before")
    @classmethod
    def _no_flag_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        """YAML true/false is not a count: pydantic would read true as 1 for an integer key."""
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and _takes_integer(field.annotation):
            raise ValueError("must be a whole number, not true or false")
        return value

    @field_validator("*", mode="after")
    @classmethod
    def _one_line(cls, value: Any, info: ValidationInfo) -> Any:
        """A line break or another control character in a one-line key is a paste mistake,
        and would travel on into HTTP headers, environment variables and YAML: refused in
        every key but the PEM ones."""
        field = cls.model_fields.get(info.field_name or "")
        if field is None or MULTI_LINE in field.metadata or _allows_lines(field.annotation):
            return value
        if any(_CONTROL.search(text) for text in _strings(value)):
            raise ValueError("must be one line, without control characters such as line breaks or tabs")
        return value


class _MultiLine:
    """Marks a key whose value spans lines (PEM): the one-line rule does not apply."""


MULTI_LINE = _MultiLine()
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _allows_lines(annotation: Any) -> bool:
    """Whether a key of this type (or an optional one) is marked MULTI_LINE."""
    if get_origin(annotation) is Annotated:
        return any(meta is MULTI_LINE for meta in get_args(annotation)[1:]) or _allows_lines(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_allows_lines(arg) for arg in get_args(annotation))
    return False


def _strings(value: Any) -> list[str]:
    """The text of a key's value: itself, or the strings in its list or mapping."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [item for item in value if isinstance(item, str)]
    if isinstance(value, dict):
        return [item for pair in value.items() for item in pair if isinstance(item, str)]
    return []


def _takes_integer(annotation: Any) -> bool:
    """Whether a key of this type holds an integer (int, int | None, a Literal of integers)."""
    if annotation is int:
        return True
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(_takes_integer(arg) for arg in get_args(annotation) if arg is not type(None))
    if origin is Literal:
        return all(isinstance(arg, int) and not isinstance(arg, bool) for arg in get_args(annotation))
    if origin is Annotated:
        return _takes_integer(get_args(annotation)[0])
    return False


def rule(test: Callable[[str], object], problem: str) -> AfterValidator:
    """A string key's rule: the value passes `test` (a pattern's `match`, a predicate), else
    the key's error says `problem` (what the key may be)."""

    def check(value: str) -> str:
        if not test(value):
            raise ValueError(problem)
        return value

    return AfterValidator(check)


def field_problem(path: tuple[str | int, ...], given: Any, allowed: str) -> PydanticCustomError:
    """A model-level rule's error reported at the key it is about: `path` below the model,
    `given` that key's value, `allowed` what the key may be (in words)."""
    return PydanticCustomError(
        "field_problem", "{allowed}", {"path": path, "given": given, "allowed": allowed}
    )


_PRIVATE_KEY = re.compile(r"-----(BEGIN|END) ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----")
"""A PEM (or PGP) private key's armour line, opening or closing: never a value to keep in plaintext."""
_KUBECONFIG_CREDENTIALS = ("token", "client-key-data", "client-key", "password", "auth-provider", "exec")


def plaintext_credential(value: str) -> str | None:
    """What credential a plaintext config value holds (a private key, a kubeconfig with user
    credentials, a URL with a password), or None."""
    if _PRIVATE_KEY.search(value):
        return "a private key"
    if _CREDENTIALS.search(value.strip()):
        return "a URL with a password"
    if "users" in value:
        try:
            document = yaml.safe_load(value)
        except yaml.YAMLError:
            return None
        users = document.get("users") if isinstance(document, dict) else None
        for entry in users if isinstance(users, list) else []:
            user = entry.get("user") if isinstance(entry, dict) else None
            if isinstance(user, dict) and any(user.get(k) for k in _KUBECONFIG_CREDENTIALS):
                return "a kubeconfig with user credentials"
    return None


def redact_credentials(text: str) -> str:
    """`text` with the password of any `user:password@` part replaced by `***`."""
    return _CREDENTIALS.sub(lambda m: f"{m[1]}{m[2]}:***@", text)


def _number_as_quantity(value: Any) -> Any:
    """Kubernetes takes numbers as quantities (`cpu: 2`, `cpu: 0.5`); YAML hands them over as numbers."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value >= 0:
        return format(value, "f").rstrip("0").rstrip(".") or "0"
    return value


def quantity_value(value: str) -> Fraction:
    """The exact value of a validated quantity in base units (cores, bytes)."""
    return quantity(value, "quantity")


def _flag(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _FLAG_WORDS:
        return _FLAG_WORDS[value.strip().lower()]
    hint = ""
    if isinstance(value, str | int):
        hint = " (YAML 1.1 words such as on, off, yes and no, and numbers, are read differently by different tools)"
    raise ValueError(f"must be true or false{hint}")


def _numeric_name_hint(host: str) -> str:
    """What is wrong with a name that is neither an IP address nor a DNS name because it ends in
    digits (`0`, `10.1`), else nothing."""
    return f"; {NUMERIC_LAST_LABEL_RULE}" if NUMERIC_LAST_LABEL.search(host) else ""


def _dns_name(value: str) -> str:
    if not DNS_NAME.match(value):
        raise ValueError(
            "must be a DNS name such as chat.example.com (lower-case, dot-separated labels)" + _numeric_name_hint(value)
        )
    return value


def _host_port(value: str, *, port_allowed: bool) -> str:
    """A host name or IP address, with `:port` when `port_allowed`; a URL is refused with a hint."""
    where = "host name or an IP address" + (", with an optional :port" if port_allowed else "")
    if "://" in value:
        raise ValueError(f"must be a {where}, not a URL (no scheme such as https://)")
    if "@" in value:
        raise ValueError(f"must be a {where}, without credentials (no user@ or user:password@)")
    host, port = value, None
    bracketed = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(.*))?", value)
    if bracketed:
        host, port = bracketed[1], bracketed[2]
    elif value.count(":") == 1:
        host, port = value.split(":")
    if port is not None:
        if not port_allowed:
            raise ValueError(f"must be a {where}, without a port (the port is a key of its own)")
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"must be a {where}; a port is a number from 1 to 65535")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not DNS_NAME.match(host.lower()):  # host names are case-insensitive
            raise ValueError(
                f"must be a {where}: a DNS name such as db.example.com, or an IP address"
                + _numeric_name_hint(host)
            ) from None
    return value


def _url(value: str, schemes: tuple[str, ...], what: str) -> str:
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError(f"must be {what} with a valid port (a number from 1 to 65535)") from None
    if parts.scheme not in schemes or not parts.hostname or any(c.isspace() for c in value):
        raise ValueError(f"must be {what}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "must not contain credentials (user:password@): they would be shown in plaintext; "
            "credentials are separate secret keys"
        )
    if port == 0:
        raise ValueError(f"must be {what} with a valid port (a number from 1 to 65535)")
    if not DNS_NAME.match(parts.hostname):
        try:
            ipaddress.ip_address(parts.hostname)
        except ValueError:
            raise ValueError(
                f"must be {what}; the host must be a lower-case DNS name or an IP address"
                + _numeric_name_hint(parts.hostname)
            ) from None
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
    _url(value, ("https",), "an https:// URL")
    if urlsplit(value).fragment or value.endswith("#"):
        raise ValueError("must be an https:// URL without a #fragment (a client never sends it to the server)")
    return value.rstrip("/")


def _base_url(value: str) -> str:
    if urlsplit(value).query or "?" in value:
        raise ValueError(
            "must be an https:// base URL without a ?query: the API paths are appended to it"
        )
    return value


def url_without_path(value: str) -> str:
    """A base URL: http(s)://host[:port], nothing after the host but an optional '/'."""
    what = "an http:// or https:// base URL without a path, e.g. https://harbor.example.com"
    _url(value, ("http", "https"), what)
    if urlsplit(value).path not in ("", "/") or urlsplit(value).query or urlsplit(value).fragment:
        raise ValueError(f"must be {what}")
    return value


def _dns_name_not_ip(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return value
    raise ValueError(
        "must be a DNS name, not an IP address (an Ingress host and its certificate need a name)"
    )


def derived_name_prefix(longest_suffix: str, what: str) -> AfterValidator:
    """A DNS label that other names are derived from (`<value><suffix>`): it must start with
    a letter and leave room for the longest suffix within Kubernetes' 63 characters."""
    limit = 63 - len(longest_suffix)

    def check(value: str) -> str:
        if not value[:1].isalpha():
            raise ValueError(f"must start with a lower-case letter ({what} are named after it)")
        if len(value) > limit:
            raise ValueError(
                f"must be at most {limit} characters: {what} are named after it, the longest "
                f"<name>{longest_suffix} and Kubernetes names have at most 63"
            )
        return value

    return AfterValidator(check)


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError("must be a network in CIDR notation such as 10.20.0.0/24") from exc


WIDEST_EGRESS_PREFIX = 8
"""The widest egress network a NetworkPolicy of ours may open: a /8 (10.0.0.0/8, fd00::/8)."""


def _egress_cidr(value: str) -> str:
    prefix = ipaddress.ip_network(value).prefixlen
    if prefix == 0:
        raise ValueError(
            "must be the network of the endpoints, not every address: the app's NetworkPolicy allows "
            "egress to this network only"
        )
    if prefix < WIDEST_EGRESS_PREFIX:
        raise ValueError(
            f"must be the network of the endpoints, at most a /{WIDEST_EGRESS_PREFIX} such as 10.0.0.0/8: a "
            f"/{prefix} opens a large part of every address to the app's NetworkPolicy"
        )
    return value


def reject_duplicates(keys: list[str]) -> None:
    """A ValueError naming every key listed more than once."""
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"lists {', '.join(duplicates)} more than once")


def _tag_pattern(value: str) -> str:
    """A Harbor tag pattern (doublestar: `*`, `**`, `?`, `[...]`, `{a,b}`) that Harbor can parse."""
    depth, in_class, escaped = 0, False, False
    untaggable = ""
    for char in value:
        if escaped:
            # An escaped character is itself: `\{` or `\*` needs a character no tag holds.
            escaped = False
            if not (char.isascii() and (char.isalnum() or char in "_.-")):
                untaggable += char
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                break
        elif not (char.isascii() and (char.isalnum() or char in "_.-*?,")):
            untaggable += char
    if escaped or in_class or depth != 0 or not value.isprintable() or " " in value:
        raise ValueError(
            "must be a tag pattern such as v*, release-** or {v*,stable}: every [ and { closed, "
            "no spaces or control characters"
        )
    if untaggable:
        raise ValueError(
            f"would match no tag: it needs {untaggable[0]!r}, and an image tag holds only letters, digits, "
            "'_', '.' and '-' (patterns add * ? [...] {a,b})"
        )
    return value


PRIVATE_KEY_ERROR = "private_key_in_certificates"
"""Error type whose input (a key) is never shown in a config error."""


def _pem_certificates(value: str) -> str:
    if _PRIVATE_KEY.search(value):
        raise PydanticCustomError(
            PRIVATE_KEY_ERROR, "holds a private key; give only the CA certificate(s) (the key was not shown)"
        )
    if "-----BEGIN CERTIFICATE-----" not in value:
        raise ValueError("must be PEM certificate(s) (-----BEGIN CERTIFICATE----- ...), not a file name")
    try:
        certificates = x509.load_pem_x509_certificates(value.encode())
    except ValueError as exc:
        raise ValueError(f"must be PEM certificate(s) that parse: {exc}") from None
    last = max(c.not_valid_after_utc for c in certificates)
    if last < datetime.now(UTC):
        raise ValueError(
            f"must hold a certificate that is still valid: every certificate in it has expired (the last one "
            f"on {last:%Y-%m-%d}); give the renewed certificate"
        )
    return value.strip() + "\n"


DnsLabel = Annotated[
    str, rule(DNS_LABEL.match, "must be a DNS label: lower-case letters, digits and '-', 1-63 characters")
]
DnsName = Annotated[str, AfterValidator(_dns_name)]
Hostname = Annotated[str, AfterValidator(_dns_name_not_ip), AfterValidator(_dns_name)]
SYSTEM_NAMESPACE_PREFIXES = ("kube-", "vmware-system-")
"""Namespaces that belong to the system: Kubernetes reserves the `kube-` prefix (kube-system,
kube-public, kube-node-lease), and a Supervisor and a VKS cluster keep theirs under
`vmware-system-`; `default` exists in every cluster."""
OwnNamespace = Annotated[
    DnsLabel,
    rule(
        lambda value: value != "default" and not value.startswith(SYSTEM_NAMESPACE_PREFIXES),
        "must be a namespace of its own, created by this program: default, kube-* and vmware-system-* "
        "are the system's",
    ),
]
Quantity = Annotated[
    str,
    BeforeValidator(_number_as_quantity),
    rule(K8S_QUANTITY.match, "must be a Kubernetes quantity such as 500m, 2, 512Mi or 20Gi"),
]
MIN_SIZE_BYTES = 2**20


def _at_least_a_mebibyte(value: str) -> str:
    """A memory or disk size below 1Mi is a unit left out (`10` is ten bytes), never meant."""
    if quantity_value(value) < MIN_SIZE_BYTES:
        unit = K8S_QUANTITY.match(value)["unit"]  # type: ignore[index]  # a validated quantity
        if unit == "m":
            raise ValueError("must not use the suffix m (thousandths of a byte) for a size: write Mi, e.g. 512Mi")
        hint = f": a plain number is bytes; did you mean {value}Gi?" if not unit else ""
        raise ValueError(f"must be at least 1Mi, such as 512Mi or 10Gi{hint}")
    return value


Size = Annotated[
    Quantity,
    rule(lambda v: quantity_value(v) > 0, "must be a size above zero, such as 1Gi"),
    AfterValidator(_at_least_a_mebibyte),
]
Flag = Annotated[bool, BeforeValidator(_flag)]
HostPort = Annotated[str, AfterValidator(lambda v: _host_port(v, port_allowed=True))]
Host = Annotated[str, AfterValidator(lambda v: _host_port(v, port_allowed=False))]
ImageRef = Annotated[str, AfterValidator(_image)]
HttpsUrl = Annotated[str, AfterValidator(_https_url)]
HttpsBaseUrl = Annotated[HttpsUrl, AfterValidator(_base_url)]
Cidr = Annotated[str, AfterValidator(_cidr)]
EgressCidr = Annotated[Cidr, AfterValidator(_egress_cidr)]
TagPattern = Annotated[str, AfterValidator(_tag_pattern)]
PemCertificates = Annotated[str, AfterValidator(_pem_certificates), MULTI_LINE]
"""One or more PEM certificates (CA certificates are public: ConfigMaps and cloud-config may hold them)."""


def image_registry(image: str) -> str:
    """The registry host of a validated image reference."""
    match = IMAGE_REF.match(image)
    assert match is not None
    return match["registry"]


def image_is_digest_pinned(image: str) -> bool:
    match = IMAGE_REF.match(image)
    return bool(match and match["digest"])


def image_tag(image: str) -> str | None:
    """The tag of a validated image reference (None when it is pinned by digest alone)."""
    match = IMAGE_REF.match(image)
    return match["tag"] if match else None
