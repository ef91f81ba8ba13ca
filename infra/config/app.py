"""`paif:app` and `paif:pais`: the application and the PAIS endpoints it calls."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from infra.config.base import (
    DnsLabel,
    EgressCidr,
    Flag,
    Hostname,
    HttpsBaseUrl,
    HttpsUrl,
    ImageRef,
    Model,
    OwnNamespace,
    PemCertificates,
    Quantity,
    Size,
    derived_name_prefix,
    field_problem,
    quantity_value,
)

# AiApp names its objects <app.name><suffix>; the longest suffix is the default-deny NetworkPolicy's.
APP_NAME_SUFFIXES = ("-config", "-secrets", "-registry", "-uploads", "-frontend", "-backend", "-tls", "-ca", "-default-deny")
LONGEST_APP_NAME_SUFFIX = max(APP_NAME_SUFFIXES, key=len)


class ContainerResources(Model):
    """Requests and limits of one container."""

    cpu_request: Quantity = "250m"
    """CPU request (Kubernetes quantity)."""
    memory_request: Quantity = "256Mi"
    """Memory request."""
    cpu_limit: Quantity | None = "1"
    """CPU limit; null leaves CPU unthrottled."""
    memory_limit: Size = "512Mi"
    """Memory limit (always set)."""

    @model_validator(mode="after")
    def _requests_within_limits(self) -> ContainerResources:
        for key, memory in (("memoryRequest", self.memory_request), ("memoryLimit", self.memory_limit)):
            if memory.endswith("m"):
                raise field_problem(
                    (key,), memory, "must not use the suffix m (thousandths of a byte) for memory: write Mi, e.g. 512Mi"
                )
        for resource, request, limit in (
            ("memory", self.memory_request, self.memory_limit),
            ("cpu", self.cpu_request, self.cpu_limit),
        ):
            if limit is not None and quantity_value(request) > quantity_value(limit):
                raise field_problem(
                    (f"{resource}Request",),
                    request,
                    f"must not exceed {resource}Limit ({limit!r}); Kubernetes refuses a request above its limit",
                )
        return self


class TlsConfig(Model):
    """How the Ingress gets its certificate."""

    mode: Literal["self-signed", "secret", "cert-manager"] = "self-signed"
    """Where the app's certificate comes from (the Ingress's; in dev the DLVM's): local allows self-signed, dev self-signed or secret (no cert-manager runs in the Supervisor namespace), prod secret or cert-manager."""
    secret_name: DnsLabel | None = None
    """Existing kubernetes.io/tls Secret (mode secret): in the app namespace (prod), in the Supervisor namespace (dev: the DLVM serves its tls.crt/tls.key)."""
    cluster_issuer: DnsLabel | None = None
    """cert-manager ClusterIssuer (mode cert-manager)."""

    @model_validator(mode="after")
    def _mode_fields(self) -> TlsConfig:
        if self.mode == "secret" and not self.secret_name:
            raise ValueError("tls.mode 'secret' needs tls.secretName (an existing kubernetes.io/tls Secret)")
        if self.mode == "cert-manager" and not self.cluster_issuer:
            raise ValueError("tls.mode 'cert-manager' needs tls.clusterIssuer")
        # A key the mode never reads is a mistake: the certificate would not come from where the
        # config says.
        for key, value, reader in (("secretName", self.secret_name, "secret"), ("clusterIssuer", self.cluster_issuer, "cert-manager")):
            if value is not None and self.mode != reader:
                raise field_problem(
                    (key,),
                    value,
                    f"is read only with tls.mode {reader!r}, and the mode is {self.mode!r}: remove it, or set "
                    f"tls.mode to {reader!r}",
                )
        return self


class AutoscalingConfig(Model):
    min_replicas: int = Field(2, ge=1, le=100)
    """HPA minimum (prod; at least the profile minimum of 2)."""
    max_replicas: int = Field(6, ge=1, le=200)
    """HPA maximum."""
    target_cpu_percent: int = Field(70, ge=10, le=100)
    """HPA target CPU utilisation."""

    @model_validator(mode="after")
    def _bounds(self) -> AutoscalingConfig:
        if self.max_replicas < self.min_replicas:
            raise ValueError("autoscaling.maxReplicas must be >= autoscaling.minReplicas")
        return self


class AppConfig(Model):
    """The chat application: React/Nginx frontend and FastAPI backend (BFF)."""

    name: Annotated[DnsLabel, derived_name_prefix(LONGEST_APP_NAME_SUFFIX, "the app's Kubernetes objects")] = "chat"
    """Prefix of every Kubernetes object name."""
    namespace: OwnNamespace = "paif-chat"
    """Kubernetes namespace of the app (created by the program)."""
    hostname: Hostname
    """Public host name of the Ingress (TLS)."""
    frontend_image: ImageRef
    """Frontend image, pinned by tag or digest, from the Harbor project when Harbor is on."""
    backend_image: ImageRef
    """Backend image, same rules as frontendImage."""
    replicas: int | None = Field(None, ge=1, le=50)
    """Replicas per tier; default from the environment (local/dev 1, prod 2)."""
    frontend_port: int = Field(8080, ge=1024, le=65535)
    """Container port of the frontend (unprivileged)."""
    backend_port: int = Field(8000, ge=1024, le=65535)
    """Container port of the backend."""
    frontend_resources: ContainerResources = ContainerResources()
    """Requests/limits of the frontend container."""
    backend_resources: ContainerResources = ContainerResources(
        cpu_request="500m", memory_request="512Mi", cpu_limit="2", memory_limit="1Gi"
    )
    """Requests/limits of the backend container."""
    tls: TlsConfig = TlsConfig()
    """The app's certificate (the Ingress's; in dev the DLVM's)."""
    autoscaling: AutoscalingConfig = AutoscalingConfig()
    """HPA bounds (used where the environment autoscales: prod)."""
    uploads_volume_size: Size | None = None
    """Size of a PVC for uploads mounted into the backend; unset for none."""
    uploads_storage_class: DnsLabel | None = None
    """StorageClass of the uploads PVC; unset uses the cluster's default class. Required with
    ReadWriteMany (more than one backend replica): a class that provisions ReadWriteMany
    volumes, e.g. vSAN File Services (nothing checks the class's capability before apply)."""
    uploads_access_mode: Literal["ReadWriteOnce", "ReadWriteMany"] | None = None
    """Access mode of the uploads PVC; default ReadWriteOnce for one backend replica,
    ReadWriteMany when replicas or autoscaling.maxReplicas exceed 1 (ReadWriteOnce is then refused)."""
    monitoring: Flag | None = None
    """ServiceMonitor + alert rules; default from the environment (prod on)."""
    monitoring_namespace: DnsLabel | None = None
    """Namespace of the Prometheus that scrapes the backend's /metrics (the only namespace
    the backend's NetworkPolicy admits besides the frontend); default from the environment
    (prod tanzu-system-monitoring, else monitoring)."""
    ingress_class_name: DnsLabel | None = None
    """IngressClass that serves the app's Ingress (spec.ingressClassName); default from the
    environment (local traefik, prod contour)."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """Backend log level."""


class PaisConfig(Model):
    """PAIS (Private AI Services): Agent API and OIDC client-credentials endpoint."""

    base_url: HttpsBaseUrl
    """PAIS base URL (https) of the Agent API."""
    agent_name: DnsLabel
    """PAIS agent the backend chats with (/v1/agents/{name}/chat)."""
    token_url: HttpsUrl
    """OIDC client-credentials token endpoint (https)."""
    client_id: str = Field(min_length=1, max_length=256)
    """OIDC client id of the backend (stored in the Secret)."""
    model_endpoint: str = "/v1/chat/completions"
    """OpenAI-compatible model endpoint path."""
    request_timeout_seconds: int = Field(60, ge=1, le=600)
    """Timeout of PAIS calls."""
    egress_cidr: EgressCidr
    """Network of the PAIS endpoints; the backend may reach it on 443 only."""
    ca_bundle: PemCertificates | None = None
    """PEM CA certificate(s) the backend trusts for PAIS (mounted at /etc/paif/ca/pais.crt,
    PAIS_CA_BUNDLE); unset trusts the image's system CAs."""
