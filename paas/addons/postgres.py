"""The heroku-postgresql add-on: one database and one role per add-on on the PostgreSQL server.

The server itself (embedded or external) is `paas.postgres.cluster`; this module only provisions,
resets, describes and drops add-on databases on it.

Isolation follows Heroku's: each add-on's database is owned by its own role, and CONNECT is
revoked from PUBLIC, so one app's credentials cannot open another add-on's database.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from typing import Any

import psycopg
from psycopg import sql

from common.config import Settings
from common.errors import invalid
from paas.addons.base import Provisioned
from paas.postgres.cluster import PostgresCluster
from paas.postgres.databases import DEFAULT_PLAN, PLANS, AddonDatabase, plan_of, url_of
from paas.postgres.readers import drop_reader

log = logging.getLogger("paas.postgres")

SERVICE = "heroku-postgresql"
ALIASES = ("postgres", "postgresql", "heroku-postgres")


def addon_names(addon_name: str) -> tuple[str, str]:
    """(database, role) of an add-on, derived from its unique name: a provisioning cut short by a
    crash, before its provider data was stored, is found and rolled back from the name alone."""
    digest = hashlib.sha256(addon_name.encode()).hexdigest()[:13]
    return "d" + digest, "u" + digest


class PostgresProvider:
    """`AddonProvider` for heroku-postgresql."""

    service = SERVICE
    aliases = ALIASES
    plans = tuple(PLANS)
    default_plan = DEFAULT_PLAN
    attachment = "DATABASE"
    name_prefix = "postgresql"

    def __init__(self, settings: Settings, cluster: PostgresCluster | None = None):
        self.settings = settings
        self.cluster = cluster or PostgresCluster(settings)
        self._warm_start: asyncio.Task[Any] | None = None
        if not self.cluster.external and (self.cluster.data_dir / "PG_VERSION").exists():
            # Add-ons made by an earlier daemon: their apps expect DATABASE_URL to answer, so a
            # cluster that exists starts with the daemon (in the background); a new one stays lazy.
            with contextlib.suppress(RuntimeError):  # no running loop: first use starts it
                self._warm_start = asyncio.get_running_loop().create_task(self._start_quietly())

    async def _start_quietly(self) -> None:
        try:
            await self.cluster.start()
        except Exception as e:
            log.warning("the embedded PostgreSQL did not start: %s", e)

    async def provision(self, app: str, addon_name: str, plan: str) -> Provisioned:
        if plan not in PLANS:
            raise invalid(
                f'Couldn\'t find either the add-on service or the add-on plan of "{SERVICE}:{plan}".'
            )
        address = await self.cluster.start()
        dbname, user = addon_names(addon_name)
        password = secrets.token_hex(32)
        limit = PLANS[plan].connections
        conn = await self.cluster.connect_admin_async()
        async with conn:
            await conn.execute(
                sql.SQL(
                    "CREATE ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOCREATEDB NOCREATEROLE CONNECTION LIMIT {}"
                ).format(sql.Identifier(user), sql.Literal(password), sql.Literal(limit))
            )
            try:
                await self._create_database(conn, dbname, user)
            except BaseException:
                with contextlib.suppress(psycopg.Error):
                    await conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(user)))
                raise
        data = {
            "host": address.host,
            "port": address.port,
            "database": dbname,
            "user": user,
            "password": password,
            "plan": plan,
            "external": self.cluster.external,
            "app": app,
        }
        return Provisioned(config={"DATABASE_URL": url_of(data)}, provider_data=data)

    async def _create_database(self, conn: psycopg.AsyncConnection[Any], dbname: str, owner: str) -> None:
        await conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(dbname), sql.Identifier(owner))
        )
        await conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(dbname)))
        await conn.execute(
            sql.SQL("GRANT ALL ON DATABASE {} TO {}").format(sql.Identifier(dbname), sql.Identifier(owner))
        )

    async def deprovision(self, addon_name: str, provider_data: dict[str, Any]) -> None:
        """Idempotent; with no provider data (provisioning was cut short) the derived names go."""
        derived = addon_names(addon_name)
        dbname = provider_data.get("database") or derived[0]
        user = provider_data.get("user") or derived[1]
        conn = await self.cluster.connect_admin_async()
        async with conn:
            await conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
            )
            await drop_reader(conn, str(user))
            await conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(user)))

    async def reset(self, provider_data: dict[str, Any]) -> None:
        """pg:reset: an empty database under the same name and credentials."""
        dbname, user = provider_data["database"], provider_data["user"]
        conn = await self.cluster.connect_admin_async()
        async with conn:
            await conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
            )
            await self._create_database(conn, dbname, user)

    async def info(self, provider_data: dict[str, Any]) -> dict[str, Any]:
        """What pg:info shows, measured on the server."""
        dbname = provider_data["database"]
        plan = plan_of(provider_data.get("plan"))
        conn = await self.cluster.connect_admin_async()
        async with conn:
            version = (await (await conn.execute("SHOW server_version")).fetchone() or ["?"])[0]
            row = await (
                await conn.execute(
                    "SELECT pg_database_size(%s), (SELECT count(*) FROM pg_stat_activity WHERE datname = %s)",
                    (dbname, dbname),
                )
            ).fetchone()
        size, connections = row or (0, 0)
        tables = 0
        with contextlib.suppress(psycopg.Error):
            async with await self.connect_app_async(provider_data) as app_conn:
                trow = await (
                    await app_conn.execute(
                        "SELECT count(*) FROM information_schema.tables "
                        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'"
                    )
                ).fetchone()
                tables = int(trow[0]) if trow else 0
        return {
            "plan": plan.name,
            "status": "Available",
            "connections": int(connections),
            "connection_limit": plan.connections,
            "pg_version": str(version).split()[0],
            "data_size": int(size),
            "storage_limit": plan.storage_gb * 1024**3,
            "tables": tables,
            "database": dbname,
        }

    async def connect_app_async(
        self, provider_data: dict[str, Any], **extra: Any
    ) -> psycopg.AsyncConnection[Any]:
        """A connection with the add-on's own credentials (what the app itself would use)."""
        await self.cluster.start()
        database = AddonDatabase.from_provider_data(provider_data)
        return await psycopg.AsyncConnection.connect(database.conninfo(**extra), autocommit=True)

    async def stop(self) -> None:
        """The server itself is stopped by the daemon (dataclips use it too)."""
        if self._warm_start is not None and not self._warm_start.done():
            with contextlib.suppress(BaseException):
                await self._warm_start
