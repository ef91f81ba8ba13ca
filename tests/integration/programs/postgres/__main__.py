"""PostgresAppDatabase against a PostgreSQL server given in config (tests/integration/test_postgres_real.py).

Config (project namespace): host, port, adminUser, adminPassword (secret), extensions (JSON
list), appPasswordRotation (int), database, schema (default chat), ownerRole (default chat_owner),
appRole (default chat_app), protect (bool, default false). The server is plain TCP on loopback, so sslmode=disable.
"""

import pulumi

from components.postgres import PgConnection
from components.postgres_app_database import PostgresAppDatabase, PostgresAppDatabaseArgs

config = pulumi.Config()
connection = PgConnection(
    host=config.require("host"),
    port=config.require_int("port"),
    admin_user=config.require("adminUser"),
    admin_password=config.require_secret("adminPassword"),
    sslmode="disable",
    connect_timeout=5,
    connect_attempts=2,
)
data = PostgresAppDatabase(
    "chat",
    PostgresAppDatabaseArgs(
        connection=connection,
        database=config.get("database") or "chat",
        owner_role=config.get("ownerRole") or "chat_owner",
        app_role=config.get("appRole") or "chat_app",
        schema=config.get("schema") or "chat",
        app_password_rotation=config.get_int("appPasswordRotation") or 0,
        connection_limit=5,
        extensions=tuple(config.get_object("extensions") or ()),
        protect=config.get_bool("protect") or False,
    ),
)
pulumi.export("database", data.database)
pulumi.export("schema", data.schema)
pulumi.export("appUser", data.app_user)
pulumi.export("appPassword", data.app_password)
