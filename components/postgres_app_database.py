"""`PostgresAppDatabase`: an application's database inside a PostgreSQL server, least privilege.

Given an admin connection, it declares:
- an owner role (NOLOGIN) that owns the database and the app's schema, so ownership never
  sits with a role anyone logs in as;
- the app's login role: NOSUPERUSER NOCREATEDB NOCREATEROLE, a connection limit, a
  password (given, or generated and rotated by bumping `app_password_rotation`), and a
  search_path that starts with its schema;
- the database, with PUBLIC's CONNECT/TEMPORARY revoked: only the app role may connect.
  (Whether the app can connect to *other* databases depends on their own ACLs: a fresh
  PostgreSQL grants CONNECT to PUBLIC on every database, so revoke it on databases that
  hold other data);
- the schema, owned by the owner role, with USAGE for the app role and, when
  `app_can_create` (the default), CREATE too: the backend creates its own tables at
  start-up and then owns them. With `app_can_create=False` the app only reads and
  writes tables the owner creates (migrations run as the owner);
- SELECT/INSERT/UPDATE/DELETE on the schema's existing tables, and default privileges that
  give the app the same on tables (USAGE/SELECT on sequences) the owner creates later;
- the requested extensions.

Objects inside the database are declared `deleted_with` it: a destroy drops the database
(ending sessions) instead of taking it apart object by object.

Renaming the database or a role (`database`, `owner_role`, `app_role`) is an update in
place: ALTER DATABASE/ROLE ... RENAME TO, and the objects that refer to them (grants,
default privileges, the schema, extensions) follow as updates, since they refer to the
Database and Role resources, not to their names (components/postgres/provider.py). The
schema's name is its identity: a new `schema` replaces it (refused while protected).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from components.password import Password
from components.postgres import (
    Database,
    DatabaseArgs,
    DefaultPrivileges,
    DefaultPrivilegesArgs,
    Extension,
    ExtensionArgs,
    Grant,
    GrantArgs,
    PgConnection,
    Role,
    RoleArgs,
    Schema,
    SchemaArgs,
)
from components.postgres.default_privileges import DefaultObject
from components.postgres.grant import GrantObject

APP_TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
APP_DEFAULT_PRIVILEGES: tuple[tuple[DefaultObject, tuple[str, ...]], ...] = (
    ("table", APP_TABLE_PRIVILEGES),
    ("sequence", ("USAGE", "SELECT")),
)


@dataclass(frozen=True)
class PostgresAppDatabaseArgs:
    """What to declare inside the server."""

    connection: PgConnection
    """Admin connection (CREATEROLE + CREATEDB; a superuser is not needed)."""
    database: str
    """Name of the app's database."""
    owner_role: str
    """NOLOGIN role that owns the database and the schema."""
    app_role: str
    """The role the app logs in as."""
    schema: str
    """The app's schema inside the database."""
    app_password: pulumi.Output[str] | None = None
    """The app role's password (a secret); None generates one."""
    app_password_rotation: int = 0
    """Bump to generate a new app password (when `app_password` is None); the old one stops working."""
    app_can_create: bool = True
    """Whether the app role may create tables in its schema (CREATE on the schema)."""
    connection_limit: int = 50
    """Maximum concurrent sessions of the app role."""
    extensions: Sequence[str] = ()
    """Extensions to create in the database, e.g. ("vector",) on DSM."""
    protect: bool = False
    """Protect the data from deletion and replacement: the database, the schema and the role owning them."""


class PostgresAppDatabase(pulumi.ComponentResource):
    """An owner role, an app login role, a database, a schema, grants, default privileges, extensions."""

    database: pulumi.Output[str]
    schema: pulumi.Output[str]
    app_user: pulumi.Output[str]
    app_password: pulumi.Output[str]

    def __init__(
        self, name: str, args: PostgresAppDatabaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("paif:data:PostgresAppDatabase", name, None, opts)
        a = args
        conn = a.connection
        child = pulumi.ResourceOptions(parent=self)

        # Given or generated, kept in state: a run without the given value sees the same one.
        app_password = Password(
            f"{name}-app-password",
            keepers={"rotation": str(a.app_password_rotation)},
            given=a.app_password,
            opts=child,
        ).result

        owner = Role(
            f"{name}-owner",
            RoleArgs(connection=conn, name=a.owner_role, login=False, grant_to_admin=True),
            pulumi.ResourceOptions(parent=self, protect=a.protect),
        )
        app = Role(
            f"{name}-app",
            RoleArgs(
                connection=conn,
                name=a.app_role,
                login=True,
                password=app_password,
                connection_limit=a.connection_limit,
                search_path=[a.schema, "public"],
            ),
            child,
        )
        # Depending on the app role too makes a destroy drop the database (and the
        # privileges the app role holds in it) before the role.
        database = Database(
            f"{name}-db",
            DatabaseArgs(connection=conn, name=a.database, owner=owner.name),
            pulumi.ResourceOptions(parent=self, depends_on=[app], protect=a.protect),
        )
        inside = pulumi.ResourceOptions(parent=self, deleted_with=database)
        schema = Schema(
            f"{name}-schema",
            SchemaArgs(connection=conn, database=database, name=a.schema, owner=owner.name),
            pulumi.ResourceOptions.merge(inside, pulumi.ResourceOptions(protect=a.protect)),
        )
        grants: list[tuple[str, GrantObject, pulumi.Input[str] | None, Sequence[str]]] = [
            ("connect", "database", None, ["CONNECT"]),
            ("schema-usage", "schema", schema.name, ["USAGE", "CREATE"] if a.app_can_create else ["USAGE"]),
            ("tables", "table", schema.name, APP_TABLE_PRIVILEGES),
        ]
        for suffix, object_type, in_schema, privileges in grants:
            Grant(
                f"{name}-{suffix}",
                GrantArgs(
                    connection=conn,
                    role=app,
                    object_type=object_type,
                    database=database,
                    schema=in_schema,
                    privileges=privileges,
                ),
                inside,
            )
        for default_type, privileges in APP_DEFAULT_PRIVILEGES:
            DefaultPrivileges(
                f"{name}-default-{default_type}s",
                DefaultPrivilegesArgs(
                    connection=conn,
                    database=database,
                    owner=owner,
                    schema=schema.name,
                    role=app,
                    object_type=default_type,
                    privileges=privileges,
                ),
                inside,
            )
        for extension in a.extensions:
            Extension(
                f"{name}-ext-{extension}",
                ExtensionArgs(connection=conn, database=database, name=extension),
                inside,
            )

        self.database = database.name
        self.schema = schema.name
        self.app_user = app.name
        self.app_password = pulumi.Output.secret(app_password)
        self.register_outputs(
            {
                "database": self.database,
                "schema": self.schema,
                "app_user": self.app_user,
                "app_password": self.app_password,
            }
        )
