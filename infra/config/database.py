"""`paif:database`: the DSM PostgresCluster and the app's objects inside it."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from cronsim import CronSim, CronSimError
from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, field_validator

from infra.config.base import (
    DnsLabel,
    EgressCidr,
    Flag,
    Host,
    Model,
    PemCertificates,
    Quantity,
    derived_name_prefix,
    field_problem,
    quantity_value,
    reject_duplicates,
    rule,
)

SQL_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# PostgreSQL refuses these as role names (or gives them a special meaning).
RESERVED_ROLE_NAMES = {"public", "none", "current_role", "current_user", "session_user"}
# Roles the program creates must not be the superuser every PostgreSQL already has.
RESERVED_CREATED_ROLE_NAMES = RESERVED_ROLE_NAMES | {"postgres"}
# Databases every PostgreSQL cluster already has.
RESERVED_DATABASE_NAMES = {"postgres", "template0", "template1"}
# Schemas every database already has or PostgreSQL reserves (pg_* too).
RESERVED_SCHEMA_NAMES = {"public", "information_schema"}
MIN_STORAGE_BYTES = 2**30
MAX_MAINTENANCE_MINUTES = 24 * 60
# DsmPostgres names the admin password Secret <clusterName>-admin-password.
LONGEST_CLUSTER_NAME_SUFFIX = "-admin-password"


def _role_name(value: str) -> str:
    if value.startswith("pg_"):
        raise ValueError("must not start with 'pg_' (reserved for PostgreSQL's built-in roles)")
    if value in RESERVED_ROLE_NAMES:
        raise ValueError(f"is reserved; choose a name other than {', '.join(sorted(RESERVED_ROLE_NAMES))}")
    return value


def _reserved(names: set[str], what: str) -> AfterValidator:
    return rule(
        lambda value: value not in names and not value.startswith("pg_"),
        f"is reserved: PostgreSQL already has {what} of that name; choose a name other than "
        f"{', '.join(sorted(names))} or pg_*",
    )


def _cron(value: str) -> str:
    fields = value.split()
    if len(fields) != 5:
        raise ValueError(
            f"must be a cron expression of 5 fields (minute hour day-of-month month day-of-week), "
            f"e.g. '0 2 * * 0' (Sundays at 02:00); it has {len(fields)}"
        )
    try:
        CronSim(" ".join(fields), datetime(2000, 1, 1))
    except CronSimError as exc:
        reason = str(exc).lower()
    else:
        reason = _beyond_standard_cron(fields)
    if reason:
        raise ValueError(
            f"must be a cron expression of 5 fields (minute hour day-of-month month day-of-week), "
            f"e.g. '0 2 * * 0' (Sundays at 02:00): {reason}"
        ) from None
    return value


def _beyond_standard_cron(fields: list[str]) -> str:
    """What cronsim reads that standard cron parsers do not (Kubernetes' robfig/cron: day of
    week 0-6, no Quartz L, W or #), so a schedule means the same to whichever one DSM uses."""
    without_names = [re.sub(r"(?<![A-Za-z])[A-Za-z]{3}(?![A-Za-z])", "", f).upper() for f in fields]  # JUL, WED
    quartz = sorted({c for c in "LW#" if any(c in f for f in without_names)})
    if quartz:
        what = "is a Quartz extension" if len(quartz) == 1 else "are Quartz extensions"
        return f"{' and '.join(quartz)} {what} that standard cron parsers refuse"
    if re.search(r"(?<![/0-9])7(?![0-9])", fields[4]):
        return "day-of-week 7: write 0 for Sunday (0-6; not every cron parser reads 7)"
    return ""


def _time_of_day(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(
            "must be a quoted time of day such as \"04:00\" (YAML reads an unquoted 0400 or, in YAML 1.1, "
            "04:00 as a number)"
        )
    if not isinstance(value, str) or not re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", value.strip()):
        raise ValueError("must be a time of day HH:MM (24-hour clock), e.g. \"04:00\"")
    return value


def _duration(value: str) -> str:
    match = re.fullmatch(r"([0-9]+)h(?:([0-9]+)m)?", value)
    if not match or int(match[2] or 0) >= 60:
        raise ValueError("must be a duration in hours and minutes, e.g. 2h or 1h30m")
    minutes = int(match[1]) * 60 + int(match[2] or 0)
    if not 0 < minutes <= MAX_MAINTENANCE_MINUTES:
        raise ValueError("must be a duration above zero and at most 24h, e.g. 2h or 1h30m")
    return value


def _unique(values: list[str]) -> list[str]:
    reject_duplicates(values)
    return values


SqlIdentifier = Annotated[
    str,
    rule(
        SQL_IDENTIFIER.match,
        "must be a plain SQL identifier: lower-case letters, digits and '_', "
        "starting with a letter or '_', at most 63 characters",
    ),
]
RoleName = Annotated[SqlIdentifier, AfterValidator(_role_name)]
StorageSize = Annotated[
    Quantity,
    rule(lambda v: quantity_value(v) >= MIN_STORAGE_BYTES, "must be a disk size of at least 1Gi, such as 20Gi"),
]
CreatedRoleName = Annotated[RoleName, _reserved(RESERVED_CREATED_ROLE_NAMES, "a role")]


class BackupSchedule(Model):
    name: DnsLabel = Field(description="schedule name (unique)")
    type: Literal["full", "incremental"] = Field(description="full or incremental backup")
    schedule: Annotated[str, AfterValidator(_cron)] = Field(
        description="cron expression, 5 fields (minute hour day-of-month month day-of-week, Sunday 0), standard syntax (no Quartz L, W or #)"
    )


class MaintenanceWindow(Model):
    start_day: Literal["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"] = Field(
        description="day the window opens"
    )
    start_time: Annotated[str, BeforeValidator(_time_of_day)] = Field(description="HH:MM, quoted")
    duration: Annotated[str, AfterValidator(_duration)] = Field(description="e.g. 2h or 1h30m, at most 24h")


class DatabaseConfig(Model):
    """DSM PostgreSQL: the cluster (on the Supervisor) and the app's roles, database, grants."""

    cluster_name: Annotated[
        DnsLabel,
        rule(
            lambda v: not v.startswith("pg-"),
            "must not start with 'pg-': the admin password Secret is named <clusterName>-admin-password "
            "and DSM reserves Secret names starting with pg-",
        ),
        derived_name_prefix(LONGEST_CLUSTER_NAME_SUFFIX, "the cluster's Secrets and Services"),
    ] = Field(
        "chat-pg", description="PostgresCluster name; must not start with pg-"
    )
    version: Annotated[
        str,
        rule(
            re.compile(r"\d+(\.\d+){0,2}(\+[0-9A-Za-z][0-9A-Za-z.-]*)?").fullmatch,
            "must be a DSM PostgreSQL version: the PostgreSQL version number, then DSM's build suffix, "
            "such as 17.7+vmware.v9.0.2.0",
        ),
    ] = Field("17.7+vmware.v9.0.2.0", description="DSM PostgreSQL version")
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
    database_name: Annotated[SqlIdentifier, _reserved(RESERVED_DATABASE_NAMES, "a database")] = Field(
        "chat", description="the app's database"
    )
    owner_role: CreatedRoleName = Field("chat_owner", description="NOLOGIN role owning the database and schema")
    app_role: CreatedRoleName = Field(
        "chat_app", description="login role of the app (no superuser/createdb/createrole)"
    )
    app_can_create: Flag = Field(True, description="the app role may create tables in its schema")
    app_password_rotation: int = Field(
        0, ge=0, description="bump to rotate the generated app password (when paif:dbAppPassword is unset)"
    )
    schema_name: Annotated[SqlIdentifier, _reserved(RESERVED_SCHEMA_NAMES, "a schema")] = Field(
        "chat", description="the app's schema"
    )
    extensions: Annotated[list[SqlIdentifier], AfterValidator(_unique)] = Field(
        [], description="extensions to create in the app's database, e.g. [vector]"
    )
    connection_limit: int = Field(50, ge=1, le=10000, description="maximum sessions of the app role")
    host: Host | None = Field(
        None, description="connection host; default: the cluster's status.connection.host"
    )
    app_host: Host | None = Field(
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
    egress_cidr: EgressCidr = Field(description="network of the database endpoint (app egress NetworkPolicy)")

    @field_validator("backup_schedules")
    @classmethod
    def _schedules_need_location(
        cls, value: list[BackupSchedule], info: ValidationInfo
    ) -> list[BackupSchedule]:
        # An invalid backupLocation is absent from info.data and already reported.
        if value and "backup_location" in info.data and not info.data["backup_location"]:
            raise ValueError("backup schedules need paif:database.backupLocation")
        seen: set[str] = set()
        for index, schedule in enumerate(value):
            if schedule.name in seen:
                raise field_problem((index, "name"), schedule.name, "schedule names must be unique; this one is used twice")
            seen.add(schedule.name)
        return value
