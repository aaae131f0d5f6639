"""Where a clip's query runs: the credentials and the connection share of each target.

A target is `platform` (the router's request events, read by the platform reader role) or a
heroku-postgresql add-on's name (read by the add-on's read-only role, see
`paas.postgres.readers`). Never the app's own credentials.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import psycopg
from sqlalchemy import select

from common.errors import PaasError
from paas.dataclips.platform import PLATFORM_CONNECTIONS, PlatformRecorder
from paas.dataclips.results import ClipError
from paas.dataclips.runner import CREDENTIAL_STATES, connect_error
from paas.postgres.cluster import PostgresCluster
from paas.postgres.databases import AddonDatabase
from paas.postgres.readers import ReadOnlyRoles, reader_connection_limit
from paas.state.db import Database
from paas.state.models import Addon

PLATFORM = "platform"
POSTGRES_SERVICE = "heroku-postgresql"

T = TypeVar("T")


class ConnectionSources:
    def __init__(self, db: Database, cluster: PostgresCluster, platform: PlatformRecorder | None):
        self.db = db
        self.cluster = cluster
        self.platform = platform
        self.readers = ReadOnlyRoles(cluster)

    def database(self, target: str) -> AddonDatabase:
        with self.db.session() as s:
            data = s.scalar(
                select(Addon.provider_data).where(Addon.name == target, Addon.service == POSTGRES_SERVICE)
            )
        if not data:
            raise ClipError(
                f"The add-on {target} no longer exists; pick another database for this clip.", "unavailable"
            )
        return AddonDatabase.from_provider_data(data)

    def connection_limit(self, target: str) -> int:
        if target == PLATFORM:
            return PLATFORM_CONNECTIONS
        return reader_connection_limit(self.database(target).plan)

    async def conninfo(self, target: str) -> str:
        if target == PLATFORM:
            if self.platform is None:
                raise PaasError(
                    503, "platform_unavailable", "The platform database is not part of this daemon."
                )
            return await self.platform.reader_conninfo()
        database = self.database(target)
        try:
            await self.cluster.start()
            return await self.readers.ensure(database)
        except psycopg.OperationalError as e:
            raise connect_error(e) from e
        except psycopg.Error as e:
            raise ClipError(f"Cannot prepare read-only access to {target}: {e}", "unavailable") from e

    async def using(self, target: str, work: Callable[[str], Awaitable[T]]) -> T:
        """Run `work(conninfo)`; if the reader's grants are gone (pg:reset re-made the database),
        set them up again and try once more."""
        conninfo = await self.conninfo(target)
        try:
            return await work(conninfo)
        except ClipError as e:
            if not self.refresh_if_denied(target, e):
                raise
        return await work(await self.conninfo(target))

    def refresh_if_denied(self, target: str, error: ClipError) -> bool:
        """True (and the reader set up again on next use) when `error` says its grants are gone."""
        if target == PLATFORM or error.kind != "unavailable" or error.sqlstate not in CREDENTIAL_STATES:
            return False
        self.readers.forget(self.database(target))
        return True
