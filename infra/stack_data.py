"""The data tier: DSM PostgreSQL for the app, from the `paif:database` config and the profile.

The profile decides the cluster's shape (standbys, whether it is protected, whether to wait
for DSM to report it ready, the default sslmode); the config names things and sizes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import pulumi
import pulumi_kubernetes as k8s

from components.crds.postgres_cluster import BackupConfig, BackupSchedule, MaintenanceWindow
from components.dsm_postgres import DsmPostgres, DsmPostgresArgs
from components.postgres import SslMode
from infra.app_settings import DatabaseEndpoint
from infra.config import Settings
from infra.config.database import DatabaseConfig


@dataclass(frozen=True)
class DataOutputs(DatabaseEndpoint):
    """Where the app's database is, who the app connects as (its login role; the password is a
    Pulumi secret) and the cluster it lives in, all outputs of the cluster."""

    host: pulumi.Output[str]
    port: pulumi.Output[int]
    database: pulumi.Output[str]
    user: pulumi.Output[str]
    cluster_name: pulumi.Output[str]


def _backup(db: DatabaseConfig) -> BackupConfig | None:
    if not db.backup_schedules:
        return None
    schedules = tuple(BackupSchedule(s.name, s.type, s.schedule) for s in db.backup_schedules)
    return BackupConfig(retention_days=db.backup_retention_days, schedules=schedules)


def _maintenance_window(db: DatabaseConfig) -> MaintenanceWindow | None:
    window = db.maintenance_window
    return None if window is None else MaintenanceWindow(**window.model_dump())


def data_args(settings: Settings, namespace: pulumi.Input[str]) -> DsmPostgresArgs:
    """DsmPostgres's arguments: names and sizes from the config, the shape from the profile."""
    db, profile, secrets = settings.config.database, settings.profile, settings.secrets
    return DsmPostgresArgs(
        cluster_name=db.cluster_name,
        namespace=namespace,
        version=db.version,
        standbys=settings.effective.db_standbys,
        vm_class=db.vm_class,
        storage_policy_name=db.storage_policy_name,
        storage_space=db.storage_space,
        database=db.database_name,
        owner_role=db.owner_role,
        app_role=db.app_role,
        schema=db.schema_name,
        admin_username=db.admin_username,
        admin_password=secrets.db_admin_password,
        app_password=secrets.db_app_password,
        app_password_rotation=db.app_password_rotation,
        app_can_create=db.app_can_create,
        connection_limit=db.connection_limit,
        extensions=tuple(db.extensions),
        infrastructure_policy=db.infrastructure_policy,
        backup_location=db.backup_location,
        backup=_backup(db),
        maintenance_window=_maintenance_window(db),
        host=db.host,
        port=db.port,
        sslmode=cast(SslMode, settings.effective.db_sslmode),
        ssl_root_cert=db.ssl_root_cert,
        connect_timeout=db.connect_timeout_seconds,
        connection_config={
            "host": "paif:database.host",
            "port": "paif:database.port",
            "admin_user": "paif:database.adminUsername",
            "admin_password": "paif:dbAdminPassword",
        },
        protect=settings.protect("postgresCluster"),
        protect_data=settings.protect("database"),
        await_cluster=profile.await_custom_resources,
    )


def declare_data(settings: Settings, supervisor: k8s.Provider, namespace: pulumi.Input[str]) -> DataOutputs:
    """The PostgresCluster (through the Supervisor provider) and the app's database objects."""
    postgres = DsmPostgres(
        "postgres",
        data_args(settings, namespace),
        opts=pulumi.ResourceOptions(providers={"kubernetes": supervisor}),
    )
    return DataOutputs(
        host=postgres.host,
        port=postgres.port,
        database=postgres.database,
        user=postgres.app_user,
        password=postgres.app_password,
        sslmode=postgres.sslmode,
        cluster_name=postgres.cluster_name,
    )
