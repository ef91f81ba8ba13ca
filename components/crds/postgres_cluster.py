"""DSM `PostgresCluster` (`databases.dataservices.vmware.com/v1alpha1`): typed spec and resource.

The mapping from Python fields to the CR's camelCase keys lives only here: the fields of
`PostgresClusterSpec` (rendered by `components.crds.spec`). `PostgresCluster` registers the
CR through the kubernetes provider and, unlike the generic `CustomResource`, exposes `status` (DSM publishes the
connection endpoint in `status.connection`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

from components.crds.custom_resource import SpecResource
from components.crds.spec import CamelSpec, spec_key

API_VERSION = "databases.dataservices.vmware.com/v1alpha1"
KIND = "PostgresCluster"
TYPE = f"kubernetes:{API_VERSION}:{KIND}"
# DSM keeps its own Secrets under this prefix; a user-supplied Secret there is rejected.
DSM_RESERVED_PREFIX = "pg-"


@dataclass(frozen=True)
class BackupSchedule(CamelSpec):
    name: str
    """Schedule name (DNS label)."""
    type: Literal["full", "incremental"]
    schedule: str
    """Cron expression, 5 fields."""


@dataclass(frozen=True)
class BackupConfig(CamelSpec):
    retention_days: int = field(metadata=spec_key("backupRetentionDays"))
    """Days DSM keeps backups."""
    schedules: tuple[BackupSchedule, ...]


@dataclass(frozen=True)
class MaintenanceWindow(CamelSpec):
    start_day: str
    """MONDAY .. SUNDAY."""
    start_time: str
    """HH:MM."""
    duration: str
    """e.g. 2h or 1h30m."""


@dataclass(frozen=True, kw_only=True)
class PostgresClusterSettings:
    """The server its owner chooses: what `DsmPostgresArgs` takes and a `PostgresClusterSpec` renders."""

    version: str
    """DSM PostgreSQL version, e.g. 17.7+vmware.v9.0.2.0."""
    vm_class: str = field(metadata=spec_key(ref=True))
    """VM class of the database VMs."""
    storage_policy_name: str
    """vSphere storage policy of the database disks."""
    storage_space: str
    """Disk size as a Kubernetes quantity, e.g. 20Gi."""
    admin_username: str = "pgadmin"
    """DSM admin user (DsmPostgres creates the database objects as this user)."""
    infrastructure_policy: str | None = field(default=None, metadata=spec_key(ref=True))
    """DSM infrastructure policy name; None for DSM's default."""
    backup_location: str | None = field(default=None, metadata=spec_key(ref=True))
    """Name of the DSM backup location; required for `backup`."""
    backup: BackupConfig | None = field(default=None, metadata=spec_key("backupConfig"))
    """Backup retention and schedules; None for no scheduled backups."""
    maintenance_window: MaintenanceWindow | None = None
    """When DSM may patch and restart; None for DSM's default."""

    def cluster_settings(self) -> dict[str, Any]:
        """These settings by field name, as `PostgresClusterSpec` takes them."""
        return {f.name: getattr(self, f.name) for f in fields(PostgresClusterSettings)}


@dataclass(frozen=True, kw_only=True)
class PostgresClusterSpec(PostgresClusterSettings, CamelSpec):
    """`spec` of a PostgresCluster."""

    replicas: int
    """Standby count: 0 = a single server, 1 = HA (primary + replica + monitor)."""
    admin_password_secret: str = field(metadata=spec_key("adminPasswordRef", ref=True))
    """Secret in the same namespace whose key `password` holds the admin password."""
    database_name: str | None = None
    """Database DSM creates; None leaves DSM's default."""
    database_config: str | None = field(default=None, metadata=spec_key(ref=True))
    """Name of a DatabaseConfig CR with server parameters."""

    def __post_init__(self) -> None:
        if self.admin_password_secret.startswith(DSM_RESERVED_PREFIX):
            raise ValueError(
                f"admin password Secret {self.admin_password_secret!r}: names starting with "
                f"{DSM_RESERVED_PREFIX!r} are reserved by DSM"
            )
        if self.replicas < 0:
            raise ValueError(f"replicas {self.replicas}: must be 0 (single server) or more standbys")
        if self.backup is not None and not self.backup_location:
            raise ValueError("backup needs a backup_location")


# DSM is ready when the cluster reports Ready and has published where to connect.
READY = ("condition=Ready", "jsonpath={.status.connection.host}")


class PostgresCluster(SpecResource):
    """A DSM PostgresCluster; `status` carries `connection{host, port, dbname, ...}` once ready."""

    api_version = API_VERSION
    kind = KIND


def connection_host(status: dict[str, Any] | None) -> str | None:
    """`status.connection.host`, or None while DSM has not published it."""
    connection = (status or {}).get("connection") or {}
    host = connection.get("host")
    return str(host) if host else None
