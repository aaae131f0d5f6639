"""The PostgreSQL side of a transfer: the server's own tools, sizes, and runs that report into
a transfer's live progress."""

from __future__ import annotations

import asyncio
from pathlib import Path

from paas.addons.pgbackups.transfers import Live
from paas.postgres import dumps
from paas.postgres.cluster import PostgresCluster
from paas.postgres.databases import AddonDatabase


class Runner:
    def __init__(self, cluster: PostgresCluster):
        self.cluster = cluster
        self._tools: dumps.DumpTools | None = None

    async def server_major(self) -> int:
        async with await self.cluster.connect_admin_async() as conn:
            row = await (await conn.execute("SHOW server_version_num")).fetchone()
        return int(row[0]) // 10000 if row else 0

    async def tools(self) -> dumps.DumpTools:
        if self._tools is None:
            major = await self.server_major()
            self._tools = await asyncio.to_thread(dumps.find_tools, self.cluster, major)
        return self._tools

    async def database_size(self, database: str) -> int:
        async with await self.cluster.connect_admin_async() as conn:
            row = await (await conn.execute("SELECT pg_database_size(%s)", (database,))).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    @staticmethod
    def dump(tools: dumps.DumpTools, db: AddonDatabase, out: Path, live: Live) -> int:
        return dumps.dump(tools, db, out, live)

    @staticmethod
    def restore(tools: dumps.DumpTools, db: AddonDatabase, archive: Path, live: Live) -> dumps.RestoreResult:
        return dumps.restore(tools, db, archive, live)
