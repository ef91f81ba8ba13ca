"""`paif:database`: the DSM PostgresCluster and the app's objects inside it."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from infra.config.base import Cidr, DnsLabel, Model, Quantity

SQL_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _sql_identifier(value: str) -> str:
    if not SQL_IDENTIFIER.match(value):
        raise ValueError(
            "must be a plain SQL identifier: lower-case letters, digits and '_', "
            "starting with a letter or '_', at most 63 characters"
        )
    return value


SqlIdentifier = Annotated[str, AfterValidator(_sql_identifier)]


class BackupSchedule(Model):
    name: DnsLabel
    type: Literal["full", "incremental"]
    schedule: str = Field(pattern=r"^(\S+\s+){4}\S+$", description="cron expression, 5 fields")


class MaintenanceWindow(Model):
    start_day: Literal["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
    start_time: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    duration: str = Field(pattern=r"^[0-9]+h([0-9]+m)?$")


class DatabaseConfig(Model):
    """DSM PostgreSQL: the cluster (on the Supervisor) and the app's roles, database, grants."""

    cluster_name: DnsLabel = "chat-pg"
    version: str = Field("17.7+vmware.v9.0.2.0", min_length=1)
    vm_class: DnsLabel = "best-effort-medium"
    storage_policy_name: str = Field(min_length=1)
    storage_space: Quantity = "20Gi"
    infrastructure_policy: DnsLabel | None = None
    replicas: int | None = Field(None, ge=0, le=2, description="standby count; profile default if unset")
    backup_location: DnsLabel | None = None
    backup_retention_days: int = Field(30, ge=1, le=365)
    backup_schedules: list[BackupSchedule] = []
    maintenance_window: MaintenanceWindow | None = None
    admin_username: SqlIdentifier = "pgadmin"
    database_name: SqlIdentifier = "chat"
    owner_role: SqlIdentifier = "chat_owner"
    app_role: SqlIdentifier = "chat_app"
    schema_name: SqlIdentifier = "chat"
    extensions: list[SqlIdentifier] = []
    connection_limit: int = Field(50, ge=1, le=10000)
    host: str | None = Field(None, description="connection host; default: the cluster's status")
    port: int = Field(5432, ge=1, le=65535)
    sslmode: Literal["disable", "require", "verify-ca", "verify-full"] | None = None
    egress_cidr: Cidr
