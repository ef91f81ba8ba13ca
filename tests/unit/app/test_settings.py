"""Backend settings: every missing or invalid variable named at once, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.backend.settings import SettingsError, load_settings
from tests.unit.app.fakes import settings


def test_missing_variables_are_all_named() -> None:
    with pytest.raises(SettingsError) as error:
        load_settings({"PAIS_BASE_URL": "https://pais.test"})
    message = str(error.value)
    for name in (
        "PAIS_AGENT_NAME",
        "PAIS_TOKEN_URL",
        "PAIS_CLIENT_ID",
        "PAIS_CLIENT_SECRET",
        "DB_HOST",
        "DB_NAME",
        "DB_USER",
        "DB_PASSWORD",
    ):
        assert name in message
    assert "PAIS_BASE_URL" not in message  # given and valid


def test_invalid_values_are_named_without_their_secret_values() -> None:
    with pytest.raises(SettingsError) as error:
        settings(
            PAIS_BASE_URL="http://pais.test",
            PAIS_TIMEOUT_SECONDS="soon",
            DB_SSLMODE="maybe",
            PAIS_AGENT_CHAT_PATH="v1/agents/x/chat",
        )
    message = str(error.value)
    assert "PAIS_BASE_URL" in message and "https://" in message
    assert "PAIS_TIMEOUT_SECONDS" in message
    assert "DB_SSLMODE" in message
    assert "PAIS_AGENT_CHAT_PATH" in message
    assert "top-secret" not in message


def test_defaults_and_derived_values() -> None:
    s = settings(PAIS_AGENT_CHAT_PATH="", PAIS_CA_BUNDLE="", DB_SSLROOTCERT="", LOG_LEVEL="INFO")
    assert s.agent_chat_path == "/v1/agents/rag-agent/chat"
    assert s.pais_ca_bundle is None and s.db_sslrootcert is None
    assert s.log_level == "info"
    assert s.backend_port == 8000 and s.shutdown_drain_seconds == 5.0
    assert s.pais_model_name is None
    assert "top-secret" not in repr(s) and "pw" not in repr(s.db_password)


def test_sslmode_defaults_to_verify_full() -> None:
    env = {k: v for k, v in settings().model_dump(by_alias=True, mode="json").items() if v is not None}
    env.pop("DB_SSLMODE")
    env["PAIS_CLIENT_SECRET"] = env["DB_PASSWORD"] = "x"
    assert load_settings({k: str(v) for k, v in env.items()}).db_sslmode == "verify-full"


def test_ca_bundle_must_exist(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="PAIS_CA_BUNDLE: no such file"):
        settings(PAIS_CA_BUNDLE=str(tmp_path / "missing.crt"))
    bundle = tmp_path / "pais.crt"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert settings(PAIS_CA_BUNDLE=str(bundle)).pais_ca_bundle == bundle
