"""`paif:database` config: bad values fail before anything is touched, naming key, value and rule."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from infra.config import ConfigError, parse_config
from tests.unit.harness import flatten_config, stack_config


def problems(env: str, **database: Any) -> list[str]:
    config = copy.deepcopy(stack_config(env))
    config["database"].update(database)
    flat, keys = flatten_config(config)
    with pytest.raises(ConfigError) as caught:
        parse_config(flat, set(keys), "paif-app")
    message = str(caught.value)
    assert message.startswith("invalid stack config (") and "nothing was changed" in message
    return [line.strip().removeprefix("- ") for line in message.splitlines()[1:]]


@pytest.mark.parametrize(
    ("env", "change", "expected"),
    [
        (
            "dev",
            {"storageSpace": "20 gigs"},
            "paif:database.storageSpace: given '20 gigs'; must be a Kubernetes quantity such as 500m, 2, 512Mi or 20Gi",
        ),
        (
            "dev",
            {"storageSpace": "500Mi"},
            "paif:database.storageSpace: given '500Mi'; must be a disk size of at least 1Gi, such as 20Gi",
        ),
        ("dev", {"replicas": 2}, "paif:database.replicas: given 2; dev allows 0, 1"),
        ("dev", {"replicas": 5}, "paif:database.replicas: given 5; must be at most 2"),
        ("prod", {"replicas": 0}, "paif:database.replicas: given 0; prod allows 1"),
        (
            "dev",
            {"extensions": ["pgcrypto", "vector; DROP TABLE users"]},
            "paif:database.extensions[1]: given 'vector; DROP TABLE users'; must be a plain SQL identifier",
        ),
        (
            "dev",
            {"extensions": ["vector", "vector"]},
            'paif:database.extensions: given ["vector", "vector"]; lists vector more than once',
        ),
        (
            "dev",
            {"appRole": "a" * 64},
            f"paif:database.appRole: given '{'a' * 64}'; must be a plain SQL identifier",
        ),
        (
            "dev",
            {"ownerRole": "pg_owner"},
            "paif:database.ownerRole: given 'pg_owner'; must not start with 'pg_' (reserved for PostgreSQL's built-in roles)",
        ),
        ("dev", {"appRole": "public"}, "paif:database.appRole: given 'public'; is reserved"),
        (
            "dev",
            {"clusterName": "pg-chat"},
            "paif:database.clusterName: given 'pg-chat'; must not start with 'pg-': the admin password Secret",
        ),
        (
            "dev",
            {"host": "postgres://db:5432"},
            "paif:database.host: given 'postgres://db:5432'; must be a host name or an IP address",
        ),
        (
            "dev",
            {"backupSchedules": [{"name": "daily", "type": "full", "schedule": "0 1 * * *"}]},
            'paif:database.backupSchedules: given [{"name": "daily", "type": "full", "schedule": "0 1 * * *"}]; '
            "backup schedules need paif:database.backupLocation",
        ),
        (
            "dev",
            {"appPasswordRotation": -1},
            "paif:database.appPasswordRotation: given -1; must be at least",
        ),
        (
            "prod",
            {"sslmode": "disable"},
            "paif:database.sslmode: given 'disable'; prod requires require, verify-ca or verify-full",
        ),
    ],
)
def test_bad_database_config_is_rejected(env: str, change: dict[str, Any], expected: str) -> None:
    found = problems(env, **change)
    assert any(p.startswith(expected) for p in found), found


def test_valid_refinements_are_accepted() -> None:
    config = copy.deepcopy(stack_config("dev"))
    config["database"].update(
        {
            "extensions": ["vector", "pgcrypto"],
            "appPasswordRotation": 2,
            "appCanCreate": False,
            "host": "pg.dev.example.internal",
            "sslRootCert": "system",
            "storageSpace": "1.5Ti",
        }
    )
    flat, keys = flatten_config(config)
    db = parse_config(flat, set(keys), "paif-app").database
    assert (db.extensions, db.app_password_rotation, db.app_can_create) == (["vector", "pgcrypto"], 2, False)
    assert db.host == "pg.dev.example.internal" and db.storage_space == "1.5Ti"
