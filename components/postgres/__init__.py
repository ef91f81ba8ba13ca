"""PostgreSQL objects as Pulumi dynamic resources (types `pulumi-python:dynamic/postgres:<Kind>`).

The pulumi-postgresql provider plugin cannot be built here, so roles, databases, schemas,
grants, default privileges and extensions are managed over psycopg. Every statement is
composed with `psycopg.sql` (Identifier/Literal), never by formatting names into SQL.
"""

from components.postgres.connection import PgConnection, PostgresError, SslMode
from components.postgres.database import Database
from components.postgres.default_privileges import DefaultPrivileges
from components.postgres.extension import Extension
from components.postgres.grant import Grant
from components.postgres.role import Role
from components.postgres.schema import Schema

__all__ = [
    "Database",
    "DefaultPrivileges",
    "Extension",
    "Grant",
    "PgConnection",
    "PostgresError",
    "Role",
    "Schema",
    "SslMode",
]
