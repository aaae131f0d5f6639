"""Runs and CSV exports of saved clips: one execution per clip version at a time.

Twenty people opening a share link together get one query, not twenty: a run (or an export) of a
clip version that is already under way is joined, not started again, and a result under a minute
old is served from the cache. Every execution first takes a connection from its database's budget
(dataclips' bounded share), so whatever the traffic, dataclips hold at most that many connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from functools import partial

from paas.dataclips.budget import ConnectionBudget
from paas.dataclips.cache import Key, ResultCache
from paas.dataclips.copyout import CsvExport, notice_row
from paas.dataclips.export import csv_chunks
from paas.dataclips.results import ClipError, ClipResult, NotCopyable
from paas.dataclips.runner import QueryRunner
from paas.dataclips.sources import ConnectionSources


class Executions:
    def __init__(
        self, runner: QueryRunner, sources: ConnectionSources, budget: ConnectionBudget, cache: ResultCache
    ):
        self.runner = runner
        self.sources = sources
        self.budget = budget
        self.cache = cache
        self._runs: dict[Key, asyncio.Task[ClipResult]] = {}
        self._exports: dict[Key, asyncio.Task[CsvExport]] = {}
        self.joined = 0  # requests that joined an execution already under way

    @property
    def in_flight(self) -> int:
        return len(self._runs) + len(self._exports)

    # ---- results (the page, the JSON, the editor) --------------------------------------
    async def result(self, key: Key, target: str, sql: str, run_key: str, fresh: bool = False) -> ClipResult:
        """The clip's rows; a result under a minute old is reused unless `fresh`.
        A run of the same clip version under way is joined either way."""
        if not fresh and (cached := self.cache.result(key)) is not None:
            return cached
        task = self._runs.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._run(key, target, sql, run_key))
            self._runs[key] = task
            task.add_done_callback(partial(self._run_done, key))
        else:
            self.joined += 1
        return await asyncio.shield(task)

    async def _run(self, key: Key, target: str, sql: str, run_key: str) -> ClipResult:
        with self.budget.slot(target, self.sources.connection_limit(target)):
            result = await self.sources.using(target, partial(self.runner.run, sql=sql, key=run_key))
        self.cache.put_result(key, result)
        return result

    def _run_done(self, key: Key, task: asyncio.Task[ClipResult]) -> None:
        if self._runs.get(key) is task:
            del self._runs[key]
        if not task.cancelled():
            task.exception()  # every waiter saw it; do not log it as never retrieved

    # ---- CSV (the share link's .csv) ---------------------------------------------------
    async def csv(self, key: Key, target: str, sql: str, run_key: str) -> AsyncIterator[bytes]:
        """The clip's CSV as chunks; SQL errors raise here, before the first chunk."""
        cached = self.cache.get(key)
        if cached is not None and cached.csv_size >= 0:
            return _pieces(cached.csv)
        if cached is not None and cached.result is not None:
            return _pieces(result_csv(cached.result))
        try:
            export = await self._accepted_export(key, target, sql, run_key)
        except NotCopyable:  # SHOW, EXPLAIN, ...: COPY cannot wrap it; format the rows here
            return _pieces(result_csv(await self.result(key, target, sql, run_key)))
        return export.chunks()

    async def _accepted_export(self, key: Key, target: str, sql: str, run_key: str) -> CsvExport:
        flight = self._exports.get(key)
        if flight is None or _stopped(flight):  # (a stopped export is being cancelled)
            # registered before the first await: whoever comes next joins this one
            flight = asyncio.get_running_loop().create_task(self._open_export(key, target, sql, run_key))
            self._exports[key] = flight
            flight.add_done_callback(partial(self._open_done, key))
        else:
            self.joined += 1
        return await asyncio.shield(flight)

    async def _open_export(self, key: Key, target: str, sql: str, run_key: str) -> CsvExport:
        """Start the COPY and wait until the server accepts it (once more if the grants were gone)."""
        export = await self._start_export(key, target, sql, run_key)
        try:
            await export.accepted()
        except ClipError as e:
            if not self.sources.refresh_if_denied(target, e):
                raise
            export = await self._start_export(key, target, sql, run_key)
            await export.accepted()
        return export

    async def _start_export(self, key: Key, target: str, sql: str, run_key: str) -> CsvExport:
        flight = asyncio.current_task()
        give_back = self.budget.take(target, self.sources.connection_limit(target))
        try:
            conninfo = await self.sources.conninfo(target)
            export = CsvExport.start(self.runner, conninfo, sql, run_key)
        except BaseException:
            give_back()
            raise
        export.on_finish(partial(self._export_done, key, flight, export, give_back))
        return export

    def _open_done(self, key: Key, flight: asyncio.Task[CsvExport]) -> None:
        """A flight that failed to start is forgotten now; one that started, when its export ends."""
        failed = flight.cancelled() or flight.exception() is not None  # (exception() retrieves it)
        if failed and self._exports.get(key) is flight:
            del self._exports[key]

    def _export_done(
        self, key: Key, flight: object, export: CsvExport, give_back: Callable[[], None]
    ) -> None:
        give_back()
        if self._exports.get(key) is flight and flight is not None:
            del self._exports[key]
        if export.ok:
            self.cache.put_csv(key, export.pieces, export.size)


def _stopped(flight: asyncio.Task[CsvExport]) -> bool:
    return flight.done() and not flight.cancelled() and flight.exception() is None and flight.result().stopped


def result_csv(result: ClipResult) -> list[bytes]:
    chunks = list(csv_chunks(result))
    if result.notice is not None:
        chunks.append(notice_row(result.notice))
    return chunks


async def _pieces(pieces: Iterable[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece
