"""Bad stack configs: each fails before any resource is registered, naming the key.

Every case starts from a committed stack file, applies one mistake a user could make, runs
the whole program under mocks and asserts the exact problem line and that nothing was
registered. Valid edge cases at the end must be accepted.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from infra.config import ConfigError
from tests.unit.harness import ROOT, Recorded, run_program, stack_config

Mutation = Callable[[dict[str, Any]], None]


@dataclass
class Case:
    id: str
    env: str
    mutate: Mutation
    expected: str
    extra_config: dict[str, str] = field(default_factory=dict)
    category: str = ""
    secrets: dict[str, str] = field(default_factory=dict)
    """Secret keys set for the run (the program then runs as `up`, with its pre-apply check)."""
    secret_objects: tuple[str, ...] = ()
    """Object keys set as secrets (`pulumi config set --secret --path ...`)."""
    absent: tuple[str, ...] = ()
    """Text the message must not contain: secret values, follow-on complaints."""
    stack_file_edit: Callable[[str], str] | None = None
    """The stack file as the user wrote it (for what Pulumi decodes before the program sees it)."""
    then: str = ""
    """Text the problem line must also contain, after the start `expected` gives (when the value
    shown in between differs per run)."""


def setter(path: str, value: Any) -> Mutation:
    def mutate(cfg: dict[str, Any]) -> None:
        node = cfg
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[keys[-1]] = value

    return mutate


def deleter(path: str) -> Mutation:
    def mutate(cfg: dict[str, Any]) -> None:
        node = cfg
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]

    return mutate


def together(*mutations: Mutation) -> Mutation:
    def mutate(cfg: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(cfg)

    return mutate


def appended(path: str, index: int, **changes: Any) -> Mutation:
    """Append a copy of the list item at `index` (with `changes`) to the list at `path`."""

    def mutate(cfg: dict[str, Any]) -> None:
        node: Any = cfg
        for key in path.split("."):
            node = node[key]
        item = copy.deepcopy(node[index])
        node.append({**item, **changes} if isinstance(item, dict) else item)

    return mutate


def tagged(pattern: str, tag: str) -> Mutation:
    """prod's immutable tag pattern and both app images' tag (or tag@digest) set together."""
    images = [
        setter(f"app.{key}", f"harbor.paif.example.internal/paif-chat/{name}:{tag}")
        for key, name in (("frontendImage", "chat-frontend"), ("backendImage", "chat-backend"))
    ]
    return together(setter("harbor.immutableTagPattern", pattern), *images)


def nothing(_cfg: dict[str, Any]) -> None:
    return None


CASES = [
    Case("missing-environment", "dev", deleter("environment"), "paif:environment: required key is missing"),
    Case(
        "unknown-environment",
        "dev",
        setter("environment", "staging"),
        "paif:environment: given 'staging'; must be 'local', 'dev' or 'prod'",
    ),
    Case(
        "replicas-zero",
        "dev",
        setter("app.replicas", 0),
        "paif:app.replicas: given 0; must be at least 1",
    ),
    Case(
        "prod-single-replica",
        "prod",
        setter("app.replicas", 1),
        "paif:app.replicas: given 1; prod requires at least 2",
    ),
    Case(
        "replicas-wrong-type",
        "dev",
        setter("app.replicas", "three"),
        "paif:app.replicas: given 'three'; must be a whole number",
    ),
    Case(
        "bad-hostname",
        "dev",
        setter("app.hostname", "Chat_App.example.com"),
        "paif:app.hostname: given 'Chat_App.example.com'; must be a DNS name such as chat.example.com "
        "(lower-case, dot-separated labels)",
    ),
    Case(
        "image-latest",
        "dev",
        setter("app.backendImage", "harbor.paif.example.internal/paif-chat-dev/chat-backend:latest"),
        "paif:app.backendImage: given 'harbor.paif.example.internal/paif-chat-dev/chat-backend:latest'; "
        "tag 'latest' is not allowed: pin a release tag or a digest",
    ),
    Case(
        "image-untagged",
        "dev",
        setter("app.frontendImage", "harbor.paif.example.internal/paif-chat-dev/chat-frontend"),
        "paif:app.frontendImage: given 'harbor.paif.example.internal/paif-chat-dev/chat-frontend'; "
        "must be pinned by tag or digest (no implicit latest)",
    ),
    Case(
        "image-outside-harbor-project",
        "prod",
        setter("app.frontendImage", "harbor.paif.example.internal/other/chat-frontend:1.0.0"),
        "paif:app.frontendImage: given 'harbor.paif.example.internal/other/chat-frontend:1.0.0'; "
        "images must come from the Harbor project harbor.paif.example.internal/paif-chat/",
    ),
    Case(
        "unknown-top-level-key",
        "dev",
        setter("replica", 2),
        "paif:replica: unknown key; allowed keys here: app, database, dlvm, environment, harbor, pais, "
        "policyPackConfig, protection, vks, vsphere",
    ),
    Case(
        "unknown-nested-key",
        "dev",
        setter("app.replica", 2),
        "paif:app.replica: unknown key; did you mean paif:app.replicas? allowed keys here: autoscaling, backendImage, backendPort, "
        "backendResources, frontendImage, frontendPort, frontendResources, hostname, ingressClassName, "
        "logLevel, monitoring, monitoringNamespace, name, namespace, replicas, tls, uploadsAccessMode, "
        "uploadsStorageClass, uploadsVolumeSize",
    ),
    Case(
        "ingress-class-not-dns-label",
        "prod",
        setter("app.ingressClassName", "Contour Ingress"),
        "paif:app.ingressClassName: given 'Contour Ingress'; must be a DNS label: lower-case letters, digits "
        "and '-', 1-63 characters",
    ),
    Case(
        "monitoring-namespace-not-dns-label",
        "prod",
        setter("app.monitoringNamespace", "tanzu_system_monitoring"),
        "paif:app.monitoringNamespace: given 'tanzu_system_monitoring'; must be a DNS label",
    ),
    Case(
        "db-app-host-with-scheme",
        "local",
        setter("database.appHost", "postgres://db.local.paif.test"),
        "paif:database.appHost: given 'postgres://db.local.paif.test'; must be a host name or an IP address, "
        "not a URL (no scheme such as https://)",
    ),
    Case(
        "prod-uploads-without-rwx-class",
        "prod",
        deleter("app.uploadsStorageClass"),
        "paif:app.uploadsStorageClass: required key is missing: paif:app.uploadsVolumeSize with up to 10 "
        "backend replicas (paif:app.replicas, paif:app.autoscaling.maxReplicas) needs a ReadWriteMany volume; "
        "name a StorageClass that provisions ReadWriteMany volumes (e.g. vSAN File Services)",
    ),
    Case(
        "prod-uploads-read-write-once",
        "prod",
        setter("app.uploadsAccessMode", "ReadWriteOnce"),
        "paif:app.uploadsAccessMode: given 'ReadWriteOnce'; the backend runs up to 10 replicas "
        "(paif:app.replicas, paif:app.autoscaling.maxReplicas) on different nodes and a ReadWriteOnce volume "
        "mounts on one node only: use ReadWriteMany with paif:app.uploadsStorageClass, run 1 replica, "
        "or remove paif:app.uploadsVolumeSize",
    ),
    Case(
        "local-uploads-two-replicas-default-class",
        "local",
        setter("app.replicas", 2),
        "paif:app.uploadsStorageClass: required key is missing: paif:app.uploadsVolumeSize with up to 2 "
        "backend replicas (paif:app.replicas, paif:app.autoscaling.maxReplicas) needs a ReadWriteMany volume",
    ),
    Case(
        "uploads-class-without-volume",
        "local",
        together(deleter("app.uploadsVolumeSize"), setter("app.uploadsStorageClass", "vsan-default-storage-policy")),
        "paif:app.uploadsStorageClass: given 'vsan-default-storage-policy'; there is no uploads volume "
        "(paif:app.uploadsVolumeSize is unset): remove the key or set the size",
    ),
    Case(
        "uploads-access-mode-unknown",
        "local",
        setter("app.uploadsAccessMode", "ReadWriteOncePod"),
        "paif:app.uploadsAccessMode: given 'ReadWriteOncePod'; must be 'ReadWriteOnce' or 'ReadWriteMany'",
    ),
    Case(
        "prod-verify-full-without-ca",
        "prod",
        deleter("database.caBundle"),
        "paif:database.caBundle: required key is missing: sslmode 'verify-full' verifies the database's server "
        "certificate; give the PEM CA certificate(s) that signed it",
    ),
    Case(
        "verify-ca-without-ca",
        "dev",
        setter("database.sslmode", "verify-ca"),
        "paif:database.caBundle: required key is missing: sslmode 'verify-ca' verifies the database's server "
        "certificate",
    ),
    Case(
        "db-ca-not-pem",
        "prod",
        setter("database.caBundle", "corp-root-ca.crt"),
        "paif:database.caBundle: given 'corp-root-ca.crt'; must be PEM certificate(s) "
        "(-----BEGIN CERTIFICATE----- ...), not a file name",
    ),
    Case(
        "db-ca-broken-pem",
        "prod",
        setter("database.caBundle", "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"),
        "paif:database.caBundle: given '-----BEGIN CERTIFICATE-----\\nbm90IGEgY2VydA==\\n-----END CERTIFICATE-----\\n'; "
        "must be PEM certificate(s) that parse",
    ),
    Case(
        "pais-ca-with-private-key",
        "local",
        setter("pais.caBundle", "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"),
        "paif:pais.caBundle: holds a private key; give only the CA certificate(s) (the key was not shown)",
    ),
    Case(
        "db-ca-with-pgp-private-key",
        "prod",
        setter("database.caBundle", "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBGd0\n-----END PGP PRIVATE KEY BLOCK-----\n"),
        "paif:database.caBundle: holds a private key; give only the CA certificate(s) (the key was not shown)",
    ),
    Case(
        "pais-plain-http",
        "dev",
        setter("pais.baseUrl", "http://pais.paif.example.internal"),
        "paif:pais.baseUrl: given 'http://pais.paif.example.internal'; must be an https:// URL",
    ),
    Case(
        "namespace-not-dns-label",
        "dev",
        setter("vsphere.namespace.name", "PAIF_Chat"),
        "paif:vsphere.namespace.name: given 'PAIF_Chat'; must be a DNS label: lower-case letters, digits and '-', "
        "1-63 characters",
    ),
    Case(
        "gpu-class-undeclared",
        "dev",
        setter("vsphere.gpuClass", "paif-gpu-h100"),
        "paif:vsphere.gpuClass: given 'paif-gpu-h100'; must name one of vmClasses (paif-cpu-medium, paif-gpu-a100-40c)",
    ),
    Case(
        "bad-vgpu-profile",
        "dev",
        setter("vsphere.vmClasses.1.vgpuProfile", "A100-40GB"),
        "paif:vsphere.vmClasses[1].vgpuProfile: given 'A100-40GB'; must be an NVIDIA vGPU profile name "
        "<prefix>_<gpu>-<framebuffer GB><type>, lower case, e.g. grid_a100-40c or nvidia_h100xm-80c",
    ),
    Case(
        "cpu-count-zero",
        "dev",
        setter("vsphere.vmClasses.0.cpuCount", 0),
        "paif:vsphere.vmClasses[0].cpuCount: given 0; must be at least 1",
    ),
    Case(
        "storage-not-quantity",
        "dev",
        setter("database.storageSpace", "20 gigs"),
        "paif:database.storageSpace: given '20 gigs'; must be a Kubernetes quantity such as 500m, 2, 512Mi or 20Gi",
    ),
    Case(
        "extension-sql-injection",
        "dev",
        setter("database.extensions", ["vector; DROP TABLE users"]),
        "paif:database.extensions[0]: given 'vector; DROP TABLE users'; must be a plain SQL identifier",
    ),
    Case(
        "role-name-too-long",
        "dev",
        setter("database.appRole", "a" * 64),
        f"paif:database.appRole: given '{'a' * 64}'; must be a plain SQL identifier",
    ),
    Case(
        "prod-db-not-ha",
        "prod",
        setter("database.replicas", 0),
        "paif:database.replicas: given 0; prod allows 1",
    ),
    Case(
        "prod-db-no-backups",
        "prod",
        setter("database.backupSchedules", []),
        "paif:database.backupSchedules: prod requires at least one backup schedule",
    ),
    Case(
        "dev-with-vks",
        "dev",
        setter("vks", stack_config("prod")["vks"]),
        "paif:vks: dev does not declare a VKS cluster; remove the key",
    ),
    Case(
        "prod-harbor-insecure",
        "prod",
        setter("harbor.insecure", True),
        "paif:harbor.insecure: given true; prod requires TLS verification (false)",
    ),
    Case(
        "tls-secret-without-name",
        "prod",
        setter("app.tls", {"mode": "secret"}),
        "paif:app.tls: tls.mode 'secret' needs tls.secretName (an existing kubernetes.io/tls Secret)",
    ),
    Case(
        "bad-egress-cidr",
        "dev",
        setter("database.egressCidr", "10.20.40.1/24"),
        "paif:database.egressCidr: given '10.20.40.1/24'; must be a network in CIDR notation such as 10.20.0.0/24",
    ),
    Case(
        "local-with-harbor",
        "local",
        setter("harbor", stack_config("dev")["harbor"]),
        "paif:harbor: the local environment has no Harbor; remove the key",
    ),
    Case(
        "plaintext-secret",
        "dev",
        nothing,
        "paif:vcenterPassword: must be a secret; set it with `pulumi config set --secret paif:vcenterPassword` "
        "(the plaintext value was not used)",
        extra_config={"paif:vcenterPassword": "hunter2"},
    ),
    Case(
        "project-namespace",
        "dev",
        nothing,
        "paif-app:environment: keys belong to the 'paif' namespace; use paif:environment",
        extra_config={"paif-app:environment": "dev"},
    ),
]


def all_of(*mutations: Mutation) -> Mutation:
    def mutate(cfg: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(cfg)

    return mutate


def file_edit(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert text.count(old) == 1, old
        return text.replace(old, new)

    return edit


UP_SECRETS = {"vcenterPassword": "vc-pw-1", "paisClientSecret": "pais-pw-1", "harborPassword": "harbor-pw-1"}
KUBECONFIG_OK = (
    "apiVersion: v1\nkind: Config\nclusters: [{name: sv, cluster: {server: 'https://sv.example:6443'}}]\n"
    "users: [{name: u, user: {token: kc-token-77}}]\ncontexts: [{name: c, context: {cluster: sv, user: u}}]\n"
)
PROD_SCHEDULES = stack_config("prod")["database"]["backupSchedules"]

# Issue 15: what was accepted, refused without naming the key, or a traceback.
NEW_CASES = [
    # Names Kubernetes or vCenter derive from a config value.
    Case("app-name-derived-too-long", "local", setter("app.name", "a" * 51),
         f"paif:app.name: given '{'a' * 51}'; must be at most 50 characters", category="derived-names"),
    Case("app-name-leading-digit", "dev", setter("app.name", "1chat"),
         "paif:app.name: given '1chat'; must start with a lower-case letter", category="derived-names"),
    Case("db-cluster-name-derived-too-long", "dev", setter("database.clusterName", "c" * 49),
         f"paif:database.clusterName: given '{'c' * 49}'; must be at most 48 characters", category="derived-names"),
    Case("db-cluster-name-leading-digit", "prod", setter("database.clusterName", "9chat"),
         "paif:database.clusterName: given '9chat'; must start with a lower-case letter", category="derived-names"),
    Case("dlvm-name-derived-too-long", "dev", setter("dlvm.name", "d" * 53),
         f"paif:dlvm.name: given '{'d' * 53}'; must be at most 52 characters", category="derived-names"),
    Case("vks-cluster-name-derived-too-long", "prod", setter("vks.clusterName", "v" * 53),
         f"paif:vks.clusterName: given '{'v' * 53}'; must be at most 52 characters", category="derived-names"),
    Case("vks-cluster-name-leading-digit", "local", setter("vks.clusterName", "0vks"),
         "paif:vks.clusterName: given '0vks'; must start with a lower-case letter", category="derived-names"),
    # Host names that are IP addresses.
    Case("hostname-ipv4", "dev", setter("app.hostname", "10.1.2.3"),
         "paif:app.hostname: given '10.1.2.3'; must be a DNS name, not an IP address", category="hostname-ip"),
    Case("hostname-ipv4-prod", "prod", setter("app.hostname", "192.168.10.20"),
         "paif:app.hostname: given '192.168.10.20'; must be a DNS name, not an IP address", category="hostname-ip"),
    Case("hostname-ipv6", "local", setter("app.hostname", "fd00::1"),
         "paif:app.hostname: given 'fd00::1'; must be a DNS name", category="hostname-ip"),
    # Names that end in an all-digit label: inet_aton and resolvers read them as IPv4 addresses.
    Case("hostname-short-ipv4", "dev", setter("app.hostname", "10.1"),
         "paif:app.hostname: given '10.1'; must be a DNS name such as chat.example.com", then="last label must not "
         "be all digits", category="hostname-ip"),
    Case("hostname-number", "local", setter("app.hostname", "0"),
         "paif:app.hostname: given '0'; must be a DNS name", then="last label must not be all digits",
         category="hostname-ip"),
    Case("hostname-numeric-tld", "prod", setter("app.hostname", "chat.example.123"),
         "paif:app.hostname: given 'chat.example.123'; must be a DNS name", then="last label must not be all digits",
         category="hostname-ip"),
    Case("db-host-out-of-range-ipv4", "dev", setter("database.host", "999.1.1.1"),
         "paif:database.host: given '999.1.1.1'; must be a host name or an IP address",
         then="last label must not be all digits", category="hostname-ip"),
    Case("vcenter-host-number", "dev", setter("vsphere.host", "9999999999"),
         "paif:vsphere.host: given '9999999999'; must be a host name or an IP address",
         then="last label must not be all digits", category="hostname-ip"),
    Case("harbor-url-short-ipv4", "prod", setter("harbor.url", "https://10.20"),
         "paif:harbor.url: given 'https://10.20'; must be an http:// or https:// base URL",
         then="last label must not be all digits", category="hostname-ip"),
    # Requests above limits, across units.
    Case("cpu-request-int-above-millicores", "dev",
         setter("app.backendResources", {"cpuRequest": 2, "cpuLimit": "1500m"}),
         "paif:app.backendResources.cpuRequest: given '2'; must not exceed cpuLimit ('1500m')", category="requests"),
    Case("memory-request-gi-above-mi", "dev",
         setter("app.frontendResources", {"memoryRequest": "1Gi", "memoryLimit": "900Mi"}),
         "paif:app.frontendResources.memoryRequest: given '1Gi'; must not exceed memoryLimit ('900Mi')",
         category="requests"),
    Case("cpu-request-decimal-above-int", "prod",
         setter("app.frontendResources", {"cpuRequest": "1.5", "cpuLimit": 1}),
         "paif:app.frontendResources.cpuRequest: given '1.5'; must not exceed cpuLimit ('1')", category="requests"),
    Case("cpu-request-float-above-millicores", "local",
         setter("app.backendResources", {"cpuRequest": 0.75, "cpuLimit": "500m"}),
         "paif:app.backendResources.cpuRequest: given '0.75'; must not exceed cpuLimit ('500m')", category="requests"),
    Case("memory-request-decimal-units-above-binary", "dev",
         setter("app.backendResources", {"memoryRequest": "2G", "memoryLimit": "1Gi"}),
         "paif:app.backendResources.memoryRequest: given '2G'; must not exceed memoryLimit ('1Gi')",
         category="requests"),
    Case("memory-limit-milli-bytes", "dev", setter("app.backendResources", {"memoryLimit": "512m"}),
         "paif:app.backendResources.memoryLimit: given '512m'; must not use the suffix m", category="requests"),
    # Zero-size volumes.
    Case("uploads-volume-zero", "local", setter("app.uploadsVolumeSize", "0"),
         "paif:app.uploadsVolumeSize: given '0'; must be a size above zero", category="zero-size"),
    Case("uploads-volume-zero-gi", "prod", setter("app.uploadsVolumeSize", "0Gi"),
         "paif:app.uploadsVolumeSize: given '0Gi'; must be a size above zero", category="zero-size"),
    Case("uploads-volume-zero-number", "local", setter("app.uploadsVolumeSize", 0),
         "paif:app.uploadsVolumeSize: given 0; must be a size above zero", category="zero-size"),
    Case("dlvm-boot-disk-zero", "dev", setter("dlvm.bootDiskSize", "0Mi"),
         "paif:dlvm.bootDiskSize: given '0Mi'; must be a size above zero", category="zero-size"),
    Case("memory-limit-zero", "dev", setter("app.frontendResources", {"memoryRequest": "0", "memoryLimit": "0"}),
         "paif:app.frontendResources.memoryLimit: given '0'; must be a size above zero", category="zero-size"),
    # URLs with an invalid port.
    Case("pais-url-port-too-big", "dev", setter("pais.baseUrl", "https://pais.example.com:99999"),
         "paif:pais.baseUrl: given 'https://pais.example.com:99999'; must be an https:// URL with a valid port",
         category="url-port"),
    Case("pais-token-url-port-zero", "dev", setter("pais.tokenUrl", "https://pais.example.com:0/oauth/token"),
         "paif:pais.tokenUrl: given 'https://pais.example.com:0/oauth/token'; must be an https:// URL with a valid port",
         category="url-port"),
    Case("harbor-url-port-not-number", "dev", setter("harbor.url", "https://harbor.paif.example.internal:https"),
         "paif:harbor.url: given 'https://harbor.paif.example.internal:https'; must be an http:// or https:// base URL "
         "without a path, e.g. https://harbor.example.com with a valid port", category="url-port"),
    Case("vcenter-host-port-too-big", "dev", setter("vsphere.host", "vcenter.paif.example.internal:70000"),
         "paif:vsphere.host: given 'vcenter.paif.example.internal:70000'; must be a host name or an IP address, "
         "with an optional :port; a port is a number from 1 to 65535", category="url-port"),
    # A host given as a URL.
    Case("vcenter-host-is-url", "dev", setter("vsphere.host", "https://vc.example.com"),
         "paif:vsphere.host: given 'https://vc.example.com'; must be a host name or an IP address, with an optional "
         ":port, not a URL", category="host-url"),
    Case("vcenter-host-is-url-prod", "prod", setter("vsphere.host", "https://vcenter.paif.example.internal/sdk"),
         "paif:vsphere.host: given 'https://vcenter.paif.example.internal/sdk'; must be a host name or an IP address, "
         "with an optional :port, not a URL", category="host-url"),
    Case("db-host-is-url", "local", setter("database.host", "postgres://db.example.com"),
         "paif:database.host: given 'postgres://db.example.com'; must be a host name or an IP address, not a URL",
         category="host-url"),
    Case("vcenter-host-with-path", "local", setter("vsphere.host", "vc.example.com/ui"),
         "paif:vsphere.host: given 'vc.example.com/ui'; must be a host name or an IP address", category="host-url"),
    # Credentials embedded in a URL or host: refused, the password never echoed.
    Case("pais-url-credentials", "dev", setter("pais.baseUrl", "https://svc:S3cretPw@pais.example.com"),
         "paif:pais.baseUrl: given 'https://svc:***@pais.example.com'; must not contain credentials",
         absent=("S3cretPw",), category="url-credentials"),
    Case("harbor-url-credentials", "dev", setter("harbor.url", "https://admin:Harbor12345@harbor.paif.example.internal"),
         "paif:harbor.url: given 'https://admin:***@harbor.paif.example.internal'; must not contain credentials",
         absent=("Harbor12345",), category="url-credentials"),
    Case("token-url-credentials", "prod", setter("pais.tokenUrl", "https://client:tok3nPass@pais.example.com/oauth"),
         "paif:pais.tokenUrl: given 'https://client:***@pais.example.com/oauth'; must not contain credentials",
         absent=("tok3nPass",), category="url-credentials"),
    Case("vcenter-host-credentials", "dev", setter("vsphere.host", "administrator:VcPass1@vc.example.com"),
         "paif:vsphere.host: given 'administrator:***@vc.example.com'; must be a host name or an IP address, "
         "with an optional :port, without credentials", absent=("VcPass1",), category="url-credentials"),
    Case("db-host-credentials", "local", setter("database.host", "app:DbPass9@db.example.com"),
         "paif:database.host: given 'app:***@db.example.com'; must be a host name or an IP address, without credentials",
         absent=("DbPass9",), category="url-credentials"),
    Case("vm-class-memory-over-the-vm-maximum", "prod", setter("vsphere.vmClasses.0.memoryMib", 10**12),
         "paif:vsphere.vmClasses[0].memoryMib: given 1000000000000; must be at most 25165824",
         category="bounds"),
    # Line breaks and other control characters in one-line keys (they would travel into
    # HTTP headers, environment variables and YAML); PEM keys keep their lines.
    Case("client-id-line-break", "prod", setter("pais.clientId", "chat\nbackend"),
         "paif:pais.clientId: given 'chat\\nbackend'; must be one line, without control characters such as "
         "line breaks or tabs", category="control-characters"),
    Case("vcenter-username-tab", "dev", setter("vsphere.username", "svc\tpaif@vsphere.local"),
         "paif:vsphere.username: given 'svc\\tpaif@vsphere.local'; must be one line, without control characters "
         "such as line breaks or tabs", category="control-characters"),
    Case("access-subject-nul", "prod", setter("vsphere.namespace.access.0.subject", "paif\x00admins"),
         "paif:vsphere.namespace.access[0].subject: given 'paif\\x00admins'; must be one line, without control "
         "characters such as line breaks or tabs", category="control-characters"),
    # Cron expressions that are not 5-field crons.
    Case("cron-four-fields", "prod", setter("database.backupSchedules.0.schedule", "0 2 * *"),
         "paif:database.backupSchedules[0].schedule: given '0 2 * *'; must be a cron expression of 5 fields",
         category="cron"),
    Case("cron-six-fields", "prod", setter("database.backupSchedules.1.schedule", "0 0 2 * * 1-6"),
         "paif:database.backupSchedules[1].schedule: given '0 0 2 * * 1-6'; must be a cron expression of 5 fields",
         category="cron"),
    Case("cron-minute-61", "prod", setter("database.backupSchedules.0.schedule", "61 2 * * 0"),
         "paif:database.backupSchedules[0].schedule: given '61 2 * * 0'; must be a cron expression of 5 fields",
         category="cron"),
    Case("cron-hour-25", "prod", setter("database.backupSchedules.0.schedule", "0 25 * * 0"),
         "paif:database.backupSchedules[0].schedule: given '0 25 * * 0'; must be a cron expression of 5 fields",
         category="cron"),
    Case("cron-weekday-8", "prod", setter("database.backupSchedules.1.schedule", "0 2 * * 8"),
         "paif:database.backupSchedules[1].schedule: given '0 2 * * 8'; must be a cron expression of 5 fields",
         category="cron"),
    Case("cron-words", "prod", setter("database.backupSchedules.0.schedule", "every sunday at two am"),
         "paif:database.backupSchedules[0].schedule: given 'every sunday at two am'; must be a cron expression",
         category="cron"),
    Case("cron-sunday-as-7", "prod", setter("database.backupSchedules.0.schedule", "0 2 * * 7"),
         "paif:database.backupSchedules[0].schedule: given '0 2 * * 7'; must be a cron expression of 5 fields",
         then="day-of-week 7: write 0 for Sunday", category="cron"),
    Case("cron-quartz-last-day", "prod", setter("database.backupSchedules.0.schedule", "0 2 L * *"),
         "paif:database.backupSchedules[0].schedule: given '0 2 L * *'; must be a cron expression of 5 fields",
         then="L is a Quartz extension that standard cron parsers refuse", category="cron"),
    Case("cron-quartz-nth-weekday", "dev", setter("database.backupSchedules", [{"name": "monthly", "type": "full", "schedule": "0 2 * * 0#1"}]),
         "paif:database.backupSchedules[0].schedule: given '0 2 * * 0#1'; must be a cron expression of 5 fields",
         then="# is a Quartz extension", category="cron"),
    # Maintenance windows.
    Case("window-25h", "prod", setter("database.maintenanceWindow.duration", "25h"),
         "paif:database.maintenanceWindow.duration: given '25h'; must be a duration above zero and at most 24h",
         category="maintenance-window"),
    Case("window-24h30m", "prod", setter("database.maintenanceWindow.duration", "24h30m"),
         "paif:database.maintenanceWindow.duration: given '24h30m'; must be a duration above zero and at most 24h",
         category="maintenance-window"),
    Case("window-zero", "prod", setter("database.maintenanceWindow.duration", "0h"),
         "paif:database.maintenanceWindow.duration: given '0h'; must be a duration above zero and at most 24h",
         category="maintenance-window"),
    Case("window-minutes-over-59", "prod", setter("database.maintenanceWindow.duration", "1h90m"),
         "paif:database.maintenanceWindow.duration: given '1h90m'; must be a duration in hours and minutes",
         category="maintenance-window"),
    Case("window-start-sexagesimal", "prod", setter("database.maintenanceWindow.startTime", 240),
         'paif:database.maintenanceWindow.startTime: given 240; must be a quoted time of day such as "04:00"',
         category="maintenance-window"),
    Case("window-start-not-a-time", "prod", setter("database.maintenanceWindow.startTime", "25:00"),
         "paif:database.maintenanceWindow.startTime: given '25:00'; must be a time of day HH:MM (24-hour clock)",
         absent=("pattern", "^("), category="maintenance-window"),
    # Duplicate schedule names.
    Case("schedule-names-duplicate", "prod", setter("database.backupSchedules.1.name", "weekly-full"),
         "paif:database.backupSchedules[1].name: given 'weekly-full'; schedule names must be unique",
         category="duplicate-schedules"),
    Case("schedule-names-duplicate-third", "prod",
         setter("database.backupSchedules", [*PROD_SCHEDULES, {**PROD_SCHEDULES[1], "schedule": "0 3 * * 1-6"}]),
         "paif:database.backupSchedules[2].name: given 'daily-incremental'; schedule names must be unique",
         category="duplicate-schedules"),
    # Reserved database, schema and role names.
    Case("database-name-postgres", "dev", setter("database.databaseName", "postgres"),
         "paif:database.databaseName: given 'postgres'; is reserved", category="reserved-names"),
    Case("database-name-template1", "dev", setter("database.databaseName", "template1"),
         "paif:database.databaseName: given 'template1'; is reserved", category="reserved-names"),
    Case("database-name-template0", "prod", setter("database.databaseName", "template0"),
         "paif:database.databaseName: given 'template0'; is reserved", category="reserved-names"),
    Case("schema-name-public", "dev", setter("database.schemaName", "public"),
         "paif:database.schemaName: given 'public'; is reserved", category="reserved-names"),
    Case("schema-name-information-schema", "dev", setter("database.schemaName", "information_schema"),
         "paif:database.schemaName: given 'information_schema'; is reserved", category="reserved-names"),
    Case("schema-name-pg-catalog", "local", setter("database.schemaName", "pg_catalog"),
         "paif:database.schemaName: given 'pg_catalog'; is reserved", category="reserved-names"),
    Case("app-role-postgres", "dev", setter("database.appRole", "postgres"),
         "paif:database.appRole: given 'postgres'; is reserved", category="reserved-names"),
    # Prod vSphere over http or without TLS verification (profile data).
    Case("prod-vsphere-insecure", "prod", setter("vsphere.insecure", True),
         "paif:vsphere.insecure: given true; prod requires TLS verification (false)", category="prod-vsphere-tls"),
    Case("prod-vsphere-http", "prod", all_of(setter("vsphere.protocol", "http"), setter("vsphere.insecure", True)),
         "paif:vsphere.protocol: given 'http'; prod requires https", category="prod-vsphere-tls"),
    Case("prod-vsphere-insecure-string", "prod", setter("vsphere.insecure", "true"),
         "paif:vsphere.insecure: given true; prod requires TLS verification (false)", category="prod-vsphere-tls"),
    # Malformed kubeconfig secrets, never echoed.
    Case("supervisor-kubeconfig-not-yaml", "dev", nothing,
         "paif:supervisorKubeconfig: the value (not shown) is not a kubeconfig: it is not valid YAML",
         secrets={"supervisorKubeconfig": "kc-marker-123: [unclosed"}, absent=("kc-marker-123",), category="kubeconfig"),
    Case("supervisor-kubeconfig-is-a-path", "local", nothing,
         "paif:supervisorKubeconfig: the value (not shown) is not a kubeconfig: it is not a YAML mapping "
         "(a single line: a file path", secrets={"supervisorKubeconfig": "/home/kc-user/.kube/config"},
         absent=("kc-user",), category="kubeconfig"),
    Case("workload-kubeconfig-no-clusters", "prod", nothing,
         "paif:workloadKubeconfig: the value (not shown) is not a kubeconfig: it has no clusters",
         secrets={"workloadKubeconfig": "apiVersion: v1\nkind: Config\nclusters: []\n# kc-marker-456\n"},
         absent=("kc-marker-456",), category="kubeconfig"),
    Case("supervisor-kubeconfig-no-users", "dev", nothing,
         "paif:supervisorKubeconfig: the value (not shown) is not a kubeconfig: it has no users",
         secrets={"supervisorKubeconfig": KUBECONFIG_OK.replace("users: [{name: u, user: {token: kc-token-77}}]\n", "")},
         absent=("kc-token-77", "sv.example"), category="kubeconfig"),
    # Overlapping pod and service networks.
    Case("vks-service-cidr-inside-pods", "prod", setter("vks.serviceCidr", "192.168.0.0/20"),
         "paif:vks.serviceCidr: given '192.168.0.0/20'; must not overlap podCidr (192.168.0.0/16)", category="cidrs"),
    Case("vks-pod-cidr-inside-services", "local", setter("vks.podCidr", "10.96.0.0/16"),
         "paif:vks.serviceCidr: given '10.96.0.0/12'; must not overlap podCidr (10.96.0.0/16)", category="cidrs"),
    Case("vks-cidrs-identical", "prod", all_of(setter("vks.podCidr", "10.0.0.0/16"), setter("vks.serviceCidr", "10.0.0.0/16")),
         "paif:vks.serviceCidr: given '10.0.0.0/16'; must not overlap podCidr (10.0.0.0/16)", category="cidrs"),
    # YAML/Pulumi coercion traps.
    Case("insecure-on", "local", setter("vsphere.insecure", "on"),
         "paif:vsphere.insecure: given 'on'; must be true or false", category="coercion"),
    Case("harbor-insecure-yes", "dev", setter("harbor.insecure", "yes"),
         "paif:harbor.insecure: given 'yes'; must be true or false", category="coercion"),
    Case("monitoring-off", "prod", setter("app.monitoring", "off"),
         "paif:app.monitoring: given 'off'; must be true or false", category="coercion"),
    Case("app-can-create-number", "dev", setter("database.appCanCreate", 1),
         "paif:database.appCanCreate: given 1; must be true or false", category="coercion"),
    Case("cosign-no", "prod", setter("harbor.cosign", "no"),
         "paif:harbor.cosign: given 'no'; must be true or false", category="coercion"),
    Case("port-leading-zero", "local", setter("database.port", 0o5432),
         "paif:database.port: given 05432 (unquoted, leading zero)",
         stack_file_edit=file_edit("port: 5432", "port: 05432"), category="coercion"),
    Case("window-start-leading-zero", "prod", setter("database.maintenanceWindow.startTime", 0o400),
         'paif:database.maintenanceWindow.startTime: given 256; must be a quoted time of day such as "04:00"',
         stack_file_edit=file_edit('startTime: "04:00"', "startTime: 0400"), absent=("given 0400",),
         category="coercion"),
    Case("replicas-leading-zero", "prod", setter("app.replicas", 3),
         "paif:app.replicas: given 03 (unquoted, leading zero)",
         stack_file_edit=file_edit("replicas: 3\n    uploadsVolumeSize", "replicas: 03\n    uploadsVolumeSize"),
         category="coercion"),
    # Keys Pulumi would accept and the program would silently ignore or call unknown.
    Case("namespace-typo-plaintext-secret", "dev", nothing,
         "paiff:vcenterPassword: unknown namespace 'paiff' (the value was not used); did you mean paif:vcenterPassword?",
         extra_config={"paiff:vcenterPassword": "hunter2-typo"}, absent=("hunter2-typo",), category="unknown-keys"),
    Case("namespace-upper-case", "dev", nothing,
         "PAIF:app: unknown namespace 'PAIF' (the value was not used); did you mean paif:app?",
         extra_config={"PAIF:app": '{"replicas": 2}'}, category="unknown-keys"),
    Case("secret-key-in-another-namespace", "dev", nothing,
         "pulumi:harborPassword: keys belong to the 'paif' namespace (the value was not used); set it with "
         "`pulumi config set --secret paif:harborPassword`",
         extra_config={"pulumi:harborPassword": "hunter2-elsewhere"}, absent=("hunter2-elsewhere",),
         category="unknown-keys"),
    Case("provider-kubeconfig-in-plaintext", "dev", nothing,
         "kubernetes:kubeconfig: holds a kubeconfig with user credentials in plaintext (not shown)",
         extra_config={"kubernetes:kubeconfig": "apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n"
                       "    token: kc-token-5521-abcdef\n"},
         absent=("kc-token-5521",), category="secrets"),
    Case("tool-url-with-password-in-plaintext", "dev", nothing,
         "postgresql:url: holds a URL with a password in plaintext (not shown)",
         extra_config={"postgresql:url": "postgres://admin:pg-pw-7781@db.example.internal/chat"},
         absent=("pg-pw-7781",), category="secrets"),
    Case("namespace-typo-object", "dev", nothing,
         "pai:harbor: unknown namespace 'pai' (the value was not used); did you mean paif:harbor?",
         extra_config={"pai:harbor": '{"insecure": true}'}, category="unknown-keys"),
    Case("dotted-key-without-path", "dev", nothing,
         "paif:app.name: unknown key; a dotted key sets a field inside the object paif:app only with --path: "
         "`pulumi config set --path paif:app.name VALUE`",
         extra_config={"paif:app.name": "chat2"}, category="unknown-keys"),
    Case("dotted-nested-key-without-path", "prod", nothing,
         "paif:database.port: unknown key; a dotted key sets a field inside the object paif:database only with --path",
         extra_config={"paif:database.port": "5433"}, category="unknown-keys"),
    Case("secret-key-typo", "dev", nothing,
         "paif:vcenterPasword: unknown key; did you mean paif:vcenterPassword (a secret key: set it with --secret)?",
         extra_config={"paif:vcenterPasword": "typo-pw-55"}, absent=("typo-pw-55",), category="unknown-keys"),
    Case("top-level-key-typo", "dev", nothing,
         "paif:databse: unknown key; did you mean paif:database?",
         extra_config={"paif:databse": '{"port": 5433}'}, category="unknown-keys"),
    Case("nested-key-typo", "dev", setter("app.hostnme", "chat.example.com"),
         "paif:app.hostnme: unknown key; did you mean paif:app.hostname?", category="unknown-keys"),
    # Secrets: empty ones refused before anything is registered; secret objects never echoed.
    Case("empty-vcenter-password", "dev", nothing,
         "paif:vcenterPassword: is set but empty", secrets={**UP_SECRETS, "vcenterPassword": ""}, category="secrets"),
    Case("empty-pais-client-secret", "local", nothing,
         "paif:paisClientSecret: is set but empty",
         secrets={"vcenterPassword": "vc-pw-1", "paisClientSecret": "  "}, category="secrets"),
    Case("empty-harbor-password", "prod", nothing,
         "paif:harborPassword: is set but empty",
         secrets={**UP_SECRETS, "harborPassword": "", "workloadKubeconfig": KUBECONFIG_OK}, category="secrets"),
    Case("empty-db-admin-password", "dev", nothing,
         "paif:dbAdminPassword: is set but empty", secrets={**UP_SECRETS, "dbAdminPassword": ""}, category="secrets"),
    Case("secret-object-vsphere-nested", "dev",
         all_of(setter("vsphere.host", "https://vc-secret-host.example.com"),
                setter("vsphere.username", "secret-user-42@vsphere.local")),
         "paif:vsphere.host: the value given (not shown: paif:vsphere is a secret)",
         secret_objects=("vsphere",), absent=("vc-secret-host", "secret-user-42"), category="secrets"),
    Case("secret-object-database-nested", "prod", setter("database.storageSpace", "lots-of-secret-disk"),
         "paif:database.storageSpace: the value given (not shown: paif:database is a secret)",
         secret_objects=("database",), absent=("lots-of-secret-disk", "paif-backups"), category="secrets"),
    Case("secret-object-list-for-text", "prod", setter("pais.clientId", ["chat-secret-id-9"]),
         "paif:pais.clientId: the value given (not shown: paif:pais is a secret) must be a single value (text), "
         "not an object or a list", secret_objects=("pais",), absent=("chat-secret-id-9", "Input should"),
         category="secrets"),
    Case("secret-object-list-for-section", "prod", setter("vks.gpuPool", ["gpu-pool-secret-7"]),
         "paif:vks.gpuPool: the value given (not shown: paif:vks is a secret) must be an object with the keys ",
         secret_objects=("vks",), absent=("gpu-pool-secret-7", "Input should", "instance of"), category="secrets"),
    # A closed choice (a severity, a mode) is no secret: it stays readable, in every line.
    Case("secret-object-public-choice", "prod",
         all_of(setter("harbor.deploymentSecurity", "critical"), setter("vks.platform.contour.envoyReplicas", 1)),
         "paif:harbor.deploymentSecurity: given 'critical'; prod requires high or stricter (none, low, medium or high): "
         "images with high-severity vulnerabilities must not be pulled", secret_objects=("harbor",),
         absent=("[secret]",), category="secrets"),
    Case("secret-object-cross-check", "prod", setter("vks.gpuPool.vmClass", "gpu-class-secret-9"),
         "paif:vks.gpuPool.vmClass: given '[secret]'", secret_objects=("vks",),
         absent=("gpu-class-secret-9",), category="secrets"),
    # No follow-on line about a key that already failed; no raw regex.
    Case("no-follow-on-gpu-class", "dev", setter("vsphere.vmClasses.0.cpuCount", 0),
         "paif:vsphere.vmClasses[0].cpuCount: given 0; must be at least 1",
         absent=("paif:vsphere.gpuClass",), category="messages"),
    Case("no-follow-on-backup-location", "prod", setter("database.backupLocation", "Bad_Location"),
         "paif:database.backupLocation: given 'Bad_Location'; must be a DNS label",
         absent=("backup schedules need",), category="messages"),
    Case("harbor-url-words-not-regex", "dev", setter("harbor.url", "ftp://harbor.paif.example.internal"),
         "paif:harbor.url: given 'ftp://harbor.paif.example.internal'; must be an http:// or https:// base URL",
         absent=("pattern", "^https"), category="messages"),
    Case("cpu-quantity-words", "dev", setter("app.backendResources", {"cpuRequest": "two"}),
         "paif:app.backendResources.cpuRequest: given 'two'; must be a Kubernetes quantity such as 500m, 2",
         category="messages"),
    # Fuzz of the stack files (issue 15): was a traceback, accepted, or refused in unclear words.
    Case("local-database-host-missing", "local", deleter("database.host"),
         "paif:database.host: required key is missing: local does not wait for DSM to report the cluster "
         "(no DSM controller runs there), so its host is never known; give the database server's host name "
         "or IP address", category="traceback"),
    Case("vm-class-cpu-count-bool", "dev", setter("vsphere.vmClasses.0.cpuCount", True),
         "paif:vsphere.vmClasses[0].cpuCount: given true; must be a whole number, not true or false",
         category="bool-for-number"),
    Case("database-port-bool", "local", setter("database.port", True),
         "paif:database.port: given true; must be a whole number, not true or false", category="bool-for-number"),
    Case("app-replicas-bool", "prod", setter("app.replicas", True),
         "paif:app.replicas: given true; must be a whole number, not true or false", category="bool-for-number"),
    Case("control-plane-replicas-bool", "prod", setter("vks.controlPlaneReplicas", True),
         "paif:vks.controlPlaneReplicas: given true; must be a whole number, not true or false",
         category="bool-for-number"),
    Case("uploads-volume-plain-number", "local", setter("app.uploadsVolumeSize", 5),
         "paif:app.uploadsVolumeSize: given 5; must be at least 1Mi, such as 512Mi or 10Gi: a plain number is "
         "bytes; did you mean 5Gi?", category="tiny-size"),
    Case("dlvm-boot-disk-plain-string", "dev", setter("dlvm.bootDiskSize", "10"),
         "paif:dlvm.bootDiskSize: given '10'; must be at least 1Mi, such as 512Mi or 10Gi: a plain number is "
         "bytes; did you mean 10Gi?", category="tiny-size"),
    Case("dlvm-boot-disk-mebibytes-for-gibibytes", "dev", setter("dlvm.bootDiskSize", "200Mi"),
         "paif:dlvm.bootDiskSize: given '200Mi'; must be at least 10Gi: it is the size the image's boot disk "
         "grows to, and no Deep Learning VM image fits in less (did you mean Gi?)", category="tiny-size"),
    Case("dlvm-boot-disk-decimal-gigabytes", "dev", setter("dlvm.bootDiskSize", "100G"),
         "paif:dlvm.bootDiskSize: given '100G'; must be a whole number of MiB, which VM Service requires of a disk "
         "(100G is 95367.43Mi): write it in Mi or Gi, such as 95368Mi or 100Gi", category="vm-disk-mebibytes"),
    Case("gpu-pool-volume-kibibytes", "prod", setter("vks.gpuPool.containerdVolumeSize", "500Ki"),
         "paif:vks.gpuPool.containerdVolumeSize: given '500Ki'; must be at least 1Mi, such as 512Mi or 10Gi",
         absent=("did you mean",), category="tiny-size"),
    Case("monitoring-storage-milli", "prod", setter("vks.platform.monitoring.storageSize", "100m"),
         "paif:vks.platform.monitoring.storageSize: given '100m'; must not use the suffix m (thousandths of a "
         "byte) for a size: write Mi, e.g. 512Mi", category="tiny-size"),
    Case("vks-version-no-v", "prod", setter("vks.version", "1.33.3"),
         "paif:vks.version: given '1.33.3'; must be a Kubernetes release version v<major>.<minor>.<patch> with an "
         "optional suffix, e.g. the VKr name v1.33.3---vmware.1-fips-vkr.1 (Cluster API refuses any other form)",
         category="vks-version"),
    Case("vks-version-path", "local", setter("vks.version", "a/b"),
         "paif:vks.version: given 'a/b'; must be a Kubernetes release version", category="vks-version"),
    Case("vks-version-upper-case-v", "prod", setter("vks.version", "V1.33.3---VMWARE.1-FIPS-VKR.1"),
         "paif:vks.version: given 'V1.33.3---VMWARE.1-FIPS-VKR.1'; must be a Kubernetes release version",
         category="vks-version"),
    Case("vks-version-non-ascii", "prod", setter("vks.version", "v1.33.3---vmware.1-fips-vkr.1ü"),
         "paif:vks.version: given 'v1.33.3---vmware.1-fips-vkr.1\u00fc'", category="vks-version"),
    Case("dlvm-image-name-line-break", "dev", setter("dlvm.imageName", "vmi-dlvm\nubuntu"),
         "paif:dlvm.imageName: given 'vmi-dlvm\\nubuntu'; must be a VM image name without line breaks or control "
         "characters", category="dlvm-image"),
    Case("content-library-blank", "dev", setter("vsphere.namespace.contentLibraries", [" "]),
         "paif:vsphere.namespace.contentLibraries[0]: given ' '; must name a content library (not empty)",
         category="content-library"),
    Case("content-library-empty", "local", setter("vsphere.namespace.contentLibraries", ["dlvm-images", ""]),
         "paif:vsphere.namespace.contentLibraries[1]: given ''; must name a content library (not empty)",
         category="content-library"),
    Case("pais-base-url-query", "dev", setter("pais.baseUrl", "https://pais.paif.example.internal/?tenant=1"),
         "paif:pais.baseUrl: given 'https://pais.paif.example.internal/?tenant=1'; must be an https:// base URL "
         "without a ?query: the API paths are appended to it", category="pais-url"),
    Case("pais-base-url-fragment", "prod", setter("pais.baseUrl", "https://pais.paif.example.internal/#f"),
         "paif:pais.baseUrl: given 'https://pais.paif.example.internal/#f'; must be an https:// URL without a "
         "#fragment (a client never sends it to the server)", category="pais-url"),
    Case("pais-token-url-fragment", "dev", setter("pais.tokenUrl", "https://pais.paif.example.internal/oauth/token#x"),
         "paif:pais.tokenUrl: given 'https://pais.paif.example.internal/oauth/token#x'; must be an https:// URL "
         "without a #fragment", category="pais-url"),
    Case("vks-cpu-pool-no-nodes", "prod", setter("vks.cpuPool.replicas", 0),
         "paif:vks.cpuPool.replicas: given 0; must be at least 1: the app and the cluster platform run on the CPU "
         "pool (the GPU pool is tainted for GPU workloads)", category="cpu-pool"),
    Case("vks-cpu-pool-no-nodes-local", "local", setter("vks.cpuPool.replicas", 0),
         "paif:vks.cpuPool.replicas: given 0; must be at least 1", category="cpu-pool"),
    Case("string-key-given-object", "dev", setter("app.name", {"value": "chat"}),
         "paif:app.name: given an object (keys: value); must be a single value (text), not an object or a list",
         category="messages"),
    Case("string-key-given-list", "prod", setter("pais.agentName", ["rag-agent", "other"]),
         "paif:pais.agentName: given a list of 2 items; must be a single value (text), not an object or a list",
         absent=("rag-agent",), category="messages"),
    Case("number-key-given-object", "dev", setter("database.port", {"port": 5432}),
         "paif:database.port: given an object (keys: port); must be a whole number, not an object or a list",
         category="messages"),
    Case("string-key-given-number", "local", setter("pais.agentName", 5),
         "paif:pais.agentName: given 5; must be text; quote it in the stack file", category="messages"),
    Case("section-given-list", "dev", setter("app.tls", ["self-signed"]),
         "paif:app.tls: given a list of 1 item; must be an object with the keys clusterIssuer, mode, secretName",
         absent=("TlsConfig",), category="messages"),
    Case("access-domain-with-a-space", "prod", setter("vsphere.namespace.access.0.domain", "corp example"),
         "paif:vsphere.namespace.access[0].domain: given 'corp example'; must be an SSO domain name such as "
         "vsphere.local", category="names"),
    Case("access-domain-label-too-long", "dev", setter("vsphere.namespace.access.0.domain", "corp" * 16 + ".example"),
         f"paif:vsphere.namespace.access[0].domain: given '{'corp' * 16}.example'; must be an SSO domain name",
         then="labels of at most 63 characters", category="names"),
    Case("list-key-given-text", "prod", setter("database.extensions", "vector"),
         "paif:database.extensions: given 'vector'; must be a list: one `- item` per line in the stack file, or [a, b]",
         category="types"),
    Case("list-key-given-object", "dev", setter("vsphere.namespace.contentLibraries", {"name": "dlvm-images"}),
         "paif:vsphere.namespace.contentLibraries: given an object (keys: name); must be a list",
         absent=("dlvm-images",), category="messages"),
    Case("retention-words-not-regex", "prod", setter("vks.platform.monitoring.retention", "15 days"),
         "paif:vks.platform.monitoring.retention: given '15 days'; must be a whole number (above zero) of hours, "
         "days, weeks or years, such as 12h, 15d, 2w or 1y", absent=("pattern", "^[0-9]"), category="messages"),
    Case("driver-image-words-not-regex", "prod", setter("vks.platform.gpuOperator.driverImage", "Driver Image"),
         "paif:vks.platform.gpuOperator.driverImage: given 'Driver Image'; must be an image name: lower-case letters "
         "and digits, words joined by '.', '_', '-' or '/', e.g. vgpu-guest-driver",
         absent=("pattern", "^[a-z"), category="messages"),
    Case("health-path-words-not-regex", "prod", setter("vks.gpuWorkload", {"image": "harbor.paif.example.internal/paif-chat/embedder:1.0.0", "healthPath": "health"}),
         "paif:vks.gpuWorkload.healthPath: given 'health'; must be a URL path starting with '/' of letters, digits "
         "and '/', '.', '_', '-' (no query), e.g. /health", absent=("pattern", "^/"), category="messages"),
    Case("gpu-workload-on-an-empty-gpu-pool", "prod",
         together(setter("vks.gpuPool.replicas", 0),
                  setter("vks.gpuWorkload", {"image": "harbor.paif.example.internal/paif-chat/embedder:1.0.0"})),
         "paif:vks.gpuPool.replicas: given 0; must be at least 1 while gpuWorkload is set", category="cross-section"),
    # A sweep of structural and semantic mutations of the committed stacks (1,263 for prod).
    Case("namespace-access-subject-twice", "prod", appended("vsphere.namespace.access", 0, role="VIEW"),
         'paif:vsphere.namespace.access: given [{"subject": "paif-platform-admins", "domain": "vsphere.local", '
         '"subjectType"...; lists paif-platform-admins@vsphere.local more than once', category="duplicates"),
    Case("content-library-twice", "dev", appended("vsphere.namespace.contentLibraries", 0),
         'paif:vsphere.namespace.contentLibraries: given ["dlvm-images", "dlvm-images"]; lists dlvm-images more '
         "than once", category="duplicates"),
    Case("vm-class-twice", "prod", appended("vsphere.vmClasses", 0),
         'paif:vsphere.vmClasses: given [{"name": "paif-cpu-large", "cpuCount": 8, "memoryMib": 32768}, {"name": '
         '"pai...; lists paif-cpu-large more than once', category="duplicates"),
    Case("pais-egress-every-address", "prod", setter("pais.egressCidr", "0.0.0.0/0"),
         "paif:pais.egressCidr: given '0.0.0.0/0'; must be the network of the endpoints, not every address: the "
         "app's NetworkPolicy allows egress to this network only", category="cidrs"),
    Case("database-egress-every-v6-address", "dev", setter("database.egressCidr", "::/0"),
         "paif:database.egressCidr: given '::/0'; must be the network of the endpoints, not every address",
         category="cidrs"),
    Case("tag-pattern-open-class", "prod", setter("harbor.immutableTagPattern", "v[0-9"),
         "paif:harbor.immutableTagPattern: given 'v[0-9'; must be a tag pattern such as v*, release-** or "
         "{v*,stable}: every [ and { closed, no spaces or control characters", category="patterns"),
    Case("tag-pattern-open-brace", "prod", setter("harbor.immutableTagPattern", "{v*,stable"),
         "paif:harbor.immutableTagPattern: given '{v*,stable'; must be a tag pattern", category="patterns"),
    Case("tag-pattern-stray-brace", "prod", setter("harbor.immutableTagPattern", "v*}"),
         "paif:harbor.immutableTagPattern: given 'v*}'; must be a tag pattern", category="patterns"),
    Case("tag-pattern-space", "dev", setter("harbor.immutableTagPattern", "v* rc*"),
         "paif:harbor.immutableTagPattern: given 'v* rc*'; must be a tag pattern", category="patterns"),
    Case("tag-pattern-semver-build", "prod", setter("harbor.immutableTagPattern", "v*+vmware*"),
         "paif:harbor.immutableTagPattern: given 'v*+vmware*'; would match no tag: it needs '+', and an image tag "
         "holds only letters, digits, '_', '.' and '-'", category="patterns"),
    Case("tag-pattern-escaped-brace", "prod", setter("harbor.immutableTagPattern", "v\\{1*"),
         "paif:harbor.immutableTagPattern: given 'v\\\\{1*'; would match no tag: it needs '{'", category="patterns"),
    Case("mutable-app-tag-in-prod", "prod", setter("harbor.immutableTagPattern", "v*"),
         "paif:app.frontendImage: given 'harbor.paif.example.internal/paif-chat/chat-frontend:1.4.2'; its tag "
         "'1.4.2' is not covered by paif:harbor.immutableTagPattern ('v*'), so in prod a push could overwrite it",
         category="supply-chain"),
    Case("mutable-app-tag-other-pattern", "prod", tagged("release-*", "v1.4.2"),
         "paif:app.backendImage: given 'harbor.paif.example.internal/paif-chat/chat-backend:v1.4.2'; its tag "
         "'v1.4.2' is not covered by paif:harbor.immutableTagPattern ('release-*')", category="supply-chain"),
    Case("vulnerable-images-pullable-in-prod", "prod", setter("harbor.deploymentSecurity", "critical"),
         "paif:harbor.deploymentSecurity: given 'critical'; prod requires high or stricter (none, low, medium or "
         "high)", category="supply-chain"),
    # Prod's availability is profile data: Envoy carries every request, as the app's replicas do.
    Case("single-envoy-in-prod", "prod", setter("vks.platform.contour.envoyReplicas", 1),
         "paif:vks.platform.contour.envoyReplicas: given 1; prod requires at least 2", category="ranges"),
    Case("tag-pattern-a-path", "dev", setter("harbor.immutableTagPattern", "paif-chat/*"),
         "paif:harbor.immutableTagPattern: given 'paif-chat/*'; would match no tag: it needs '/'",
         category="patterns"),
    Case("retention-zero", "prod", setter("vks.platform.monitoring.retention", "0d"),
         "paif:vks.platform.monitoring.retention: given '0d'; must be a whole number (above zero)", category="ranges"),
    Case("grafana-hostname-ip", "prod", setter("vks.platform.monitoring.grafanaHostname", "10.1.2.3"),
         "paif:vks.platform.monitoring.grafanaHostname: given '10.1.2.3'; must be a DNS name, not an IP address",
         category="hostnames"),
    Case("sslmode-prefer-says-what-is-allowed", "prod", setter("database.sslmode", "prefer"),
         "paif:database.sslmode: given 'prefer'; must be 'disable', 'require', 'verify-ca' or 'verify-full'",
         absent=("Input should",), category="messages"),
    Case("replicas-words-in-our-voice", "dev", setter("app.replicas", "two"),
         "paif:app.replicas: given 'two'; must be a whole number", absent=("Input should", "unable to parse"),
         category="messages"),
    Case("cpu-count-bound-in-our-voice", "prod", setter("vsphere.vmClasses.0.cpuCount", 769),
         "paif:vsphere.vmClasses[0].cpuCount: given 769; must be at most 768", absent=("Input should",),
         category="messages"),
    # vCenter types the namespace quotas as int64 (infra/config/vsphere.py INT64_MAX).
    Case("namespace-memory-quota-above-int64", "prod", setter("vsphere.namespace.memoryLimitMib", 2**63),
         f"paif:vsphere.namespace.memoryLimitMib: given {2**63}; must be at most {2**63 - 1}",
         absent=("Input should",), category="ranges"),
    # Names the system owns, and names two objects would share.
    Case("app-namespace-kube-system", "prod", setter("app.namespace", "kube-system"),
         "paif:app.namespace: given 'kube-system'; must be a namespace of its own, created by this program: "
         "default, kube-* and vmware-system-* are the system's", category="reserved-names"),
    Case("app-namespace-default", "local", setter("app.namespace", "default"),
         "paif:app.namespace: given 'default'; must be a namespace of its own", category="reserved-names"),
    Case("supervisor-namespace-vmware-system", "dev", setter("vsphere.namespace.name", "vmware-system-chat"),
         "paif:vsphere.namespace.name: given 'vmware-system-chat'; must be a namespace of its own",
         category="reserved-names"),
    Case("node-pools-same-name", "prod", setter("vks.gpuPool.name", "cpu"),
         "paif:vks.gpuPool.name: given 'cpu'; must differ from cpuPool.name ('cpu')", category="duplicates"),
    Case("vgpu-profile-unknown-type", "dev", setter("vsphere.vmClasses.1.vgpuProfile", "grid_a100-40x"),
         "paif:vsphere.vmClasses[1].vgpuProfile: given 'grid_a100-40x'; must be an NVIDIA vGPU profile name "
         "<prefix>_<gpu>-<framebuffer GB><type>, lower case, e.g. grid_a100-40c or nvidia_h100xm-80c; the type "
         "is c (compute), q, b or a", category="names"),
    Case("vgpu-profile-no-framebuffer", "prod", setter("vsphere.vmClasses.1.vgpuProfile", "grid_a100-0c"),
         "paif:vsphere.vmClasses[1].vgpuProfile: given 'grid_a100-0c'; must be an NVIDIA vGPU profile name "
         "<prefix>_<gpu>-<framebuffer GB><type>", category="names"),
    Case("platform-bundle-without-name", "prod", setter("vks.platform.packageRepository", ":3.6.0-20260211"),
         "paif:vks.platform.packageRepository: given ':3.6.0-20260211'; name:tag with an exact version tag",
         then="a name that is an image path", category="names"),
    Case("tls-secret-name-unread-by-self-signed", "dev",
         setter("app.tls", {"mode": "self-signed", "secretName": "chat-tls"}),
         "paif:app.tls.secretName: given 'chat-tls'; is read only with tls.mode 'secret', and the mode is "
         "'self-signed': remove it, or set tls.mode to 'secret'", category="unread-keys"),
    Case("replicas-unread-on-the-dlvm", "dev", setter("app.replicas", 3),
         "paif:app.replicas: given 3; dev does not read it (dev runs the app on the DLVM, one instance of each "
         "container and no Kubernetes objects): remove it", category="unread-keys"),
    Case("uploads-volume-unread-on-the-dlvm", "dev",
         together(setter("app.uploadsVolumeSize", "50Gi"), setter("app.uploadsAccessMode", "ReadWriteMany")),
         "paif:app.uploadsVolumeSize: given '50Gi'; dev does not read it", absent=("uploadsStorageClass",),
         category="unread-keys"),
    Case("autoscaling-unread-locally", "local", setter("app.autoscaling", {"minReplicas": 2, "maxReplicas": 4}),
         "paif:app.autoscaling: given {\"minReplicas\": 2, \"maxReplicas\": 4, \"targetCpuPercent\": 70}; local does "
         "not read it (local runs a fixed number of replicas, paif:app.replicas; prod autoscales): remove it",
         category="unread-keys"),
    Case("tls-cluster-issuer-unread-by-secret", "prod",
         setter("app.tls", {"mode": "secret", "secretName": "chat-tls", "clusterIssuer": "corp-ca"}),
         "paif:app.tls.clusterIssuer: given 'corp-ca'; is read only with tls.mode 'cert-manager'",
         category="unread-keys"),
    Case("grafana-host-is-the-app-host", "prod",
         setter("vks.platform.monitoring.grafanaHostname", "chat.paif.example.com"),
         "paif:vks.platform.monitoring.grafanaHostname: given 'chat.paif.example.com'; must differ from "
         "paif:app.hostname", category="duplicates"),
    Case("replicas-above-autoscaling-max", "prod", setter("app.replicas", 20),
         "paif:app.replicas: given 20; above paif:app.autoscaling.maxReplicas (10)", category="cross-checks"),
    Case("cluster-issuer-not-the-platforms", "prod", setter("app.tls.clusterIssuer", "other-ca"),
         "paif:app.tls.clusterIssuer: given 'other-ca'; must be the ClusterIssuer this stack declares on the "
         "cluster, paif:vks.platform.certManager.issuerName ('corp-ca')", category="cross-checks"),
    Case("cpu-pool-on-the-gpu-class", "prod", setter("vks.cpuPool.vmClass", "paif-gpu-a100-40c"),
         "paif:vks.cpuPool.vmClass: given 'paif-gpu-a100-40c'; a class with a vgpuProfile", category="cross-checks"),
    Case("db-version-with-a-v", "dev", setter("database.version", "v17.7"),
         "paif:database.version: given 'v17.7'; must be a DSM PostgreSQL version", category="versions"),
    Case("db-version-words", "prod", setter("database.version", "sixteen"),
         "paif:database.version: given 'sixteen'; must be a DSM PostgreSQL version", category="versions"),
    Case("log-sink-host-with-port", "prod", setter("vks.platform.logging.sink.host", "10.0.0.1:9543"),
         "paif:vks.platform.logging.sink.host: given '10.0.0.1:9543'; must be a host name or an IP address, "
         "without a port (the port is a key of its own)", category="urls"),
    Case("pais-egress-half-of-every-address", "prod", setter("pais.egressCidr", "0.0.0.0/1"),
         "paif:pais.egressCidr: given '0.0.0.0/1'; must be the network of the endpoints, at most a /8",
         category="cidrs"),
    Case("database-egress-wide-v6", "dev", setter("database.egressCidr", "fc00::/7"),
         "paif:database.egressCidr: given 'fc00::/7'; must be the network of the endpoints, at most a /8",
         category="cidrs"),
]


@dataclass
class ValidCase:
    id: str
    env: str
    mutate: Mutation
    secrets: dict[str, str] = field(default_factory=dict)
    extra_config: dict[str, str] = field(default_factory=dict)


VALID_EDGE_CASES = [
    # A provider's own key holding a path, not a credential, is its business.
    ValidCase("provider-kubeconfig-path", "dev", nothing, extra_config={"kubernetes:kubeconfig": "~/.kube/config"}),
    ValidCase("strictest-deployment-security-in-prod", "prod", setter("harbor.deploymentSecurity", "none")),
    ValidCase("lenient-deployment-security-in-dev", "dev", setter("harbor.deploymentSecurity", "critical")),
    ValidCase("cpu-numeric-int", "dev", setter("app.backendResources", {"cpuRequest": 2, "cpuLimit": 2})),
    ValidCase("cpu-numeric-half", "prod", setter("app.frontendResources", {"cpuRequest": 0.5, "cpuLimit": 1})),
    ValidCase("cpu-millicores-below-int", "dev", setter("app.backendResources", {"cpuRequest": "1500m", "cpuLimit": "2"})),
    ValidCase("cpu-request-equals-limit-across-units", "local",
              setter("app.backendResources", {"cpuRequest": "1000m", "cpuLimit": 1})),
    ValidCase("memory-mi-below-gi", "dev", setter("app.frontendResources", {"memoryRequest": "900Mi", "memoryLimit": "1Gi"})),
    ValidCase("memory-bytes-number", "local",
              setter("app.frontendResources", {"memoryRequest": 268435456, "memoryLimit": 536870912})),
    ValidCase("app-name-50-chars", "local", setter("app.name", "a" * 50)),
    ValidCase("db-cluster-name-48-chars", "dev", setter("database.clusterName", "c" * 48)),
    ValidCase("dlvm-name-52-chars", "dev", setter("dlvm.name", "d" * 52)),
    ValidCase("vcenter-host-with-port", "dev", setter("vsphere.host", "vcenter.paif.example.internal:443")),
    ValidCase("vcenter-host-upper-case", "dev", setter("vsphere.host", "VCENTER.paif.example.internal")),
    ValidCase("vcenter-host-ipv6-with-port", "local", setter("vsphere.host", "[::1]:8989")),
    ValidCase("db-host-ipv6", "local", setter("database.host", "::1")),
    ValidCase("pais-url-with-port", "dev", setter("pais.baseUrl", "https://pais.paif.example.internal:8443/api")),
    ValidCase("window-24h", "prod", setter("database.maintenanceWindow.duration", "24h")),
    ValidCase("window-1h30m", "prod", setter("database.maintenanceWindow.duration", "1h30m")),
    ValidCase("cron-ranges-steps-names", "prod", setter("database.backupSchedules.1.schedule", "*/15 2-4 1,15 JAN-DEC MON-FRI")),
    ValidCase("flags-as-true-false-strings", "local",
              all_of(setter("vsphere.insecure", "true"), setter("database.appCanCreate", "false"))),
    ValidCase("harbor-url-with-port-and-slash", "dev", all_of(
        setter("harbor.url", "https://harbor.paif.example.internal:8443/"),
        setter("app.frontendImage", "harbor.paif.example.internal:8443/paif-chat-dev/chat-frontend:1.4.2"),
        setter("app.backendImage", "harbor.paif.example.internal:8443/paif-chat-dev/chat-backend:1.4.2"),
    )),
    ValidCase("reserved-lookalike-names", "dev",
              all_of(setter("database.databaseName", "postgres_app"), setter("database.schemaName", "public_data"))),
    ValidCase("vks-cidrs-apart", "prod", all_of(setter("vks.podCidr", "10.244.0.0/16"), setter("vks.serviceCidr", "10.96.0.0/12"))),
    ValidCase("valid-kubeconfig-secret", "dev", nothing, secrets={"supervisorKubeconfig": KUBECONFIG_OK}),
    ValidCase("counts-as-numbers-and-strings", "prod",
              all_of(setter("app.replicas", "3"), setter("vsphere.vmClasses.0.cpuCount", 4), setter("database.port", "5432"))),
    ValidCase("sizes-at-the-1mi-floor-and-in-bytes", "prod",
              all_of(setter("vks.gpuPool.kubeletVolumeSize", "1Mi"), setter("vks.platform.monitoring.storageSize", 1048576),
                     setter("app.uploadsVolumeSize", "1.5Gi"))),
    ValidCase("memory-limit-decimal-mega", "dev", setter("app.frontendResources", {"memoryRequest": "100M", "memoryLimit": "1G"})),
    ValidCase("vks-version-semver-build", "prod", setter("vks.version", "v1.33.3+vmware.1-fips")),
    ValidCase("vks-version-plain", "local", setter("vks.version", "v1.33.3")),
    ValidCase("dlvm-image-display-name", "dev", setter("dlvm.imageName", "Ubuntu 22.04 DLVM (NVIDIA 550)")),
    ValidCase("content-library-display-name", "dev", setter("vsphere.namespace.contentLibraries", ["DLVM Images", "dlvm-images"])),
    ValidCase("pais-token-url-query", "dev", setter("pais.tokenUrl", "https://pais.paif.example.internal/oauth/token?realm=ai")),
    ValidCase("pais-base-url-path", "prod", setter("pais.baseUrl", "https://pais.paif.example.com/agents-api/")),
    ValidCase("vks-cpu-pool-one-node", "prod", setter("vks.cpuPool.replicas", 1)),
    ValidCase("retention-weeks", "prod", setter("vks.platform.monitoring.retention", "2w")),
    ValidCase("namespace-leading-digit", "dev", setter("app.namespace", "1paif-chat")),
    ValidCase("tag-pattern-alternatives", "prod", tagged("{v*,stable}", "v1.4.2")),
    ValidCase("tag-pattern-class", "prod", tagged("release-[0-9]*", "release-1.4.2")),
    ValidCase("tag-pattern-escaped-dot", "prod", tagged("v1\\.*", "v1.4.2")),
    ValidCase("mutable-tag-pinned-by-digest", "prod", tagged("v*", "1.4.2@sha256:" + "ab" * 32)),
    ValidCase("mutable-tag-outside-prod", "dev", setter("harbor.immutableTagPattern", "v*")),
    ValidCase("egress-wide-private-network", "prod", setter("pais.egressCidr", "10.0.0.0/8")),
    ValidCase("sslmode-verify-ca-in-prod", "prod", setter("database.sslmode", "verify-ca")),
    ValidCase("db-version-without-build-suffix", "prod", setter("database.version", "16.9")),
    ValidCase("db-version-major-only", "dev", setter("database.version", "17")),
    ValidCase("egress-unique-local-v6", "dev", setter("database.egressCidr", "fd00::/8")),
    ValidCase("replicas-inside-the-autoscaling-range", "prod", setter("app.replicas", 10)),
]


# Issue 12: in dev the app's certificate is the DLVM's, which follows paif:app.tls.mode.
DLVM_TLS_KEY = "-----BEGIN PRIVATE KEY-----\ndlvm-key-material-4e7a\n-----END PRIVATE KEY-----\n"
DLVM_TLS_CASES = [
    Case("dev-tls-cert-manager", "dev", setter("app.tls", {"mode": "cert-manager", "clusterIssuer": "corp-ca"}),
         "paif:app.tls.mode: given 'cert-manager'; dev allows self-signed, secret: the app runs on the DLVM, whose "
         "Supervisor namespace runs no cert-manager: use secret with a certificate from the corporate CA, or "
         "paif:dlvm.tlsCertificate", category="dev-dlvm-tls"),
    Case("dev-tls-secret-and-dlvm-certificate", "dev",
         all_of(setter("app.tls", {"mode": "secret", "secretName": "chat-tls"}),
                setter("dlvm.tlsCertificate", stack_config("prod")["database"]["caBundle"])),
         "paif:dlvm.tlsCertificate: given together with paif:app.tls.mode 'secret' (paif:app.tls.secretName "
         "'chat-tls'): two sources of the DLVM's certificate; remove paif:dlvm.tlsCertificate (and "
         "paif:dlvmTlsKey), or set paif:app.tls.mode to self-signed to serve it",
         secrets={"dlvmTlsKey": DLVM_TLS_KEY}, absent=("dlvm-key-material-4e7a", "BEGIN CERTIFICATE"),
         category="dev-dlvm-tls"),
]




def _key_and_certificate(common_name: str) -> tuple[str, str]:
    """A fresh EC key (PEM, unencrypted) and a self-signed certificate of it (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256())
    )  # fmt: skip
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem_key, cert.public_bytes(serialization.Encoding.PEM).decode()


def _expired_certificate() -> str:
    """A self-signed CA certificate that expired a year ago (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired-ca")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=730))
        .not_valid_after(now - datetime.timedelta(days=365)).sign(key, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.PEM).decode()


EXPIRED_CERT = _expired_certificate()
DLVM_KEY, DLVM_CERT = _key_and_certificate("chat.dev.paif.example.com")
OTHER_KEY, _ = _key_and_certificate("other")
CA_KEY, CA_CERT = _key_and_certificate("corp-ca")
ENCRYPTED_KEY = (
    ec.generate_private_key(ec.SECP256R1())
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pass-phrase-31"),
    )
    .decode()
)
KEY_PAIR_CASES = [
    Case("dlvm-tls-key-a-file-path", "dev", setter("dlvm.tlsCertificate", DLVM_CERT),
         "paif:dlvmTlsKey: the value (not shown) is not a PEM private key (a single line: a file path instead "
         "of the file's content?)", secrets={"dlvmTlsKey": "/home/me/tls.key"}, absent=("/home/me",),
         category="key-pairs"),
    Case("dlvm-tls-key-is-the-certificate", "dev", setter("dlvm.tlsCertificate", DLVM_CERT),
         "paif:dlvmTlsKey: the value (not shown) is not a PEM private key (a certificate, not its key)",
         secrets={"dlvmTlsKey": DLVM_CERT}, category="key-pairs"),
    Case("dlvm-tls-key-of-another-certificate", "dev", setter("dlvm.tlsCertificate", DLVM_CERT),
         "paif:dlvmTlsKey: the key (not shown) is not the key of paif:dlvm.tlsCertificate (their public keys "
         "differ)", secrets={"dlvmTlsKey": OTHER_KEY}, absent=(OTHER_KEY.splitlines()[1],), category="key-pairs"),
    Case("dlvm-tls-key-encrypted", "dev", setter("dlvm.tlsCertificate", DLVM_CERT),
         "paif:dlvmTlsKey: the key (not shown) is encrypted", secrets={"dlvmTlsKey": ENCRYPTED_KEY},
         category="key-pairs"),
    Case("db-ca-bundle-expired", "prod", setter("database.caBundle", EXPIRED_CERT),
         "paif:database.caBundle: given", then="; must hold a certificate that is still valid: every certificate "
         "in it has expired", category="certificates"),
    Case("corporate-ca-certificate-expired", "prod", setter("vks.platform.certManager.caCertificate", EXPIRED_CERT),
         "paif:vks.platform.certManager.caCertificate: given", then="; must hold a certificate that is still "
         "valid: every certificate in it has expired", category="certificates"),
    Case("corporate-ca-key-of-another-ca", "prod", setter("vks.platform.certManager.caCertificate", CA_CERT),
         "paif:corporateCaKey: the key (not shown) is not the key of paif:vks.platform.certManager.caCertificate",
         secrets={"corporateCaKey": OTHER_KEY},
         absent=(OTHER_KEY.splitlines()[1],), category="key-pairs"),
]

CASES += NEW_CASES
CASES += DLVM_TLS_CASES
CASES += KEY_PAIR_CASES
VALID_EDGE_CASES.append(
    ValidCase("dlvm-tls-key-of-its-certificate", "dev", setter("dlvm.tlsCertificate", DLVM_CERT), secrets={"dlvmTlsKey": DLVM_KEY})
)
VALID_EDGE_CASES.append(
    # A bundle may carry an expired certificate beside a valid one (system bundles often do).
    ValidCase("db-ca-bundle-with-one-expired-certificate", "prod", setter("database.caBundle", EXPIRED_CERT + DLVM_CERT))
)


@contextlib.contextmanager
def stack_file(case: Case) -> Iterator[None]:
    """Run in a copy of the project whose stack file is the committed one with the case's edit."""
    if case.stack_file_edit is None:
        yield
        return
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
        (project / "stacks").mkdir()
        text = (ROOT / "stacks" / f"Pulumi.{case.env}.yaml").read_text()
        (project / "stacks" / f"Pulumi.{case.env}.yaml").write_text(case.stack_file_edit(text))
        with contextlib.chdir(project):
            yield


def run_case(case: Case) -> Recorded:
    cfg = copy.deepcopy(stack_config(case.env))
    case.mutate(cfg)
    secrets = dict(case.secrets)
    for key in case.secret_objects:
        secrets[key] = json.dumps(cfg.pop(key))
    with stack_file(case):
        return run_program(cfg, secrets, extra_config=case.extra_config, expect_error=True, stack=case.env)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_config_fails_early_naming_the_key(case: Case) -> None:
    rec = run_case(case)
    assert isinstance(rec.error, ConfigError), repr(rec.error)
    message = str(rec.error)
    assert message.startswith("invalid stack config (")
    assert "nothing was changed" in message
    assert any(
        line.strip().startswith(f"- {case.expected}") and case.then in line for line in message.splitlines()
    ), message
    for text in case.absent:
        assert text not in message, message
    assert "Traceback" not in message
    assert rec.resources == [], [r.name for r in rec.resources]


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 15
    assert len(NEW_CASES) >= 60
    assert len(VALID_EDGE_CASES) >= 10


@pytest.mark.parametrize("case", VALID_EDGE_CASES, ids=[c.id for c in VALID_EDGE_CASES])
def test_valid_edge_config_is_accepted(case: ValidCase) -> None:
    cfg = copy.deepcopy(stack_config(case.env))
    case.mutate(cfg)
    rec = run_program(cfg, case.secrets, preview=True, stack=case.env, extra_config=case.extra_config)
    assert rec.resources
    too_long = [name for name in _kubernetes_names(rec) if len(name) > 63]
    assert not too_long, too_long


def test_all_problems_reported_at_once() -> None:
    cfg = copy.deepcopy(stack_config("prod"))
    cfg["app"]["replicas"] = 1
    cfg["database"]["storageSpace"] = "lots"
    rec = run_program(cfg, expect_error=True, stack="prod")
    message = str(rec.error)
    assert "paif:database.storageSpace" in message
    # Cross-section rules run only once every key is well-formed; fix the first, see the next.
    cfg["database"]["storageSpace"] = "20Gi"
    rec = run_program(cfg, expect_error=True, stack="prod")
    assert "paif:app.replicas: given 1; prod requires at least 2" in str(rec.error)


def test_committed_stacks_are_valid() -> None:
    from infra.config import parse_config
    from tests.unit.harness import flatten_config

    for env in ("local", "dev", "prod"):
        flat, keys = flatten_config(stack_config(env))
        assert parse_config(flat, set(keys), "paif-app").environment == env


def _kubernetes_names(rec: Recorded, namespace: str | None = None) -> set[str]:
    return {
        r.props["metadata"]["name"]
        for r in rec.resources
        if r.type.startswith("kubernetes:")
        and isinstance(r.props.get("metadata", {}).get("name"), str)
        and namespace in (None, r.props["metadata"].get("namespace"))
    }


def test_derived_name_limits_match_what_the_components_create() -> None:
    """The suffixes the config reserves room for are the ones the components add."""
    from infra.config.app import APP_NAME_SUFFIXES, LONGEST_APP_NAME_SUFFIX
    from infra.config.database import LONGEST_CLUSTER_NAME_SUFFIX
    from infra.config.platform import LONGEST_DLVM_NAME_SUFFIX

    rec = run_program(stack_config("prod"), preview=True, stack="prod")
    app_suffixes = {n.removeprefix("chat") for n in _kubernetes_names(rec, namespace="paif-chat")}
    prod = _kubernetes_names(rec)
    assert app_suffixes <= {"", *APP_NAME_SUFFIXES}, app_suffixes
    assert LONGEST_APP_NAME_SUFFIX in app_suffixes
    assert {n.removeprefix("chat-pg") for n in prod if n.startswith("chat-pg")} == {"", LONGEST_CLUSTER_NAME_SUFFIX}
    dev = _kubernetes_names(run_program(stack_config("dev"), preview=True, stack="dev"))
    assert {n.removeprefix("chat-dlvm") for n in dev if n.startswith("chat-dlvm")} == {"", LONGEST_DLVM_NAME_SUFFIX}
