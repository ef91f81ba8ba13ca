"""TLS: every way in or out of the app is encrypted and verified."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from policy.rules.common import (
    Context,
    Res,
    ResourceRule,
    Rule,
    StackRule,
    Violation,
    as_number,
    containers,
    describe,
    get,
    is_unknown,
    k8s_kind,
    listed,
    literal_env,
    pod_template,
    same_namespace,
    selector_matches,
    show,
    truthy,
    workload_containers,
)

HARBOR_TYPES = ("pulumi-python:dynamic/harbor:", "harbor:", "pulumi:providers:harbor")
POSTGRES_TYPES = ("pulumi-python:dynamic/postgres:", "postgresql:", "pulumi:providers:postgresql")
POSTGRES_URL = re.compile(r"^postgres(ql)?://", re.I)
SECURE_SSLMODES = ["require", "verify-ca", "verify-full"]


def _covered(host: str, tls_hosts: list[str]) -> bool:
    for pattern in tls_hosts:
        if pattern == host:
            return True
        # A wildcard certificate covers exactly one more label.
        if pattern.startswith("*.") and host.count(".") == pattern.count(".") and host.endswith(pattern[1:]):
            return True
    return False


def check_ingress_tls(resource: Res, _ctx: Context) -> list[str]:
    if k8s_kind(resource.type) != "Ingress":
        return []
    spec = resource.props.get("spec")
    rules, tls = get(spec, "rules"), get(spec, "tls")
    if is_unknown(rules) or is_unknown(tls):
        return []
    # An Ingress with only a defaultBackend has no rules: it still serves, so it still needs TLS.
    rules = rules if isinstance(rules, list) else []
    tls_entries = tls if isinstance(tls, list) else []
    tls_hosts: list[str] = []
    problems = []
    for index, entry in enumerate(tls_entries):
        hosts = get(entry, "hosts")
        if is_unknown(hosts):
            return []
        tls_hosts += [h for h in listed(hosts) if isinstance(h, str)]
        secret_name = get(entry, "secretName")
        if not is_unknown(secret_name) and not secret_name:
            problems.append(
                f"{describe(resource)} spec.tls[{index}] names no secretName: the controller would serve its "
                "default certificate (cert-manager, too, needs the Secret's name)"
            )
    if not tls_entries:
        problems.append(
            f"{describe(resource)} has no spec.tls: add a tls entry with a certificate Secret for its hosts"
        )
    for rule in rules:
        host = get(rule, "host")
        if is_unknown(host):
            continue
        if not isinstance(host, str) or not host:
            if tls_entries:
                continue
            problems.append(
                f"{describe(resource)} has a rule without host: name the host and cover it in spec.tls"
            )
        elif tls_entries and not _covered(host, tls_hosts):
            problems.append(
                f"{describe(resource)} serves host '{host}' without TLS: add it to spec.tls[].hosts "
                "(with a certificate that covers it)"
            )
    return problems


INGRESS_TLS = ResourceRule(
    name="ingress-tls-covers-hosts",
    description="Ingresses terminate TLS for every host they route.",
    check=check_ingress_tls,
)


_HTTP_APP_PROTOCOLS = ("http", "h2c", "kubernetes.io/h2c", "kubernetes.io/ws")
_HTTP_PORTS = (80, 8080)


def _http_name(name: Any) -> bool | None:
    """What a port's name says: True for http / http-*, False for https / tls / *-tls, None for
    anything else."""
    if not isinstance(name, str):
        return None
    name = name.lower()
    if (
        name in ("https", "tls", "grpcs", "h2")
        or name.startswith(("https-", "tls-"))
        or name.endswith("-tls")
    ):
        return False
    if name == "http" or name.startswith("http-"):
        return True
    return None


def _container_ports(service: Res, resources: Sequence[Res]) -> list[Mapping[str, Any]]:
    """The container ports of the workloads the Service selects (in the same namespace)."""
    selector = get(service.props, "spec", "selector")
    if not isinstance(selector, Mapping) or not selector:
        return []
    ports: list[Mapping[str, Any]] = []
    for workload in resources:
        template = pod_template(workload)
        if template is None or not same_namespace(service, workload):
            continue
        if selector_matches({"matchLabels": selector}, template.labels) is not True:
            continue
        for container in containers(template.spec, init=False):
            items = container.spec.get("ports")
            ports += [p for p in items if isinstance(p, Mapping)] if isinstance(items, list) else []
    return ports


def _target_says(target: Any, pod_ports: list[Mapping[str, Any]]) -> bool | None:
    """What a Service port's targetPort says about plain HTTP: its own name, else the selected
    pods' container port it names or numbers (that port's name, then its number); None when
    nothing tells."""
    if isinstance(target, str) and not target.isdigit():
        by_target = _http_name(target)
        if by_target is not None:
            return by_target
        resolved = [p for p in pod_ports if p.get("name") == target]
        return any(as_number(p.get("containerPort")) in _HTTP_PORTS for p in resolved) if resolved else None
    if target is None:
        return None
    # A number: a pod port named http on 8000 is plain HTTP whatever its number.
    said = {_http_name(p.get("name")) for p in pod_ports if as_number(p.get("containerPort")) == as_number(target)}
    if True in said or said == {False}:
        return True in said
    return True if as_number(target) in _HTTP_PORTS else None


def _plain_http_port(port: Mapping[str, Any], pod_ports: list[Mapping[str, Any]]) -> bool:
    """Whether a Service port carries plain HTTP: its appProtocol, else its name, else what its
    targetPort says (`_target_says`), else the port numbers."""
    app_protocol = port.get("appProtocol")
    if isinstance(app_protocol, str):
        return app_protocol.lower() in _HTTP_APP_PROTOCOLS
    by_name = _http_name(port.get("name"))
    if by_name is not None:
        return by_name
    by_target = _target_says(port.get("targetPort"), pod_ports)
    if by_target is not None:
        return by_target
    return as_number(port.get("port")) in _HTTP_PORTS


def check_external_service(resources: Sequence[Res], _ctx: Context) -> list[Violation]:
    violations = []
    for service in resources:
        if k8s_kind(service.type) != "Service":
            continue
        spec = service.props.get("spec")
        service_type, ports = get(spec, "type"), get(spec, "ports")
        if service_type not in ("LoadBalancer", "NodePort") or not isinstance(ports, list):
            continue
        pod_ports = _container_ports(service, resources)
        violations += [
            Violation(
                f"{describe(service)} exposes plain HTTP on port {show(get(port, 'port'))} "
                f"(targetPort {show(get(port, 'targetPort'))}) as a {service_type}: route it through the TLS "
                "Ingress (make the Service ClusterIP) or serve HTTPS on that port",
                service.urn,
            )
            for port in ports
            if isinstance(port, Mapping) and _plain_http_port(port, pod_ports)
        ]
    return violations


NO_PLAIN_HTTP_SERVICE = StackRule(
    name="no-plain-http-external-service",
    description="No LoadBalancer or NodePort Service exposes plain HTTP.",
    check=check_external_service,
    prod_only=True,
)


def check_harbor_tls(resource: Res, _ctx: Context) -> list[str]:
    if not resource.type.startswith(HARBOR_TYPES):
        return []
    problems = []
    if truthy(resource.props.get("insecure")):
        problems.append(
            f"{describe(resource)} skips TLS verification of Harbor: set insecure to false "
            "(give ca_bundle for a private CA)"
        )
    url = resource.props.get("url")
    if isinstance(url, str) and not url.lower().startswith("https://"):
        problems.append(f"{describe(resource)} talks to Harbor over {url!r}: use an https:// URL")
    return problems


HARBOR_TLS = ResourceRule(
    name="harbor-tls-verified",
    description="Harbor is reached over https with certificate verification (insecure false).",
    check=check_harbor_tls,
)


def _sslmode_in_url(url: str) -> str | None:
    modes = parse_qs(urlsplit(url).query).get("sslmode")
    return modes[-1] if modes else None


def _app_db_settings(resource: Res, keys: list[str]) -> Iterator[tuple[str, Any]]:
    """(where, value) of each app DB setting: ConfigMap data and literal env values."""
    if k8s_kind(resource.type) == "ConfigMap":
        data = resource.props.get("data")
        if isinstance(data, Mapping):
            for key, value in data.items():
                if key in keys or (isinstance(value, str) and POSTGRES_URL.match(value)):
                    yield f"{describe(resource)} data.{key}", value
    for _, container in workload_containers(resource):
        for name, value in literal_env(container):
            if name in keys or (isinstance(value, str) and POSTGRES_URL.match(value)):
                yield f"{describe(resource)} container '{container.name}' env {name}", value


def _mode(mode: Any) -> str:
    return "no sslmode (libpq then tries plaintext)" if mode is None else f"sslmode {mode!r}"


def check_sslmode(resource: Res, ctx: Context) -> list[str]:
    allowed = ctx.strings("allowedModes")
    shown = " or ".join(allowed)
    problems = []
    if resource.type.startswith(POSTGRES_TYPES):
        mode = resource.props.get("sslmode")
        if not is_unknown(mode) and mode not in allowed:
            problems.append(
                f"{describe(resource)} connects to PostgreSQL with {_mode(mode)}: set sslmode to {shown}"
            )
    for where, value in _app_db_settings(resource, ctx.strings("settingKeys")):
        if not isinstance(value, str):
            continue
        mode = _sslmode_in_url(value) if POSTGRES_URL.match(value) else value
        if mode not in allowed:
            problems.append(f"{where} gives the app {_mode(mode)}: use {shown}")
    return problems


POSTGRES_SSLMODE = ResourceRule(
    name="postgres-sslmode-required",
    description="PostgreSQL connections (providers and the app's settings) require TLS.",
    check=check_sslmode,
    config={
        "allowedModes": {
            "type": "array",
            "items": {"type": "string", "enum": ["disable", "allow", "prefer", *SECURE_SSLMODES]},
            "default": SECURE_SSLMODES,
            "description": "libpq sslmode values that count as TLS",
        },
        "settingKeys": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["DB_SSLMODE", "PGSSLMODE"],
            "description": "ConfigMap keys / env names that carry the app's sslmode",
        },
    },
)


def check_pais_https(resource: Res, ctx: Context) -> list[str]:
    pattern = re.compile(ctx.text("keyPattern"))
    found: list[tuple[str, Any]] = []
    if k8s_kind(resource.type) == "ConfigMap":
        data = resource.props.get("data")
        if isinstance(data, Mapping):
            found += [(f"{describe(resource)} data.{k}", v) for k, v in data.items() if pattern.search(k)]
    for _, container in workload_containers(resource):
        found += [
            (f"{describe(resource)} container '{container.name}' env {name}", value)
            for name, value in literal_env(container)
            if pattern.search(name)
        ]
    return [
        f"{where} is {value!r}: PAIS must be called over https://"
        for where, value in found
        if isinstance(value, str) and not value.lower().startswith("https://")
    ]


PAIS_HTTPS = ResourceRule(
    name="pais-endpoints-https",
    description="The PAIS base URL and the token endpoints (PAIS, OIDC) the app is given are https:// URLs.",
    check=check_pais_https,
    config={
        "keyPattern": {
            "type": "string",
            # PAIS's own URLs, and any OAuth/OIDC endpoint the app sends its client secret to
            # (OIDC_TOKEN_URL, AUTH_TOKEN_URL, ISSUER_URL ...); not in-cluster hops such as BACKEND_URL.
            "default": "^(PAIS|OIDC|OAUTH2?)_.*URL$|(^|_)(TOKEN|ISSUER)_URL$",
            "description": "regular expression of the ConfigMap keys / env names holding PAIS and OIDC endpoint URLs",
        }
    },
)

RULES: list[Rule] = [INGRESS_TLS, NO_PLAIN_HTTP_SERVICE, HARBOR_TLS, POSTGRES_SSLMODE, PAIS_HTTPS]
