"""PostgreSQL objects as Pulumi dynamic resources (types `pulumi-python:dynamic/postgres:<Kind>`).

The pulumi-postgresql provider plugin cannot be built here, so roles, databases, schemas,
grants, default privileges and extensions are managed over psycopg. Every statement is
composed with `psycopg.sql` (Identifier/Literal), never by formatting names into SQL.
"""

from components.postgres.connection import PgConnection, PostgresError, SslMode
from components.postgres.database import Database, DatabaseArgs
from components.postgres.default_privileges import DefaultPrivileges, DefaultPrivilegesArgs
from components.postgres.extension import Extension, ExtensionArgs
from components.postgres.grant import Grant, GrantArgs
from components.postgres.role import Role, RoleArgs
from components.postgres.schema import Schema, SchemaArgs

__all__ = [
    "Database",
    "DatabaseArgs",
    "DefaultPrivileges",
    "DefaultPrivilegesArgs",
    "Extension",
    "ExtensionArgs",
    "Grant",
    "GrantArgs",
    "PgConnection",
    "PostgresError",
    "Role",
    "RoleArgs",
    "Schema",
    "SchemaArgs",
    "SslMode",
]
