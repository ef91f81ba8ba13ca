"""Typed stack config: stack YAML -> validated models, or one clear error before any resource.

Every key lives in the `paif` namespace (`paif:app`, `paif:vsphere`, ...). Objects are
validated by pydantic models with camelCase keys; unknown keys are errors. Secrets are
separate top-level keys set with `pulumi config set --secret` and are only ever handled
as Pulumi secret outputs.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import pulumi
import yaml
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from pydantic import BaseModel, ValidationError

from components.names import HARBOR_SEVERITIES, tag_pattern_matches
from infra.config.app import AppConfig, PaisConfig
from infra.config.base import (
    PRIVATE_KEY_ERROR,
    Model,
    image_is_digest_pinned,
    image_registry,
    image_tag,
    plaintext_credential,
    redact_credentials,
)
from infra.config.database import DatabaseConfig
from infra.config.harbor import HarborConfig
from infra.config.platform import DlvmConfig, VksConfig
from infra.config.protection import ProtectionConfig, StatefulObject
from infra.config.vsphere import VsphereConfig
from infra.profiles import PROFILES, EnvironmentProfile

NAMESPACE = "paif"

# Secret keys: never given in the committed stack files; `pulumi config set --secret`.
SECRET_KEYS: dict[str, str] = {
    "vcenterPassword": "vCenter password for paif:vsphere.username (needed by `up`, not by `preview`)",
    "paisClientSecret": "PAIS OIDC client secret for paif:pais.clientId",
    "dbAdminPassword": "DSM cluster admin password (generated when never set; once set, unsetting it keeps the last value)",
    "dbAppPassword": "password of the app's login role (generated when never set; set a new value to rotate)",
    "harborPassword": "Harbor password for paif:harbor.username (needed by `up`, not by `preview`)",
    "supervisorKubeconfig": "kubeconfig for the Supervisor namespace (ambient kubeconfig when unset)",
    "workloadKubeconfig": "kubeconfig for the VKS workload cluster (prod; read from the cluster when unset)",
    "nvidiaLicenseToken": "NVIDIA licence client_configuration_token.tok for the GPU Operator (prod; needed by `up`)",
    "corporateCaKey": "PEM private key of the corporate CA (needed by `up` when paif:vks.platform.certManager.caCertificate is set)",
    "dlvmTlsKey": "PEM private key of paif:dlvm.tlsCertificate (dev; needed by `up` when it is set)",
}
KUBECONFIG_KEYS = ("supervisorKubeconfig", "workloadKubeconfig")
# An unquoted number with a leading zero: YAML 1.1 reads 05432 as octal (2842), YAML 1.2 as 5432.
_LEADING_ZERO = re.compile(r"[-+]?0[0-9_]+")


class ConfigError(pulumi.RunError):
    """Invalid stack config. Raised before any resource is registered."""

    @classmethod
    def listing(cls, problems: Sequence[str]) -> ConfigError:
        """One error for all `problems`, each on its own line."""
        lines = "\n".join(f"  - {p}" for p in problems)
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        return cls(f"invalid stack config ({count}); nothing was changed:\n{lines}")


class StackConfig(Model):
    """All non-secret stack config keys."""

    environment: Literal["local", "dev", "prod"]
    """Environment profile (infra/profiles.py): what differs between local, dev and prod."""
    app: AppConfig
    """The chat application (frontend + backend)."""
    pais: PaisConfig
    """PAIS endpoints the backend calls."""
    vsphere: VsphereConfig
    """vCenter, the Supervisor namespace and the VM classes."""
    database: DatabaseConfig
    """DSM PostgreSQL cluster and the app's database objects."""
    harbor: HarborConfig | None = None
    """Harbor project (dev, prod; not in local)."""
    dlvm: DlvmConfig | None = None
    """Deep Learning VM the app runs on (dev; declared in local too)."""
    vks: VksConfig | None = None
    """VKS workload cluster the app runs on (prod; declared in local too)."""
    policy_pack_config: str | None = None
    """Informational: the policy config file the stack's gate uses."""
    protection: ProtectionConfig = ProtectionConfig()
    """Stateful objects one run may replace or delete on purpose (infra/config/protection.py)."""


@dataclass(frozen=True)
class Secrets:
    vcenter_password: pulumi.Output[str] | None
    pais_client_secret: pulumi.Output[str] | None
    db_admin_password: pulumi.Output[str] | None
    db_app_password: pulumi.Output[str] | None
    harbor_password: pulumi.Output[str] | None
    supervisor_kubeconfig: pulumi.Output[str] | None
    workload_kubeconfig: pulumi.Output[str] | None
    nvidia_license_token: pulumi.Output[str] | None = None
    corporate_ca_key: pulumi.Output[str] | None = None
    dlvm_tls_key: pulumi.Output[str] | None = None
    empty: frozenset[str] = field(default_factory=frozenset)
    """Secret keys that are set to an empty value (refused by the pre-apply check)."""


UploadsAccessMode = Literal["ReadWriteOnce", "ReadWriteMany"]


@dataclass(frozen=True)
class Effective:
    """The values a key may leave to the environment: the config's where it sets them, else the
    profile's. Computed once per config, for the cross-checks and for the program alike."""

    replicas: int
    max_backend_replicas: int
    """The most backend pods that run at once (the HPA's maximum where the profile autoscales)."""
    uploads_access_mode: UploadsAccessMode
    """ReadWriteOnce mounts on one node: right for one replica; several need ReadWriteMany."""
    monitoring: bool
    monitoring_namespace: str
    ingress_class_name: str | None
    db_standbys: int
    db_sslmode: str

    @classmethod
    def of(cls, cfg: StackConfig, profile: EnvironmentProfile) -> Effective:
        app, db = cfg.app, cfg.database
        replicas = app.replicas or profile.default_replicas
        writers = max(replicas, app.autoscaling.max_replicas) if profile.autoscaling else replicas
        return cls(
            replicas=replicas,
            max_backend_replicas=writers,
            uploads_access_mode=app.uploads_access_mode or ("ReadWriteMany" if writers > 1 else "ReadWriteOnce"),
            monitoring=profile.monitoring if app.monitoring is None else app.monitoring,
            monitoring_namespace=app.monitoring_namespace or profile.monitoring_namespace,
            ingress_class_name=app.ingress_class_name or profile.ingress_class_name,
            db_standbys=profile.db_standbys if db.replicas is None else db.replicas,
            db_sslmode=db.sslmode or profile.db_sslmode,
        )


@dataclass(frozen=True)
class Settings:
    """What the program composes from: validated config, its profile and the secrets."""

    config: StackConfig
    profile: EnvironmentProfile
    secrets: Secrets

    def protect(self, stateful: StatefulObject) -> bool:
        """Whether `stateful` is protected in this run: always where the profile protects data,
        unless paif:protection.release names it."""
        return self.profile.protect_stateful and stateful not in self.config.protection.release

    @cached_property
    def effective(self) -> Effective:
        return Effective.of(self.config, self.profile)


def _unread_app_keys(cfg: StackConfig, profile: EnvironmentProfile) -> list[str]:
    """paif:app keys set where the environment does not read them."""
    app, set_keys = cfg.app, cfg.app.model_fields_set
    return [
        f"{NAMESPACE}:app.{field.alias}: given {_describe(_plain(getattr(app, name)))}; "
        f"{profile.name} does not read it ({profile.unread_app_keys_reason}): remove it"
        for name, field in type(app).model_fields.items()
        if field.alias in profile.unread_app_keys and name in set_keys
    ]


def _plain(value: Any) -> Any:
    return value.model_dump(by_alias=True) if isinstance(value, BaseModel) else value


def _uploads_checks(cfg: StackConfig, profile: EnvironmentProfile, eff: Effective) -> list[str]:
    app = cfg.app
    if "uploadsVolumeSize" in profile.unread_app_keys:
        return []  # _unread_app_keys names them
    if not app.uploads_volume_size:
        return [
            f"{NAMESPACE}:app.{key}: given {value!r}; there is no uploads volume "
            f"({NAMESPACE}:app.uploadsVolumeSize is unset): remove the key or set the size"
            for key, value in (
                ("uploadsStorageClass", app.uploads_storage_class),
                ("uploadsAccessMode", app.uploads_access_mode),
            )
            if value is not None
        ]
    writers = eff.max_backend_replicas
    replica_keys = f"{NAMESPACE}:app.replicas, {NAMESPACE}:app.autoscaling.maxReplicas"
    if writers > 1 and eff.uploads_access_mode == "ReadWriteOnce":
        return [
            f"{NAMESPACE}:app.uploadsAccessMode: given 'ReadWriteOnce'; the backend runs up to {writers} replicas "
            f"({replica_keys}) on different nodes and a ReadWriteOnce volume mounts on one node only: use "
            f"ReadWriteMany with {NAMESPACE}:app.uploadsStorageClass, run 1 replica, or remove "
            f"{NAMESPACE}:app.uploadsVolumeSize"
        ]
    if eff.uploads_access_mode == "ReadWriteMany" and not app.uploads_storage_class:
        why = (
            f"{NAMESPACE}:app.uploadsVolumeSize with up to {writers} backend replicas ({replica_keys})"
            if writers > 1
            else f"{NAMESPACE}:app.uploadsAccessMode ReadWriteMany"
        )
        return [
            f"{NAMESPACE}:app.uploadsStorageClass: required key is missing: {why} needs a ReadWriteMany volume; "
            "name a StorageClass that provisions ReadWriteMany volumes (e.g. vSAN File Services), "
            "or run 1 backend replica"
        ]
    return []


def _describe(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    text = redact_credentials(text)
    return text if len(text) <= 80 else text[:77] + "..."


# What a key of a scalar type takes, for a value of the wrong shape (an object or a list).
_TYPE_PROBLEMS = {
    "string_type": "must be a single value (text), not an object or a list",
    "int_type": "must be a whole number, not an object or a list",
    "bool_type": "must be true or false, not an object or a list",
    "list_type": "must be a list",
}


# What pydantic's own checks allow, in the voice of our rules ("must be ..."): its message type
# -> a template filled from the error's context.
_ALLOWED = {
    "literal_error": "must be {expected}",
    "greater_than_equal": "must be at least {ge}",
    "greater_than": "must be above {gt}",
    "less_than_equal": "must be at most {le}",
    "less_than": "must be below {lt}",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_type": "must be a whole number",
    "string_too_long": "must be at most {max_length} characters",
    "too_short": "must list at least {min_length}",
    "too_long": "must list at most {max_length}",
    "list_type": "must be a list: one `- item` per line in the stack file, or [a, b]",
    "tuple_type": "must be a list: one `- item` per line in the stack file, or [a, b]",
    "dict_type": "must be an object (key: value pairs)",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
}


def _allowed(kind: str, ctx: dict[str, Any], msg: str) -> str:
    """What is allowed for a failed pydantic check; its own message when we have no words for it."""
    if kind == "string_too_short":
        return "must not be empty" if ctx.get("min_length") == 1 else f"must be at least {ctx['min_length']} characters"
    template = _ALLOWED.get(kind)
    try:
        return template.format(**ctx) if template else msg
    except KeyError:
        return msg


def _shape(value: dict[Any, Any] | list[Any]) -> str:
    """An object or list given where a single value belongs, described without its values."""
    if isinstance(value, list):
        return f"a list of {len(value)} item{'' if len(value) == 1 else 's'}"
    keys = ", ".join(str(k) for k in list(value)[:5]) + (", ..." if len(value) > 5 else "")
    return f"an object (keys: {redact_credentials(keys)})" if value else "an empty object"


def _allowed_keys(model: type[Model]) -> str:
    return ", ".join(sorted(f.alias or name for name, f in model.model_fields.items()))


def _model_at(path: tuple[str | int, ...]) -> type[Model] | None:
    """The model class that holds the key at `path` (for listing the keys it allows)."""
    model: Any = StackConfig
    for part in path:
        if isinstance(part, int):
            continue
        field = next(
            (f for n, f in model.model_fields.items() if part in (n, f.alias)),
            None,
        )
        if field is None:
            return None
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        inner = [c for c in candidates if isinstance(c, type) and issubclass(c, Model)]
        if not inner:
            for c in candidates:
                inner += [
                    a for a in getattr(c, "__args__", ()) if isinstance(a, type) and issubclass(a, Model)
                ]
        if not inner:
            return None
        model = inner[0]
    return model if isinstance(model, type) and issubclass(model, Model) else None


def _key(path: tuple[str | int, ...]) -> str:
    text = f"{NAMESPACE}:"
    for i, part in enumerate(path):
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if i else "") + part
    return text


def _unknown_key(loc: tuple[str | int, ...]) -> str:
    """The problem line for a key no model declares, with the closest known key when one is near."""
    parent = _model_at(loc[:-1])
    if parent is None:
        return f"{_key(loc)}: unknown key; see the README's config keys"
    known = sorted(f.alias or name for name, f in parent.model_fields.items())
    name = str(loc[-1])
    head, dot, _ = name.partition(".")
    if not loc[:-1] and dot and head in known:
        return (
            f"{_key(loc)}: unknown key; a dotted key sets a field inside the object paif:{head} only with "
            f"--path: `pulumi config set --path {NAMESPACE}:{name} VALUE` (and remove {NAMESPACE}:{name})"
        )
    candidates = known + (list(SECRET_KEYS) if not loc[:-1] else [])
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    hint = ""
    if close:
        secret = " (a secret key: set it with --secret)" if close[0] in SECRET_KEYS else ""
        hint = f"did you mean {_key((*loc[:-1], close[0]))}{secret}? "
    return f"{_key(loc)}: unknown key; {hint}allowed keys here: {', '.join(known)}"


def format_validation_error(exc: ValidationError, secret_roots: frozenset[str] = frozenset()) -> list[str]:
    """One line per problem: the key as typed, the value given (never under a secret key) and
    what is allowed."""
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        kind = err["type"]
        given = err["input"]
        if kind == "field_problem":
            ctx = err.get("ctx") or {}
            loc, given = (*loc, *ctx["path"]), ctx["given"]
        if kind == "extra_forbidden":
            problems.append(_unknown_key(loc))
        elif kind == "missing":
            problems.append(f"{_key(loc)}: required key is missing")
        elif kind == PRIVATE_KEY_ERROR:
            problems.append(f"{_key(loc)}: {err['msg']}")
        else:
            msg = _allowed(kind, dict(err.get("ctx") or {}), err["msg"].removeprefix("Value error, "))
            if loc and loc[0] in secret_roots:
                if kind == "model_type":
                    model = _model_at(loc)
                    msg = "must be an object" + (f" with the keys {_allowed_keys(model)}" if model is not None else "")
                elif isinstance(given, dict | list) and kind != "value_error":
                    msg = _TYPE_PROBLEMS.get(kind, msg)
                elif kind == "string_type":
                    msg = "must be text"
                problems.append(
                    f"{_key(loc)}: the value given (not shown: {_key(loc[:1])} is a secret) {msg}"
                )
            elif kind == "model_type":
                model = _model_at(loc)
                keys = f" with the keys {_allowed_keys(model)}" if model is not None else ""
                what = _shape(given) if isinstance(given, dict | list) else _describe(given)
                problems.append(f"{_key(loc)}: given {what}; must be an object{keys}")
            elif isinstance(given, dict | list) and kind != "value_error":
                problems.append(f"{_key(loc)}: given {_shape(given)}; {_TYPE_PROBLEMS.get(kind, msg)}")
            elif isinstance(given, dict):
                problems.append(f"{_key(loc)}: {msg}")
            else:
                if kind == "string_type":
                    msg = "must be text; quote it in the stack file"
                problems.append(f"{_key(loc)}: given {_describe(given)}; {msg}")
    return problems


def _platform_checks(vks: VksConfig, profile: EnvironmentProfile) -> list[str]:
    """The cluster platform where the profile installs it (infra/stack_platform.py), nowhere else."""
    env, platform = profile.name, vks.platform
    if not profile.cluster_platform:
        if platform is None:
            return []
        return [
            f"{NAMESPACE}:vks.platform: {env} installs no cluster platform (nothing could run it); remove the key"
        ]
    if platform is None:
        return [f"{NAMESPACE}:vks.platform: required key is missing ({env} installs the cluster platform)"]
    problems = [
        f"{NAMESPACE}:vks.platform.{key}: required key is missing ({env} installs it)"
        for key, section in (("logging", platform.logging), ("gpuOperator", platform.gpu_operator))
        if section is None
    ]
    envoys = platform.contour.envoy_replicas
    if envoys < profile.min_replicas:
        problems.append(
            f"{NAMESPACE}:vks.platform.contour.envoyReplicas: given {envoys}; {env} requires at least "
            f"{profile.min_replicas}: every request to the app passes through Envoy, so one replica is a "
            "single point of failure"
        )
    return problems


def _cross_checks(cfg: StackConfig, profile: EnvironmentProfile) -> list[str]:
    """Rules that need the environment profile or several sections at once, by section."""
    eff = Effective.of(cfg, profile)
    return [
        *_unread_app_keys(cfg, profile),
        *_app_checks(cfg, profile, eff),
        *_uploads_checks(cfg, profile, eff),
        *_harbor_checks(cfg, profile),
        *_vsphere_checks(cfg, profile),
        *_placement_checks(cfg, profile),
        *_database_checks(cfg, profile, eff),
    ]


def _app_checks(cfg: StackConfig, profile: EnvironmentProfile, eff: Effective) -> list[str]:
    problems: list[str] = []
    env, app, replicas = profile.name, cfg.app, eff.replicas
    if replicas < profile.min_replicas:
        problems.append(
            f"{NAMESPACE}:app.replicas: given {replicas}; {env} requires at least {profile.min_replicas}"
        )
    if app.tls.mode not in profile.allowed_tls_modes:
        reason = f": {profile.tls_modes_reason}" if profile.tls_modes_reason else ""
        problems.append(
            f"{NAMESPACE}:app.tls.mode: given {app.tls.mode!r}; {env} allows "
            f"{', '.join(profile.allowed_tls_modes)}{reason}"
        )
    if profile.autoscaling and app.replicas and app.replicas > app.autoscaling.max_replicas:
        problems.append(
            f"{NAMESPACE}:app.replicas: given {app.replicas}; above {NAMESPACE}:app.autoscaling.maxReplicas "
            f"({app.autoscaling.max_replicas}): in {env} the autoscaler sets the replica count between "
            "autoscaling.minReplicas and autoscaling.maxReplicas; raise maxReplicas or lower replicas"
        )
    if profile.autoscaling and app.autoscaling.min_replicas < profile.min_replicas:
        problems.append(
            f"{NAMESPACE}:app.autoscaling.minReplicas: given {app.autoscaling.min_replicas}; "
            f"{env} requires at least {profile.min_replicas}"
        )
    for key, image in (("frontendImage", app.frontend_image), ("backendImage", app.backend_image)):
        if profile.require_image_digest and not image_is_digest_pinned(image):
            problems.append(f"{NAMESPACE}:app.{key}: given {image!r}; {env} requires a @sha256 digest")
        if cfg.harbor is not None:
            registry = cfg.harbor.url.split("://", 1)[1].rstrip("/")
            prefix = f"{registry}/{cfg.harbor.project}/"
            if not image.startswith(prefix):
                problems.append(
                    f"{NAMESPACE}:app.{key}: given {image!r}; images must come from the Harbor project {prefix}"
                )
            elif profile.harbor == "full":
                problems.extend(_mutable_tag_problem(key, image, cfg.harbor.immutable_tag_pattern, env))
        elif image_registry(image) in ("docker.io", "index.docker.io", "ghcr.io", "quay.io"):
            problems.append(
                f"{NAMESPACE}:app.{key}: given {image!r}; images must come from a private registry"
            )
    return problems


def _mutable_tag_problem(key: str, image: str, pattern: str, env: str) -> list[str]:
    """An image of the stack's own Harbor project must be one Harbor keeps from being overwritten:
    pinned by digest, or with a tag the project's immutable tag rule covers."""
    tag = image_tag(image)
    if image_is_digest_pinned(image) or tag is None or tag_pattern_matches(pattern, tag):
        return []
    return [
        f"{NAMESPACE}:app.{key}: given {image!r}; its tag {tag!r} is not covered by "
        f"{NAMESPACE}:harbor.immutableTagPattern ({pattern!r}), so in {env} a push could overwrite it under "
        f"running pods: use a tag the pattern covers, pin a @sha256 digest, or widen the pattern "
        f"(e.g. '{{v*,[0-9]*}}' for release tags with or without a v)"
    ]


def _harbor_checks(cfg: StackConfig, profile: EnvironmentProfile) -> list[str]:
    problems: list[str] = []
    env, harbor = profile.name, cfg.harbor
    if profile.harbor == "off" and harbor is not None:
        problems.append(f"{NAMESPACE}:harbor: the {env} environment has no Harbor; remove the key")
    if profile.harbor != "off" and harbor is None:
        problems.append(f"{NAMESPACE}:harbor: required key is missing ({env} declares a Harbor project)")
    if harbor is not None and harbor.url.startswith("http://") and not harbor.insecure:
        problems.append(
            f"{NAMESPACE}:harbor.url: given {harbor.url!r}; plain http needs harbor.insecure: true"
        )
    if profile.verify_tls and harbor is not None and harbor.insecure:
        problems.append(f"{NAMESPACE}:harbor.insecure: given true; {env} requires TLS verification (false)")
    weakest = profile.harbor_weakest_deployment_security
    if harbor is not None and weakest is not None:
        allowed = HARBOR_SEVERITIES[: HARBOR_SEVERITIES.index(weakest) + 1]
        if harbor.deployment_security not in allowed:
            problems.append(
                f"{NAMESPACE}:harbor.deploymentSecurity: given {harbor.deployment_security!r}; {env} requires "
                f"{weakest} or stricter ({', '.join(allowed[:-1])} or {allowed[-1]}): images with {weakest}-severity "
                "vulnerabilities must not be pulled"
            )
    return problems


def _vsphere_checks(cfg: StackConfig, profile: EnvironmentProfile) -> list[str]:
    problems: list[str] = []
    env, vsphere = profile.name, cfg.vsphere
    if profile.verify_tls and vsphere.protocol != "https":
        problems.append(f"{NAMESPACE}:vsphere.protocol: given {vsphere.protocol!r}; {env} requires https")
    if profile.verify_tls and vsphere.insecure:
        problems.append(f"{NAMESPACE}:vsphere.insecure: given true; {env} requires TLS verification (false)")
    return problems


def _placement_checks(cfg: StackConfig, profile: EnvironmentProfile) -> list[str]:
    """Where the app runs: the DLVM and the VKS cluster the profile declares."""
    problems: list[str] = []
    env = profile.name
    if profile.declare_dlvm and cfg.dlvm is None:
        problems.append(f"{NAMESPACE}:dlvm: required key is missing ({env} runs a DLVM)")
    if not profile.declare_dlvm and cfg.dlvm is not None:
        problems.append(f"{NAMESPACE}:dlvm: {env} does not run a DLVM; remove the key")
    if cfg.dlvm is not None and cfg.dlvm.tls_certificate and cfg.app.tls.mode == "secret":
        problems.append(
            f"{NAMESPACE}:dlvm.tlsCertificate: given together with {NAMESPACE}:app.tls.mode 'secret' "
            f"({NAMESPACE}:app.tls.secretName {cfg.app.tls.secret_name!r}): two sources of the DLVM's certificate; "
            f"remove {NAMESPACE}:dlvm.tlsCertificate (and {NAMESPACE}:dlvmTlsKey), or set {NAMESPACE}:app.tls.mode "
            "to self-signed to serve it"
        )
    if profile.declare_vks_cluster and cfg.vks is None:
        problems.append(f"{NAMESPACE}:vks: required key is missing ({env} declares a VKS cluster)")
    if not profile.declare_vks_cluster and cfg.vks is not None:
        problems.append(f"{NAMESPACE}:vks: {env} does not declare a VKS cluster; remove the key")
    if cfg.vks is None:
        return problems
    if cfg.vks.gpu_pool.vm_class != cfg.vsphere.gpu_class:
        problems.append(
            f"{NAMESPACE}:vks.gpuPool.vmClass: given {cfg.vks.gpu_pool.vm_class!r}; "
            f"must be the GPU class paif:vsphere.gpuClass ({cfg.vsphere.gpu_class!r})"
        )
    declared = {c.name for c in cfg.vsphere.vm_classes}
    gpu_classes = {c.name for c in cfg.vsphere.vm_classes if c.vgpu_profile is not None}
    if cfg.vks.cpu_pool.vm_class in gpu_classes:
        problems.append(
            f"{NAMESPACE}:vks.cpuPool.vmClass: given {cfg.vks.cpu_pool.vm_class!r}; a class with a vgpuProfile: every "
            "CPU node would hold a vGPU nothing is scheduled onto; use a class of paif:vsphere.vmClasses without one"
        )
    if cfg.vks.cpu_pool.vm_class not in declared:
        problems.append(
            f"{NAMESPACE}:vks.cpuPool.vmClass: given {cfg.vks.cpu_pool.vm_class!r}; "
            f"must be one of paif:vsphere.vmClasses ({', '.join(sorted(declared))})"
        )
    monitoring = cfg.vks.platform.monitoring if cfg.vks.platform is not None else None
    if monitoring is not None and monitoring.grafana_hostname == cfg.app.hostname:
        problems.append(
            f"{NAMESPACE}:vks.platform.monitoring.grafanaHostname: given {monitoring.grafana_hostname!r}; must "
            f"differ from {NAMESPACE}:app.hostname: Grafana's Ingress and the app's would claim the same host"
        )
    platform = cfg.vks.platform
    issuer = cfg.app.tls.cluster_issuer
    if platform is not None and cfg.app.tls.mode == "cert-manager" and issuer != platform.cert_manager.issuer_name:
        problems.append(
            f"{NAMESPACE}:app.tls.clusterIssuer: given {issuer!r}; must be the ClusterIssuer this stack declares "
            f"on the cluster, {NAMESPACE}:vks.platform.certManager.issuerName ({platform.cert_manager.issuer_name!r}); "
            "the certificate would otherwise wait for an issuer the stack does not create"
        )
    required = profile.vks_control_plane_replicas
    if required is not None and cfg.vks.control_plane_replicas != required:
        problems.append(
            f"{NAMESPACE}:vks.controlPlaneReplicas: given {cfg.vks.control_plane_replicas}; {env} requires {required}"
        )
    return problems + _platform_checks(cfg.vks, profile)


def _database_checks(cfg: StackConfig, profile: EnvironmentProfile, eff: Effective) -> list[str]:
    problems: list[str] = []
    env, db, standbys, sslmode = profile.name, cfg.database, eff.db_standbys, eff.db_sslmode
    if standbys not in profile.db_allowed_standbys:
        allowed = ", ".join(str(n) for n in profile.db_allowed_standbys)
        problems.append(f"{NAMESPACE}:database.replicas: given {standbys}; {env} allows {allowed}")
    if profile.db_backups_required:
        if not db.backup_schedules:
            problems.append(
                f"{NAMESPACE}:database.backupSchedules: {env} requires at least one backup schedule"
            )
        if not db.backup_location:
            problems.append(f"{NAMESPACE}:database.backupLocation: {env} requires a backup location")
        if db.maintenance_window is None:
            problems.append(f"{NAMESPACE}:database.maintenanceWindow: {env} requires a maintenance window")
    if db.sslmode is not None and db.sslmode not in profile.db_allowed_sslmodes:
        problems.append(
            f"{NAMESPACE}:database.sslmode: given {db.sslmode!r}; {env} requires {profile.db_sslmode_rule}"
        )
    if sslmode in ("verify-ca", "verify-full") and not db.ca_bundle:
        problems.append(
            f"{NAMESPACE}:database.caBundle: required key is missing: sslmode {sslmode!r} verifies the database's "
            "server certificate; give the PEM CA certificate(s) that signed it"
        )
    if db.host is None and not profile.await_custom_resources:
        problems.append(
            f"{NAMESPACE}:database.host: required key is missing: {env} does not wait for DSM to report the "
            "cluster (no DSM controller runs there), so its host is never known; give the database server's "
            "host name or IP address"
        )
    if len({db.owner_role, db.app_role, db.admin_username}) != 3:
        problems.append(
            f"{NAMESPACE}:database.appRole: given {db.app_role!r}; adminUsername, ownerRole and appRole "
            "must be three different roles"
        )
    return problems


def _raw_config() -> tuple[dict[str, str], set[str]]:
    from pulumi.runtime import config as runtime_config

    values: dict[str, str] = dict(runtime_config.get_config_env())
    values.update(runtime_config.CONFIG.get())
    secret_keys = set(runtime_config.get_config_secret_keys_env()) | set(runtime_config._SECRET_KEYS.get())
    return values, secret_keys


def _parse(value: str) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _kubeconfig_problem(text: str) -> str | None:
    """Why a kubeconfig secret is not a kubeconfig, in words that never quote it; None when it is."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return "it is not valid YAML" + (f" (line {mark.line + 1})" if mark is not None else "")
    if not isinstance(doc, dict):
        single_line = "\n" not in text.strip()
        return "it is not a YAML mapping" + (
            " (a single line: a file path instead of the file's content?)" if single_line else ""
        )
    missing = [k for k in ("clusters", "users", "contexts") if not isinstance(doc.get(k), list) or not doc[k]]
    if missing:
        return f"it has no {', no '.join(missing)} (a kubeconfig lists clusters, users and contexts)"
    return None


def _secret_problems(raw: dict[str, str], secret_keys: set[str]) -> list[str]:
    problems = []
    for key in KUBECONFIG_KEYS:
        full_key = f"{NAMESPACE}:{key}"
        value = raw.get(full_key)
        if value is None or not value.strip() or full_key not in secret_keys:
            continue
        reason = _kubeconfig_problem(value)
        if reason:
            problems.append(
                f"{full_key}: the value (not shown) is not a kubeconfig: {reason}; set the file's content with "
                f'`pulumi config set --secret {full_key} -- "$(cat kubeconfig)"`'
            )
    return problems


def _ca_key_problems(cfg: StackConfig, raw: dict[str, str]) -> list[str]:
    """The corporate CA key is used only with its (committed, public) certificate."""
    key = f"{NAMESPACE}:corporateCaKey"
    platform = cfg.vks.platform if cfg.vks is not None else None
    if key in raw and (platform is None or not platform.cert_manager.ca_certificate):
        return [
            f"{key}: set (value not shown), but paif:vks.platform.certManager.caCertificate is not; the program "
            "creates the CA Secret only with its certificate: set caCertificate, or unset the key if the Secret exists"
        ]
    return []


_PEM_PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")


def _key_pair_problems(cfg: StackConfig, raw: dict[str, str]) -> list[str]:
    """A secret private key set for a configured (public) certificate must be a PEM private key
    and, when it parses, the certificate's own key. The key is never quoted."""
    platform = cfg.vks.platform if cfg.vks is not None else None
    pairs = (
        ("dlvmTlsKey", "paif:dlvm.tlsCertificate", cfg.dlvm.tls_certificate if cfg.dlvm is not None else None),
        (
            "corporateCaKey",
            "paif:vks.platform.certManager.caCertificate",
            platform.cert_manager.ca_certificate if platform is not None else None,
        ),
    )
    problems = []
    for name, cert_key, certificate in pairs:
        key, value = f"{NAMESPACE}:{name}", raw.get(f"{NAMESPACE}:{name}")
        if not certificate or not value or not value.strip():
            continue
        hint = f'set the key file\'s content with `pulumi config set --secret {key} -- "$(cat tls.key)"`'
        if not _PEM_PRIVATE_KEY.search(value):
            if "\n" not in value.strip():
                what = "a single line: a file path instead of the file's content?"
            elif "CERTIFICATE-----" in value:
                what = "a certificate, not its key"
            else:
                what = "no -----BEGIN PRIVATE KEY----- block"
            problems.append(f"{key}: the value (not shown) is not a PEM private key ({what}); {hint}")
            continue
        try:
            private = serialization.load_pem_private_key(value.encode(), password=None)
        except TypeError:
            problems.append(f"{key}: the key (not shown) is encrypted; give it unencrypted (Pulumi keeps it a secret)")
            continue
        except (ValueError, UnsupportedAlgorithm):
            continue  # not parseable here: the server that loads it reports it
        public = x509.load_pem_x509_certificate(certificate.encode()).public_key()
        pem = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        if private.public_key().public_bytes(*pem) != public.public_bytes(*pem):
            problems.append(
                f"{key}: the key (not shown) is not the key of {cert_key} (their public keys differ); set that "
                "certificate's key, or the certificate that goes with this key"
            )
    return problems


def _namespace_problem(full_key: str, namespace: str, key: str, project: str) -> str | None:
    if namespace == project:
        return f"{full_key}: keys belong to the '{NAMESPACE}' namespace; use {NAMESPACE}:{key}"
    if namespace != NAMESPACE and difflib.get_close_matches(namespace.lower(), [NAMESPACE], n=1, cutoff=0.6):
        return (
            f"{full_key}: unknown namespace '{namespace}' (the value was not used); "
            f"did you mean {NAMESPACE}:{key}?"
        )
    if namespace != NAMESPACE and key in SECRET_KEYS:
        return (
            f"{full_key}: keys belong to the '{NAMESPACE}' namespace (the value was not used); set it with "
            f"`pulumi config set --secret {NAMESPACE}:{key}`"
        )
    return None


def _plaintext_credential_problem(full_key: str, value: str, secret_keys: set[str]) -> str | None:
    """Another namespace's key (a provider's, a tool's) holding a credential in plaintext: the
    stack file, committed with the code, would hold it."""
    what = None if full_key in secret_keys else plaintext_credential(value)
    if what is None:
        return None
    return (
        f"{full_key}: holds {what} in plaintext (not shown), which the stack file would keep for anyone "
        f"who reads the repository; set it with `pulumi config set --secret {full_key}`"
    )


def leading_zero_numbers(stack_text: str) -> list[str]:
    """Problem lines for unquoted numbers with a leading zero under `paif:` keys of a stack file.

    Pulumi hands the program the values already decoded (`05432` may arrive as 2842), so only
    the file shows what was written.
    """
    try:
        root = yaml.compose(stack_text)
    except yaml.YAMLError:
        return []
    problems: list[str] = []

    def walk(node: yaml.Node, path: tuple[str | int, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                walk(value_node, (*path, str(key_node.value)))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, (*path, index))
        elif isinstance(node, yaml.ScalarNode) and node.style is None and _LEADING_ZERO.fullmatch(node.value):
            problems.append(
                f"{_key(path)}: given {node.value} (unquoted, leading zero); YAML reads it as an octal or a "
                f"decimal number depending on the tool: write {node.value.lstrip('+-0') or '0'} or quote it"
            )

    if isinstance(root, yaml.MappingNode):
        for key_node, value_node in root.value:
            if key_node.value == "config" and isinstance(value_node, yaml.MappingNode):
                for config_key, config_value in value_node.value:
                    namespace, _, key = str(config_key.value).partition(":")
                    if namespace == NAMESPACE:
                        walk(config_value, (key,))
    return problems


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "[secret]")
    return text


def _choices(annotation: Any) -> set[str]:
    """Every value a Literal in `annotation` (a model's fields included) allows."""
    origin = get_origin(annotation)
    if origin is Literal:
        return {str(arg) for arg in get_args(annotation)}
    if origin is Annotated:
        return _choices(get_args(annotation)[0])
    found: set[str] = set()
    for arg in get_args(annotation):
        found |= _choices(arg)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for field in annotation.model_fields.values():
            found |= _choices(field.annotation)
    return found


@cache
def _public_choices() -> frozenset[str]:
    """The values of the config's closed choices (modes, severities, days): whoever reads the
    README knows them, so a secret object holding one keeps no secret in it."""
    return frozenset(_choices(StackConfig))


def _leaves(value: Any) -> list[str]:
    """The texts of a secret value to keep out of messages: its free-form strings of four
    characters or more (not numbers, switches or the config's closed choices, which would
    mask words such as `high` or `true` in every line)."""
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    if not isinstance(value, str) or len(value) < 4 or value in _public_choices():
        return []
    return [value]


def parse_config(
    raw: dict[str, str], secret_keys: set[str], project: str, stack_text: str | None = None
) -> StackConfig:
    """Validate raw `namespace:key -> string` config; raise ConfigError listing every problem.

    `stack_text`, the stack file as written, is checked for values YAML reads ambiguously."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    for full_key, value in sorted(raw.items()):
        namespace, _, key = full_key.partition(":")
        namespace_problem = _namespace_problem(full_key, namespace, key, project)
        if namespace_problem:
            problems.append(namespace_problem)
            continue
        if namespace != NAMESPACE:
            if credential_problem := _plaintext_credential_problem(full_key, value, secret_keys):
                problems.append(credential_problem)
            continue
        if key in SECRET_KEYS:
            if full_key not in secret_keys:
                problems.append(
                    f"{full_key}: must be a secret; set it with `pulumi config set --secret {full_key}` "
                    "(the plaintext value was not used)"
                )
            continue
        values[key] = _parse(value)
    problems.extend(_secret_problems(raw, secret_keys))
    secret_roots = frozenset(k.partition(":")[2] for k in secret_keys if k.startswith(f"{NAMESPACE}:"))
    cfg: StackConfig | None = None
    try:
        cfg = StackConfig.model_validate(values)
    except ValidationError as exc:
        problems.extend(format_validation_error(exc, secret_roots))
    if cfg is not None:
        problems.extend(_cross_checks(cfg, PROFILES[cfg.environment]))
        problems.extend(_ca_key_problems(cfg, raw))
        problems.extend(_key_pair_problems(cfg, raw))
    if stack_text is not None:
        # One line per key: a leading zero that also broke the key's rule (startTime: 0400) is
        # already reported with the value the program was given.
        reported = {p.split(": ", 1)[0] for p in problems}
        problems.extend(p for p in leading_zero_numbers(stack_text) if p.split(": ", 1)[0] not in reported)
    if problems:
        message = str(ConfigError.listing(problems))
        raise ConfigError(
            _scrub(message, [leaf for root in secret_roots for leaf in _leaves(values.get(root))])
        )
    assert cfg is not None
    return cfg


def _stack_file_text() -> str | None:
    """The current stack's config file as written, when the program runs in its project directory."""
    try:
        project = yaml.safe_load(Path("Pulumi.yaml").read_text())
        config_dir = Path(project.get("stackConfigDir") or ".") if isinstance(project, dict) else Path()
        return (config_dir / f"Pulumi.{pulumi.get_stack()}.yaml").read_text()
    except (OSError, yaml.YAMLError):
        return None


def load_settings() -> Settings:
    """Read, validate and resolve the current stack's config. Registers no resource."""
    raw, secret_keys = _raw_config()
    cfg = parse_config(raw, secret_keys, pulumi.get_project(), _stack_file_text())
    conf = pulumi.Config(NAMESPACE)
    secrets = Secrets(
        vcenter_password=conf.get_secret("vcenterPassword"),
        pais_client_secret=conf.get_secret("paisClientSecret"),
        db_admin_password=conf.get_secret("dbAdminPassword"),
        db_app_password=conf.get_secret("dbAppPassword"),
        harbor_password=conf.get_secret("harborPassword"),
        supervisor_kubeconfig=conf.get_secret("supervisorKubeconfig"),
        workload_kubeconfig=conf.get_secret("workloadKubeconfig"),
        nvidia_license_token=conf.get_secret("nvidiaLicenseToken"),
        corporate_ca_key=conf.get_secret("corporateCaKey"),
        dlvm_tls_key=conf.get_secret("dlvmTlsKey"),
        empty=frozenset(
            k for k in SECRET_KEYS if f"{NAMESPACE}:{k}" in raw and not raw[f"{NAMESPACE}:{k}"].strip()
        ),
    )
    return Settings(config=cfg, profile=PROFILES[cfg.environment], secrets=secrets)
