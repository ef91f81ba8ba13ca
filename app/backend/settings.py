"""The backend's settings, read once from the environment at start.

The names are the app environment contract (ConfigMap + Secret rendered by
infra/app_settings.py). A missing or malformed variable stops the process before it
serves anything, with every offending variable named in one message. Secret values are
`SecretStr`, so neither `repr()` nor a log line can show them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
LogLevel = Literal["debug", "info", "warning", "error"]


class SettingsError(RuntimeError):
    """The environment does not hold a usable configuration; the message names each variable."""


def _https_url(value: str, name: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"{name} must be an https:// URL with a host (got {value!r})")
    return value.rstrip("/")


class Settings(BaseModel):
    """Every setting the backend reads; field aliases are the environment variable names."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    app_env: str = Field("local", alias="APP_ENV")
    log_level: LogLevel = Field("info", alias="LOG_LEVEL")
    backend_host: str = Field("0.0.0.0", alias="BACKEND_HOST")  # noqa: S104 - a pod listens on its own IP
    backend_port: int = Field(8000, alias="BACKEND_PORT", ge=1, le=65535)

    pais_base_url: str = Field(alias="PAIS_BASE_URL")
    pais_agent_name: str = Field(alias="PAIS_AGENT_NAME", min_length=1)
    pais_agent_chat_path: str = Field("", alias="PAIS_AGENT_CHAT_PATH")
    """Empty means /v1/agents/{PAIS_AGENT_NAME}/chat."""
    pais_model_endpoint: str = Field("/v1/chat/completions", alias="PAIS_MODEL_ENDPOINT")
    pais_model_name: str | None = Field(None, alias="PAIS_MODEL_NAME")
    """Model for the Model Endpoint fallback; unset omits `model` and the endpoint picks its default."""
    pais_token_url: str = Field(alias="PAIS_TOKEN_URL")
    pais_timeout_seconds: float = Field(60.0, alias="PAIS_TIMEOUT_SECONDS", gt=0, le=600)
    pais_client_id: str = Field(alias="PAIS_CLIENT_ID", min_length=1)
    pais_client_secret: SecretStr = Field(alias="PAIS_CLIENT_SECRET")
    pais_ca_bundle: Path | None = Field(None, alias="PAIS_CA_BUNDLE")
    """PEM bundle the PAIS certificate must chain to; unset trusts the system CAs."""

    db_host: str = Field(alias="DB_HOST", min_length=1)
    db_port: int = Field(5432, alias="DB_PORT", ge=1, le=65535)
    db_name: str = Field(alias="DB_NAME", min_length=1)
    db_user: str = Field(alias="DB_USER", min_length=1)
    db_password: SecretStr = Field(alias="DB_PASSWORD")
    db_sslmode: SslMode = Field("verify-full", alias="DB_SSLMODE")
    db_sslrootcert: str | None = Field(None, alias="DB_SSLROOTCERT")
    """CA file for verify-ca/verify-full (or libpq's "system")."""
    db_pool_max_size: int = Field(4, alias="DB_POOL_MAX_SIZE", ge=1, le=100)

    shutdown_drain_seconds: float = Field(5.0, alias="SHUTDOWN_DRAIN_SECONDS", ge=0, le=300)
    """After SIGTERM: /readyz answers 503 at once, requests are still served this long, then
    uvicorn stops accepting and finishes the requests in flight."""

    @field_validator("pais_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _https_url(value, "PAIS_BASE_URL")

    @field_validator("pais_token_url")
    @classmethod
    def _token_url(cls, value: str) -> str:
        return _https_url(value, "PAIS_TOKEN_URL")

    @field_validator("pais_agent_chat_path", "pais_model_endpoint")
    @classmethod
    def _path(cls, value: str) -> str:
        if value and not value.startswith("/"):
            raise ValueError(f"must be a path starting with / (got {value!r})")
        return value

    @field_validator("pais_ca_bundle", "pais_model_name", "db_sslrootcert", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @property
    def agent_chat_path(self) -> str:
        return self.pais_agent_chat_path or f"/v1/agents/{self.pais_agent_name}/chat"


def _alias_of(field_name: str) -> str:
    info = Settings.model_fields.get(field_name)
    return info.alias if info is not None and info.alias else field_name


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from `environ` (default: the process environment); raises SettingsError
    naming every missing or invalid variable (never their values when they are secrets)."""
    env = os.environ if environ is None else environ
    names = {_alias_of(name) for name in Settings.model_fields}
    try:
        settings = Settings.model_validate({key: value for key, value in env.items() if key in names})
    except ValidationError as exc:
        missing: list[str] = []
        invalid: list[str] = []
        for error in exc.errors():
            loc = error["loc"][0] if error["loc"] else ""
            name = str(loc) if str(loc) in names else _alias_of(str(loc))
            if error["type"] == "missing":
                missing.append(name)
            else:
                invalid.append(f"{name}: {error['msg']}")
        parts = []
        if missing:
            parts.append("missing environment variable(s): " + ", ".join(sorted(missing)))
        if invalid:
            parts.append("invalid: " + "; ".join(invalid))
        raise SettingsError("; ".join(parts)) from None
    if settings.pais_ca_bundle is not None and not settings.pais_ca_bundle.is_file():
        raise SettingsError(f"PAIS_CA_BUNDLE: no such file {settings.pais_ca_bundle}")
    return settings
