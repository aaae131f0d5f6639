"""A clip's CSV straight from the server with COPY: read once, streamed to every client asking.

A worker thread reads `COPY (...) TO STDOUT` with the blocking API (libpq hands COPY data over
one row at a time; iterating that on the event loop costs more than the query itself) and appends
~256 kB pieces to the export as fast as the server sends them. So the connection, and whatever
the query holds, lasts as long as the query runs, never as long as a slow client takes to read;
the pieces stay in memory (never more than `byte_cap`), and every client asking for the same clip
meanwhile reads the same pieces: one execution for all of them. The rows stop at `row_cap` or
`byte_cap`, and a last CSV row then says so. When every client leaves before the end, the query
is cancelled.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import csv
import io
import threading
from collections.abc import AsyncGenerator, Callable, Iterable
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.abc import Buffer

from paas.dataclips.results import ClipError, NotCopyable, truncation_notice
from paas.dataclips.runner import (
    APPLICATION_NAME,
    CONNECT_OPTIONS,
    SET_LIMITS,
    Limits,
    Running,
    check_sql,
    connect_error,
)

if TYPE_CHECKING:
    from paas.dataclips.runner import QueryRunner

PIECE_BYTES = 256 * 1024
_copy_threads = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="dataclips-copy")


def notice_row(notice: str) -> bytes:
    """The CSV row that says a cap cut the export (one field, so spreadsheets show it whole)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([f"Dataclip truncated: {notice}"])
    return out.getvalue().encode()


class CsvExport:
    """The pieces of one COPY, shared by every reader; filled by a worker thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limits: Limits):
        self._loop = loop
        self.limits = limits
        self.pieces: list[bytes] = []
        self.size = 0
        self.rows = 0
        self.truncated_by: str | None = None
        self.error: BaseException | None = None
        self.done = False
        self.abandoned = False
        self._accepted: asyncio.Future[None] = loop.create_future()
        self._finished: asyncio.Future[None] = loop.create_future()
        self._changed = asyncio.Event()
        self._stop = threading.Event()
        self._readers = 0
        self._on_finish: list[Callable[[], None]] = []

    @classmethod
    def start(cls, runner: QueryRunner, conninfo: str, sql: str, key: str) -> CsvExport:
        sql = check_sql(sql)
        loop = asyncio.get_running_loop()
        export = cls(loop, runner.limits)
        worker = _CopyWorker(runner, export, conninfo, sql, key)
        loop.run_in_executor(_copy_threads, worker.run)
        return export

    # ---- the loop's side ---------------------------------------------------------------
    async def accepted(self) -> None:
        """Returns once the server runs the COPY; raises ClipError or NotCopyable otherwise."""
        await asyncio.shield(self._accepted)

    async def finished(self) -> None:
        await asyncio.shield(self._finished)

    def on_finish(self, callback: Callable[[], None]) -> None:
        """Call `callback` (on the loop) once the worker is done and its connection closed."""
        if self.done:
            callback()
        else:
            self._on_finish.append(callback)

    @property
    def ok(self) -> bool:
        return self.done and self.error is None and not self.abandoned

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        self._readers += 1
        index = 0
        try:
            while True:
                while index < len(self.pieces):
                    index += 1
                    yield self.pieces[index - 1]
                if self.done:
                    if self.error is not None:
                        raise self.error
                    return
                self._changed.clear()
                await self._changed.wait()
        finally:
            self._readers -= 1
            if self._readers == 0 and not self.done:
                self._stop.set()  # nobody reads any more: the worker cancels the query

    # ---- called on the loop for the worker thread (through `call`) ----------------------
    def append_piece(self, piece: bytes) -> None:
        self.pieces.append(piece)
        self._changed.set()

    def mark_accepted(self, error: BaseException | None) -> None:
        if self._accepted.done():
            return
        if error is None:
            self._accepted.set_result(None)
        else:
            self._accepted.set_exception(error)

    def mark_finished(self, error: BaseException | None, abandoned: bool) -> None:
        if abandoned and error is None:  # a reader arriving late must not take a cut-off CSV as whole
            error = ClipError("The export was cancelled: every client had left.", "canceled")
        self.error = error
        self.abandoned = abandoned
        self.done = True
        for callback in self._on_finish:
            callback()
        self.mark_accepted(error or ClipError("The export stopped before it began.", "canceled"))
        self._changed.set()
        if not self._finished.done():
            self._finished.set_result(None)

    # ---- used from the worker thread ---------------------------------------------------
    def call(self, fn: Callable[..., None], *args: Any) -> bool:
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: the daemon is stopping
            return False
        return True

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()


class _CopyWorker:
    def __init__(self, runner: QueryRunner, export: CsvExport, conninfo: str, sql: str, key: str):
        self.runner = runner
        self.export = export
        self.conninfo = conninfo
        self.sql = sql
        self.key = key
        self.pending: list[bytes] = []

    def run(self) -> None:
        error: BaseException | None = None
        try:
            conn = psycopg.connect(
                self.conninfo, autocommit=True, options=CONNECT_OPTIONS, application_name=APPLICATION_NAME
            )
        except psycopg.OperationalError as e:
            self.export.call(self.export.mark_finished, connect_error(e), False)
            return
        entry = Running(lambda: asyncio.to_thread(conn.cancel_safe))
        try:
            with self.runner.track(self.key, entry):
                self._copy(conn)
        except (NotCopyable, ClipError) as e:
            error = e
        except psycopg.Error as e:
            error = self.runner.explain(e, entry.canceled)
        finally:
            with contextlib.suppress(Exception):
                conn.close()
            self.export.call(self.export.mark_finished, error, self.export.stopped)

    def _copy(self, conn: psycopg.Connection[Any]) -> None:
        limits = self.runner.limits
        conn.execute("BEGIN TRANSACTION READ ONLY")
        conn.execute(SET_LIMITS, limits.transaction_settings())
        wrapped = f"SELECT * FROM (\n{self.sql}\n) AS dataclip"
        try:
            # The extended protocol parses exactly one statement. If the wrapped text passes,
            # the COPY below (the same text in parentheses, sent with the simple protocol)
            # cannot carry a second statement either.
            for _ in conn.cursor().stream(wrapped + " LIMIT 0"):
                pass
        except psycopg.Error as e:
            raise NotCopyable(str(e)) from e
        statement = f"COPY ({wrapped} LIMIT {limits.row_cap + 1}) TO STDOUT WITH (FORMAT csv, HEADER)"
        with conn.cursor().copy(statement) as copy:
            self.export.call(self.export.mark_accepted, None)
            self._read(copy)  # leaving the block early cancels the COPY on the server
        export = self.export
        notice = truncation_notice(export.truncated_by, export.rows, limits.row_cap, limits.byte_cap)
        if notice is not None:
            self.pending.append(notice_row(notice))
        self._send()

    def _read(self, copy: Iterable[Buffer]) -> None:
        """Rows (one per item, the header first) into pieces, until the end or a cap.
        The hot loop of an export: locals only, the stop flag checked once a piece."""
        export, limits = self.export, self.runner.limits
        byte_cap, rows_with_header = limits.byte_cap, limits.row_cap + 1
        rows = size = 0
        pending, pending_size = self.pending, 0
        for data in copy:
            n = len(data)
            if size + n > byte_cap or rows == rows_with_header:
                export.truncated_by = "bytes" if size + n > byte_cap else "rows"
                break
            rows += 1
            size += n
            pending.append(bytes(data))
            pending_size += n
            if pending_size >= PIECE_BYTES:
                self._send()
                pending, pending_size = self.pending, 0
                if export.stopped:
                    break
        export.rows, export.size = max(0, rows - 1), size

    def _send(self) -> None:
        if self.pending:
            self.export.call(self.export.append_piece, b"".join(self.pending))
            self.pending = []
