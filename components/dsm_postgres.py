"""`DsmPostgres`: a DSM PostgreSQL cluster on the Supervisor and the app's database inside it.

Declares, through the Supervisor's kubernetes provider, the admin password Secret (key
`password`) and the `PostgresCluster` custom resource; then, through the PostgreSQL dynamic
providers, the app's roles, database, schema, grants and extensions
(`PostgresAppDatabase`). The database objects connect to `host` when given, otherwise to
the host DSM publishes in the cluster's `status.connection.host` (which needs
`await_cluster`). Previews contact nothing: every SQL statement runs at apply time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

import pulumi

from components.crds.custom_resource import await_annotations
from components.crds.postgres_cluster import (
    READY,
    PostgresCluster,
    PostgresClusterSettings,
    PostgresClusterSpec,
    connection_host,
)
from components.kube_secret import kube_secret
from components.password import Password
from components.postgres import PgConnection, SslMode
from components.postgres_app_database import PostgresAppDatabase, PostgresAppDatabaseArgs


@dataclass(frozen=True, kw_only=True)
class DsmPostgresArgs(PostgresClusterSettings):
    """The cluster (its settings; sizes and HA come from the environment profile) and the app's database."""

    cluster_name: str
    """Name of the PostgresCluster (DNS label); the admin Secret is `<cluster_name>-admin-password`."""
    namespace: pulumi.Input[str]
    """Supervisor namespace the cluster lives in."""
    standbys: int
    """`spec.replicas`: 0 = single server, 1 = HA (primary + replica + monitor)."""
    database: str
    """The app's database."""
    owner_role: str
    """NOLOGIN role that owns the database and schema."""
    app_role: str
    """Login role of the app."""
    schema: str
    """The app's schema."""
    admin_password: pulumi.Output[str] | None = None
    """Admin password (secret); None generates one."""
    app_password: pulumi.Output[str] | None = None
    """App role password (secret); None generates one."""
    app_password_rotation: int = 0
    """Bump to generate a new app password (when `app_password` is None)."""
    app_can_create: bool = True
    """Whether the app role may create tables in its schema."""
    connection_limit: int = 50
    """Maximum concurrent sessions of the app role."""
    extensions: Sequence[str] = ()
    """Extensions to create in the app's database (DSM ships `vector`)."""
    host: str | None = None
    """Database host to connect to; None uses the cluster's `status.connection.host`."""
    port: int = 5432
    """Database port."""
    sslmode: SslMode = "verify-full"
    """libpq sslmode for the admin connection and the app."""
    ssl_root_cert: str | None = None
    """CA bundle (path on the machine running Pulumi, or "system") for verify-ca/verify-full."""
    connect_timeout: int = 10
    """Seconds per connection attempt of the database providers."""
    protect: bool = False
    """Protect the cluster and its admin credentials from deletion and replacement."""
    connection_config: Mapping[str, str] | None = None
    """Admin connection property -> stack config key it came from (see PgConnection.config_keys)."""
    protect_data: bool | None = None
    """Protect the database, the schema and the role owning them; None: as `protect`."""
    await_cluster: bool = True
    """Wait until the cluster is Ready and publishes its host; False where no DSM operator runs."""
    ready_timeout_seconds: int = 3600
    """How long to wait for the cluster to become Ready."""


class DsmPostgres(pulumi.ComponentResource):
    """A PostgresCluster, its admin Secret, and the app's database objects."""

    host: pulumi.Output[str]
    port: pulumi.Output[int]
    database: pulumi.Output[str]
    app_user: pulumi.Output[str]
    app_password: pulumi.Output[str]
    sslmode: str
    cluster_name: pulumi.Output[str]
    connection_url: pulumi.Output[str]

    def __init__(self, name: str, args: DsmPostgresArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("paif:data:DsmPostgres", name, None, opts)
        a = args
        if a.host is None and not a.await_cluster:
            raise ValueError(
                f"DsmPostgres {name}: without await_cluster the cluster's host is never known; give host"
            )
        stateful = pulumi.ResourceOptions(parent=self, protect=a.protect)

        # Given or generated, kept in state: a run without the given value sees the same one.
        admin_password = Password(f"{name}-admin-password", given=a.admin_password, opts=stateful).result

        secret_name = f"{a.cluster_name}-admin-password"
        spec = PostgresClusterSpec(
            **a.cluster_settings(), replicas=a.standbys, admin_password_secret=secret_name
        )
        admin_secret = kube_secret(
            f"{name}-admin-secret",
            metadata={"name": secret_name, "namespace": a.namespace},
            string_data={"password": admin_password},
            opts=stateful,
        )
        cluster = PostgresCluster(
            f"{name}-cluster",
            name=a.cluster_name,
            namespace=a.namespace,
            spec=spec,
            annotations=await_annotations(READY if a.await_cluster else None, a.ready_timeout_seconds),
            opts=pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(depends_on=[admin_secret])),
        )

        # Either way the host output depends on the cluster, so no SQL runs before it exists.
        given_host = a.host
        if given_host is not None:
            host = cluster.urn.apply(lambda _: given_host)
        else:
            # Empty until DSM publishes it; the providers then fail with a message naming the key.
            host = cluster.status.apply(lambda status: connection_host(status) or "")

        data = PostgresAppDatabase(
            name,
            PostgresAppDatabaseArgs(
                connection=PgConnection(
                    host=host,
                    port=a.port,
                    admin_user=a.admin_username,
                    admin_password=admin_password,
                    sslmode=a.sslmode,
                    sslrootcert=a.ssl_root_cert,
                    connect_timeout=a.connect_timeout,
                    config_keys=a.connection_config,
                ),
                database=a.database,
                owner_role=a.owner_role,
                app_role=a.app_role,
                schema=a.schema,
                app_password=a.app_password,
                app_password_rotation=a.app_password_rotation,
                app_can_create=a.app_can_create,
                connection_limit=a.connection_limit,
                extensions=tuple(a.extensions),
                protect=a.protect if a.protect_data is None else a.protect_data,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.host = host
        self.port = pulumi.Output.from_input(a.port)
        self.database = data.database
        self.app_user = data.app_user
        self.app_password = data.app_password
        self.sslmode = a.sslmode
        self.cluster_name = cluster.metadata.apply(lambda m: str(m["name"]))
        self.connection_url = pulumi.Output.secret(
            pulumi.Output.all(data.app_user, data.app_password, host, data.database).apply(
                lambda v: _url(
                    user=v[0], password=v[1], host=v[2], port=a.port, database=v[3], sslmode=a.sslmode
                )
            )
        )
        self.register_outputs(
            {
                "host": self.host,
                "port": self.port,
                "database": self.database,
                "app_user": self.app_user,
                "app_password": self.app_password,
                "sslmode": self.sslmode,
                "cluster_name": self.cluster_name,
                "connection_url": self.connection_url,
            }
        )


def _url(*, user: object, password: object, host: object, port: int, database: object, sslmode: str) -> str:
    credentials = f"{quote(str(user), safe='')}:{quote(str(password), safe='')}"
    return f"postgresql://{credentials}@{host}:{port}/{database}?sslmode={sslmode}"
