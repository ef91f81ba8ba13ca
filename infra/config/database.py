"""`paif:database`: the DSM PostgresCluster and the app's objects inside it."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from infra.config.base import DNS_NAME, Cidr, DnsLabel, Model, PemCertificates, Quantity

SQL_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# PostgreSQL refuses these as role names (or gives them a special meaning).
RESERVED_ROLE_NAMES = {"public", "none", "current_role", "current_user", "session_user"}
# Suffixes of a Kubernetes quantity, as powers of two or ten.
_BYTE_UNITS = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
MIN_STORAGE_BYTES = 2**30


def _sql_identifier(value: str) -> str:
    if not SQL_IDENTIFIER.match(value):
        raise ValueError(
            "must be a plain SQL identifier: lower-case letters, digits and '_', "
            "starting with a letter or '_', at most 63 characters"
        )
    return value


def _role_name(value: str) -> str:
    if value.startswith("pg_"):
        raise ValueError("must not start with 'pg_' (reserved for PostgreSQL's built-in roles)")
    if value in RESERVED_ROLE_NAMES:
        raise ValueError(f"is reserved; choose a name other than {', '.join(sorted(RESERVED_ROLE_NAMES))}")
    return value


def _cluster_name(value: str) -> str:
    if value.startswith("pg-"):
        raise ValueError(
            "must not start with 'pg-': the admin password Secret is named <clusterName>-admin-password "
            "and DSM reserves Secret names starting with pg-"
        )
    return value


def _storage_size(value: str) -> str:
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([A-Za-z]*)", value)
    size = float(match[1]) * _BYTE_UNITS[match[2]] if match and match[2] in _BYTE_UNITS else 0
    if size < MIN_STORAGE_BYTES:
        raise ValueError("must be a disk size of at least 1Gi, such as 20Gi")
    return value


def _host(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not DNS_NAME.match(value):
            raise ValueError("must be a host name or an IP address, without scheme or port") from None
    return value


def _unique(values: list[str]) -> list[str]:
    duplicates = sorted({v for v in values if values.count(v) > 1})
    if duplicates:
        raise ValueError(f"lists {', '.join(duplicates)} more than once")
    return values


SqlIdentifier = Annotated[str, AfterValidator(_sql_identifier)]
RoleName = Annotated[SqlIdentifier, AfterValidator(_role_name)]
StorageSize = Annotated[Quantity, AfterValidator(_storage_size)]


class BackupSchedule(Model):
    name: DnsLabel = Field(description="schedule name")
    type: Literal["full", "incremental"] = Field(description="full or incremental backup")
    schedule: str = Field(pattern=r"^(\S+\s+){4}\S+$", description="cron expression, 5 fields")


class MaintenanceWindow(Model):
    start_day: Literal["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"] = Field(
        description="day the window opens"
    )
    start_time: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM")
    duration: str = Field(pattern=r"^[0-9]+h([0-9]+m)?$", description="e.g. 2h or 1h30m")


class DatabaseConfig(Model):
    """DSM PostgreSQL: the cluster (on the Supervisor) and the app's roles, database, grants."""

    cluster_name: Annotated[DnsLabel, AfterValidator(_cluster_name)] = Field(
        "chat-pg", description="PostgresCluster name; must not start with pg-"
    )
    version: str = Field("17.7+vmware.v9.0.2.0", min_length=1, description="DSM PostgreSQL version")
    vm_class: DnsLabel = Field("best-effort-medium", description="VM class of the database VMs")
    storage_policy_name: str = Field(min_length=1, description="vSphere storage policy of the database disks")
    storage_space: StorageSize = Field("20Gi", description="disk size (Kubernetes quantity, at least 1Gi)")
    infrastructure_policy: DnsLabel | None = Field(None, description="DSM infrastructure policy")
    replicas: int | None = Field(
        None, ge=0, le=2, description="standby count (0 single server, 1 HA); profile default if unset"
    )
    backup_location: DnsLabel | None = Field(None, description="DSM backup location (required in prod)")
    backup_retention_days: int = Field(30, ge=1, le=365, description="days DSM keeps backups")
    backup_schedules: list[BackupSchedule] = Field([], description="backup schedules (at least one in prod)")
    maintenance_window: MaintenanceWindow | None = Field(None, description="patch window (required in prod)")
    admin_username: RoleName = Field(
        "pgadmin", description="DSM admin user the database objects are created as"
    )
    database_name: SqlIdentifier = Field("chat", description="the app's database")
    owner_role: RoleName = Field("chat_owner", description="NOLOGIN role owning the database and schema")
    app_role: RoleName = Field(
        "chat_app", description="login role of the app (no superuser/createdb/createrole)"
    )
    app_can_create: bool = Field(True, description="the app role may create tables in its schema")
    app_password_rotation: int = Field(
        0, ge=0, description="bump to rotate the generated app password (when paif:dbAppPassword is unset)"
    )
    schema_name: SqlIdentifier = Field("chat", description="the app's schema")
    extensions: Annotated[list[SqlIdentifier], AfterValidator(_unique)] = Field(
        [], description="extensions to create in the app's database, e.g. [vector]"
    )
    connection_limit: int = Field(50, ge=1, le=10000, description="maximum sessions of the app role")
    host: Annotated[str, AfterValidator(_host)] | None = Field(
        None, description="connection host; default: the cluster's status.connection.host"
    )
    app_host: Annotated[str, AfterValidator(_host)] | None = Field(
        None,
        description="host the app's pods connect to (DB_HOST) when it differs from the one Pulumi's "
        "providers use (local: pods use db.local.paif.test, the engine 127.0.0.1); default: database.host",
    )
    port: int = Field(5432, ge=1, le=65535, description="connection port")
    sslmode: Literal["disable", "require", "verify-ca", "verify-full"] | None = Field(
        None, description="libpq sslmode; profile default if unset"
    )
    ssl_root_cert: str | None = Field(
        None, min_length=1, description="CA bundle for verify-ca/verify-full (path, or 'system')"
    )
    ca_bundle: PemCertificates | None = Field(
        None,
        description="PEM CA certificate(s) of the database's server certificate, for the app (mounted at "
        "/etc/paif/ca/db.crt, DB_SSLROOTCERT); required when sslmode is verify-ca or verify-full",
    )
    connect_timeout_seconds: int = Field(
        10, ge=1, le=300, description="per connection attempt to the database"
    )
    egress_cidr: Cidr = Field(description="network of the database endpoint (app egress NetworkPolicy)")

    @field_validator("backup_schedules")
    @classmethod
    def _schedules_need_location(
        cls, value: list[BackupSchedule], info: ValidationInfo
    ) -> list[BackupSchedule]:
        if value and not info.data.get("backup_location"):
            raise ValueError("backup schedules need paif:database.backupLocation")
        return value
