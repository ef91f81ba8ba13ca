"""One source of application settings for every place the app runs.

The AiApp ConfigMap/Secret (Kubernetes) and the DLVM's cloud-init (dev) both render
these two maps, so the app sees the same keys whichever environment it runs in.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import pulumi

from components.ai_app import AppContainers
from infra.config import Settings
from infra.credentials import credential
from infra.preflight import check_apply_secrets


@dataclass(frozen=True)
class DatabaseEndpoint:
    """Where the backend's database is and who it connects as."""

    host: pulumi.Input[str]
    port: pulumi.Input[int]
    database: pulumi.Input[str]
    user: pulumi.Input[str]
    password: pulumi.Output[str]
    sslmode: str


CA_DIR = "/etc/paif/ca"
"""Where the backend finds the CA bundles (a ConfigMap volume on Kubernetes, files on the DLVM)."""
DB_CA_FILE = "db.crt"
PAIS_CA_FILE = "pais.crt"


@dataclass(frozen=True, kw_only=True)
class AppEnvironment(AppContainers):
    """The app's two containers from `paif:app` and the settings they get as environment
    variables (`config`: a ConfigMap on Kubernetes, an env file on the DLVM; `secrets`: a Secret,
    a 0600 file), with the CA files they name in CA_DIR: the same wherever the app runs."""

    def args(self) -> dict[str, Any]:
        """These fields as keyword arguments of AiAppArgs or DlvmWorkstationArgs."""
        return {f.name: getattr(self, f.name) for f in fields(AppContainers)}


def app_environment(settings: Settings, db: DatabaseEndpoint) -> AppEnvironment:
    cfg = settings.config
    pais = cfg.pais
    config: dict[str, pulumi.Input[str]] = {
        "APP_ENV": cfg.environment,
        "LOG_LEVEL": cfg.app.log_level,
        "BACKEND_PORT": str(cfg.app.backend_port),
        "PAIS_BASE_URL": pais.base_url,
        "PAIS_AGENT_NAME": pais.agent_name,
        "PAIS_AGENT_CHAT_PATH": f"/v1/agents/{pais.agent_name}/chat",
        "PAIS_MODEL_ENDPOINT": pais.model_endpoint,
        "PAIS_TOKEN_URL": pais.token_url,
        "PAIS_TIMEOUT_SECONDS": str(pais.request_timeout_seconds),
        "DB_HOST": cfg.database.app_host or db.host,
        "DB_PORT": pulumi.Output.from_input(db.port).apply(str),
        "DB_NAME": db.database,
        "DB_SSLMODE": db.sslmode,
    }
    ca_bundles: dict[str, str] = {}
    if cfg.database.ca_bundle:
        ca_bundles[DB_CA_FILE] = cfg.database.ca_bundle
        config["DB_SSLROOTCERT"] = f"{CA_DIR}/{DB_CA_FILE}"
    if pais.ca_bundle:
        ca_bundles[PAIS_CA_FILE] = pais.ca_bundle
        config["PAIS_CA_BUNDLE"] = f"{CA_DIR}/{PAIS_CA_FILE}"
    check_apply_secrets(settings, keys=("paisClientSecret",))
    client_secret = credential("paisClientSecret", settings.secrets.pais_client_secret)
    secrets: dict[str, pulumi.Output[str]] = {
        "PAIS_CLIENT_ID": pulumi.Output.secret(pais.client_id),
        "PAIS_CLIENT_SECRET": client_secret,
        "DB_USER": pulumi.Output.secret(db.user),
        "DB_PASSWORD": pulumi.Output.secret(db.password),
    }
    return AppEnvironment(
        frontend_image=cfg.app.frontend_image,
        backend_image=cfg.app.backend_image,
        frontend_port=cfg.app.frontend_port,
        backend_port=cfg.app.backend_port,
        config=config,
        secrets=secrets,
        ca_bundles=ca_bundles,
        ca_dir=CA_DIR,
    )
