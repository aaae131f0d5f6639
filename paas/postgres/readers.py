"""Read-only credentials for an add-on's database: what dataclips connect with.

Each add-on gets a reader role beside its owner role (like a Heroku additional credential): it
may log in to that one database and SELECT every table, view and sequence the owner has, now and
later (default privileges), and nothing else. Two reasons it is not the app's own role:

- PostgreSQL lets only a role that may write a table lock it harder than ACCESS SHARE
  (`LOCK TABLE ... IN ACCESS EXCLUSIVE MODE` needs UPDATE, DELETE or TRUNCATE on it), inside `DO`
  or not, and a READ ONLY transaction does not forbid strong locks. A SELECT-only role cannot
  take a lock that would block the app's writes.
- Its connections count against its own CONNECTION LIMIT (a quarter of the plan's, at most ten),
  never against the app's role: dataclips under load cannot exhaust DATABASE_URL.

The password is made by each daemon process and kept in memory only; the first use after a start
sets it (and re-applies the grants, so a database re-made by pg:reset is covered again).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from paas.postgres.cluster import PostgresCluster
from paas.postgres.databases import AddonDatabase, Plan

READER_SUFFIX = "_clips"
MAX_READER_CONNECTIONS = 10
# server-side defaults for the reader's sessions; the runner also sets them per transaction
READER_SETTINGS = {
    "default_transaction_read_only": "on",
    "idle_in_transaction_session_timeout": "60s",
    "lock_timeout": "5s",
}
_SCHEMAS = """
SELECT nspname FROM pg_namespace
WHERE nspname <> 'information_schema' AND nspname NOT LIKE 'pg\\_%'
  AND pg_has_role(nspowner, 'USAGE')
"""


def reader_role(owner: str) -> str:
    return owner + READER_SUFFIX


def reader_connection_limit(plan: Plan) -> int:
    """The share of a plan's connections dataclips may use."""
    return max(1, min(MAX_READER_CONNECTIONS, plan.connections // 4))


async def drop_reader(admin: psycopg.AsyncConnection[Any], owner: str) -> None:
    """Drop an add-on's reader role (after its database is gone)."""
    await admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(reader_role(owner))))


class ReadOnlyRoles:
    """Sets up reader roles on first use in this process and hands out their conninfo."""

    def __init__(self, cluster: PostgresCluster):
        self.cluster = cluster
        self._passwords: dict[str, str] = {}  # reader role -> this process's password
        self._ready: set[tuple[str, str]] = set()  # (database, role) set up in this process
        self._locks: dict[str, asyncio.Lock] = {}

    def conninfo(self, db: AddonDatabase) -> str:
        role = reader_role(db.user)
        return make_conninfo(
            host=db.host,
            port=str(db.port),
            user=role,
            password=self._passwords.get(role, ""),
            dbname=db.database,
            connect_timeout="10",
        )

    def is_ready(self, db: AddonDatabase) -> bool:
        return (db.database, reader_role(db.user)) in self._ready

    def forget(self, db: AddonDatabase) -> None:
        """The grants may be gone (the database was re-made): set them up again on next use."""
        self._ready.discard((db.database, reader_role(db.user)))

    async def ensure(self, db: AddonDatabase) -> str:
        """The reader's conninfo, creating the role and granting on first use."""
        key = (db.database, reader_role(db.user))
        if key not in self._ready:
            lock = self._locks.setdefault(db.database, asyncio.Lock())
            async with lock:
                if key not in self._ready:
                    await self._create_role(db)
                    await self._grant(db)
                    self._ready.add(key)
        return self.conninfo(db)

    async def _create_role(self, db: AddonDatabase) -> None:
        role = reader_role(db.user)
        password = self._passwords.setdefault(role, secrets.token_hex(24))
        ident = sql.Identifier(role)
        admin = await self.cluster.connect_admin_async()
        async with admin:
            found = await (
                await admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
            ).fetchone()
            verb = "ALTER" if found else "CREATE"
            with contextlib.suppress(psycopg.errors.DuplicateObject):  # another daemon made it just now
                await admin.execute(
                    sql.SQL(
                        verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                        "CONNECTION LIMIT {} PASSWORD {}"
                    ).format(ident, sql.Literal(reader_connection_limit(db.plan)), sql.Literal(password))
                )
            for name, value in READER_SETTINGS.items():
                await admin.execute(
                    sql.SQL("ALTER ROLE {} SET {} = {}").format(
                        ident, sql.Identifier(name), sql.Literal(value)
                    )
                )

    async def _owner_connection(self, db: AddonDatabase) -> psycopg.AsyncConnection[Any]:
        """A connection acting as the add-on's owner: the superuser with SET ROLE (no slot of the
        app's taken, whatever its load), or else the owner's own credentials."""
        with contextlib.suppress(psycopg.OperationalError):
            conn = await self.cluster.connect_admin_async(db.database)
            row = await (await conn.execute("SELECT current_setting('is_superuser')")).fetchone()
            if row is not None and row[0] == "on":
                await conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(db.user)))
                return conn
            await conn.close()
        return await psycopg.AsyncConnection.connect(db.conninfo(), autocommit=True)

    async def _grant(self, db: AddonDatabase) -> None:
        """As the owner (who may grant on what it owns, on any server): read access, now and later."""
        reader = sql.Identifier(reader_role(db.user))
        owner = sql.Identifier(db.user)
        async with await self._owner_connection(db) as conn:
            await conn.execute(
                sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(db.database), reader)
            )
            schemas = [row[0] for row in await (await conn.execute(_SCHEMAS)).fetchall()]
            for name in schemas:
                schema = sql.Identifier(name)
                for statement in (
                    "GRANT USAGE ON SCHEMA {schema} TO {reader}",
                    "GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {reader}",
                    "GRANT SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {reader}",
                ):
                    await conn.execute(sql.SQL(statement).format(schema=schema, reader=reader))
            for kind, privilege in (("TABLES", "SELECT"), ("SEQUENCES", "SELECT"), ("SCHEMAS", "USAGE")):
                await conn.execute(
                    sql.SQL(
                        "ALTER DEFAULT PRIVILEGES FOR ROLE {} GRANT " + privilege + " ON " + kind + " TO {}"
                    ).format(owner, reader)
                )
