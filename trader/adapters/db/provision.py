"""Create the `trader` role and the `trading_system` database on a PostgreSQL server.

Idempotent: running it again changes nothing. It connects with an administrator URL (a
superuser such as `postgres`), which is used for this step only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import asyncpg

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class ProvisioningError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class ProvisionResult:
    role_created: bool
    database_created: bool


def _identifier(name: str, what: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise ProvisioningError(f"{what} {name!r} is not a plain lower-case identifier")
    return f'"{name}"'


def _asyncpg_dsn(url: str) -> str:
    return re.sub(r"^postgresql\+asyncpg://", "postgresql://", url)


async def provision_database(
    admin_url: str,
    *,
    database: str = "trading_system",
    role: str = "trader",
    password: str | None = None,
) -> ProvisionResult:
    role_sql = _identifier(role, "role")
    database_sql = _identifier(database, "database")
    try:
        connection = await asyncpg.connect(_asyncpg_dsn(admin_url), timeout=10)
    except (OSError, asyncpg.PostgresError) as error:
        raise ProvisioningError(f"cannot connect as administrator: {error}") from error
    try:
        role_exists = await connection.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        if not role_exists:
            await connection.execute(f"CREATE ROLE {role_sql} LOGIN")
        if password:
            # Parameters cannot be bound in utility statements; quote the literal safely instead.
            literal = await connection.fetchval("SELECT quote_literal($1)", password)
            await connection.execute(f"ALTER ROLE {role_sql} WITH LOGIN PASSWORD {literal}")
        database_exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not database_exists:
            await connection.execute(f"CREATE DATABASE {database_sql} OWNER {role_sql}")
        else:
            await connection.execute(f"ALTER DATABASE {database_sql} OWNER TO {role_sql}")
    finally:
        await connection.close()
    # The public schema belongs to the database owner from PostgreSQL 15 on; grant it
    # explicitly so older servers behave the same.
    connection = await asyncpg.connect(_database_url_with(admin_url, database), timeout=10)
    try:
        await connection.execute(f"GRANT ALL ON SCHEMA public TO {role_sql}")
    finally:
        await connection.close()
    return ProvisionResult(role_created=not role_exists, database_created=not database_exists)


def _database_url_with(url: str, database: str) -> str:
    dsn = _asyncpg_dsn(url)
    scheme, rest = dsn.split("://", 1)
    authority, _, tail = rest.partition("/")
    query = tail.partition("?")[2]
    return f"{scheme}://{authority}/{database}" + (f"?{query}" if query else "")


async def drop_database(admin_url: str, database: str) -> None:
    """Drop a database (for scratch databases in tests and restore checks)."""
    database_sql = _identifier(database, "database")
    connection = await asyncpg.connect(_asyncpg_dsn(admin_url), timeout=10)
    try:
        await connection.execute(f"DROP DATABASE IF EXISTS {database_sql} WITH (FORCE)")
    finally:
        await connection.close()
