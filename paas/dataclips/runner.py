"""Runs one dataclip query safely: read-only, time-limited, row-capped, cancellable.

Every run opens its own connection (the add-on's own credentials, or the platform reader),
then `BEGIN READ ONLY` + a transaction-local `statement_timeout`, and sends the SQL with the
extended query protocol, which accepts exactly one statement: `COMMIT; DELETE ...` cannot
smuggle a second statement past the read-only transaction. Rows stream in chunks and the
run stops after `row_cap` rows (the truncation is reported). The transaction always rolls back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import re
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import errors as pg_errors

ROW_CAP = 100_000
CHUNK_ROWS = 2_000
COPY_CHUNK_BYTES = 256 * 1024

TIME_TYPES = {"date", "timestamp", "timestamptz"}
NUMBER_TYPES = {"int2", "int4", "int8", "float4", "float8", "numeric", "oid", "money"}
TEXT_TYPES = {"text", "varchar", "bpchar", "name", "char", "citext", "uuid", "inet", "cidr"}


@dataclass(frozen=True)
class Column:
    name: str
    type_name: str
    kind: str  # time | number | text | other


@dataclass
class ClipResult:
    columns: list[Column]
    values: list[tuple[Any, ...]]
    truncated: bool
    row_cap: int
    duration_ms: float
    ran_at: float = field(default_factory=time.time)
    message: str | None = None  # e.g. "The statement returned no rows."

    @property
    def fields(self) -> list[str]:
        return [c.name for c in self.columns]


_DONE = object()
_copy_threads = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="dataclips-copy")


class _ConsumerGone(Exception):
    """The HTTP client stopped reading an export."""


class NotCopyable(Exception):
    """COPY cannot wrap this SQL; format the rows in Python instead."""


class ClipError(Exception):
    """A query that did not produce a result, worded for the person who wrote it."""

    def __init__(
        self,
        message: str,
        kind: str = "error",
        position: int | None = None,
        sqlstate: str | None = None,
        hint: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.kind = kind  # read_only | timeout | canceled | syntax | multiple | unavailable | error
        self.position = position  # 1-based character offset in the clip's SQL
        self.sqlstate = sqlstate
        self.hint = hint

    def line_col(self, sql: str) -> tuple[int, int] | None:
        if self.position is None:
            return None
        before = sql[: self.position - 1]
        return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1

    def to_json(self, sql: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"message": self.message, "kind": self.kind, "position": self.position}
        if self.sqlstate:
            data["sqlstate"] = self.sqlstate
        if self.hint:
            data["hint"] = self.hint
        if sql is not None and (lc := self.line_col(sql)):
            data["line"], data["column"] = lc
        return data


def clean_sql(sql: str) -> str:
    """Drop trailing semicolons and whitespace (a habit from psql, not a second statement)."""
    return re.sub(r"[\s;]+\Z", "", sql)


def describe_duration(seconds: float) -> str:
    """As an adjective: "10-minute", "0.5-second"."""
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}-minute"
    return f"{seconds:g}-second"


class QueryRunner:
    def __init__(self, timeout: float = 600.0, row_cap: int = ROW_CAP):
        self.timeout = timeout
        self.row_cap = row_cap
        self._running: dict[str, set[tuple[int, str]]] = {}  # run key -> {(backend pid, conninfo)}
        self._canceled: set[tuple[str, int]] = set()
        self._lock = threading.Lock()  # _running is touched by export threads too

    @property
    def running(self) -> dict[str, int]:
        with self._lock:
            return {key: len(pids) for key, pids in self._running.items() if pids}

    # ---- connections -------------------------------------------------------------------
    async def _connect(self, conninfo: str) -> psycopg.AsyncConnection[Any]:
        try:
            return await psycopg.AsyncConnection.connect(
                conninfo,
                autocommit=True,
                # belt and braces: even a transaction we did not open is read-only
                options="-c default_transaction_read_only=on",
                application_name="paas dataclips",
            )
        except psycopg.OperationalError as e:
            raise ClipError(f"Cannot connect to the database: {_first_line(str(e))}", "unavailable") from e

    async def _begin(self, conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.execute("BEGIN TRANSACTION READ ONLY")
        timeout_ms = max(1, int(self.timeout * 1000))
        await conn.execute("SELECT set_config('statement_timeout', %s, true)", (f"{timeout_ms}ms",))

    @contextlib.asynccontextmanager
    async def _session(self, conninfo: str, key: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        conn = await self._connect(conninfo)
        entry = (conn.info.backend_pid, conninfo)
        with self._lock:
            self._running.setdefault(key, set()).add(entry)
        try:
            await self._begin(conn)
            yield conn
        finally:
            with self._lock:
                self._running.get(key, set()).discard(entry)
                if not self._running.get(key):
                    self._running.pop(key, None)
            with contextlib.suppress(Exception):
                await conn.execute("ROLLBACK")
            with contextlib.suppress(Exception):
                await conn.close()

    # ---- running -----------------------------------------------------------------------
    async def run(self, conninfo: str, sql: str, key: str = "adhoc") -> ClipResult:
        sql = clean_sql(sql)
        if not sql.strip():
            raise ClipError("The query is empty.", "syntax")
        started = time.perf_counter()
        async with self._session(conninfo, key) as conn:
            pid = conn.info.backend_pid
            try:
                return await self._fetch(conn, sql, started)
            except psycopg.Error as e:
                raise self._explain(e, (key, pid) in self._canceled) from None
            finally:
                self._canceled.discard((key, pid))

    async def _fetch(self, conn: psycopg.AsyncConnection[Any], sql: str, started: float) -> ClipResult:
        values: list[tuple[Any, ...]] = []
        truncated = False
        columns: list[Column] | None = None
        cur = conn.cursor()
        async for row in cur.stream(sql, size=CHUNK_ROWS):
            if columns is None:
                columns = _columns(conn, cur.description)
            if len(values) >= self.row_cap:
                truncated = True
                break  # leaving stream() cancels the rest of the query
            values.append(row)
        message = None
        if columns is None:
            columns = _columns(conn, cur.description)
            if not columns:
                message = "The statement returned no rows."
        return ClipResult(
            columns=columns,
            values=values,
            truncated=truncated,
            row_cap=self.row_cap,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            message=message,
        )

    async def copy_csv(self, conninfo: str, sql: str, key: str = "export") -> AsyncGenerator[bytes, None]:
        """CSV straight from the server with COPY (header + at most `row_cap` rows).

        Yields b"" first, once the query is accepted, so a caller can still answer with an
        error status; raises NotCopyable when COPY cannot wrap the SQL (SHOW, EXPLAIN, ...)
        and ClipError for SQL the server rejects.

        libpq hands COPY data over one row at a time; iterating that on the event loop costs
        more than the query itself, so a worker thread reads it with the blocking API and
        passes ~256 kB pieces through a small queue (backpressure: the thread waits for the
        client). Leaving early (client gone) cancels the query.
        """
        sql = clean_sql(sql)
        if not sql.strip():
            raise ClipError("The query is empty.", "syntax")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue(maxsize=4)
        stop = threading.Event()

        def emit(item: object) -> bool:
            future = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
            while True:
                try:
                    future.result(timeout=0.5)
                    return not stop.is_set()
                except concurrent.futures.TimeoutError:
                    if stop.is_set():
                        future.cancel()
                        return False

        worker = loop.run_in_executor(_copy_threads, self._copy_worker, conninfo, sql, key, emit)
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, bytes)
                yield item
        finally:
            stop.set()
            while not queue.empty():
                queue.get_nowait()
            with contextlib.suppress(Exception):
                await worker

    def _copy_worker(self, conninfo: str, sql: str, key: str, emit: Callable[[object], bool]) -> None:
        wrapped = f"SELECT * FROM (\n{sql}\n) AS dataclip"
        try:
            conn = psycopg.connect(
                conninfo,
                autocommit=True,
                options="-c default_transaction_read_only=on",
                application_name="paas dataclips",
            )
        except psycopg.OperationalError as e:
            emit(ClipError(f"Cannot connect to the database: {_first_line(str(e))}", "unavailable"))
            emit(_DONE)
            return
        entry = (conn.info.backend_pid, conninfo)
        with self._lock:
            self._running.setdefault(key, set()).add(entry)
        try:
            conn.execute("BEGIN TRANSACTION READ ONLY")
            conn.execute(
                "SELECT set_config('statement_timeout', %s, true)", (f"{max(1, int(self.timeout * 1000))}ms",)
            )
            try:
                # The extended protocol parses exactly one statement. If the wrapped text passes,
                # the COPY below (the same text in parentheses, sent with the simple protocol)
                # cannot carry a second statement either.
                for _ in conn.cursor().stream(wrapped + " LIMIT 0"):
                    pass
            except psycopg.Error as e:
                emit(NotCopyable(str(e)))
                return
            statement = f"COPY ({wrapped} LIMIT {self.row_cap}) TO STDOUT WITH (FORMAT csv, HEADER)"
            with conn.cursor().copy(statement) as copy:
                if not emit(b""):
                    raise _ConsumerGone
                pending: list[bytes] = []
                size = 0
                for data in copy:
                    pending.append(bytes(data))
                    size += len(data)
                    if size >= COPY_CHUNK_BYTES:
                        if not emit(b"".join(pending)):
                            raise _ConsumerGone  # psycopg cancels the COPY on the way out
                        pending, size = [], 0
                if pending:
                    emit(b"".join(pending))
        except _ConsumerGone:
            pass
        except psycopg.Error as e:
            emit(self._explain(e, (key, entry[0]) in self._canceled))
        finally:
            with self._lock:
                self._running.get(key, set()).discard(entry)
                if not self._running.get(key):
                    self._running.pop(key, None)
            self._canceled.discard((key, entry[0]))
            with contextlib.suppress(Exception):
                conn.close()
            emit(_DONE)

    async def cancel(self, key: str) -> int:
        """Cancel every running query of `key` with pg_cancel_backend; returns how many."""
        count = 0
        with self._lock:
            targets = list(self._running.get(key, ()))
        for pid, conninfo in targets:
            self._canceled.add((key, pid))
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                    row = await (await conn.execute("SELECT pg_cancel_backend(%s)", (pid,))).fetchone()
                    count += 1 if row and row[0] else 0
            except psycopg.Error:
                continue
        return count

    def _explain(self, e: psycopg.Error, canceled: bool) -> ClipError:
        diag = e.diag
        sqlstate = diag.sqlstate
        text = diag.message_primary or _first_line(str(e))
        position = int(diag.statement_position) if diag.statement_position else None
        hint = diag.message_hint
        if isinstance(e, pg_errors.ReadOnlySqlTransaction):
            return ClipError(
                f"Dataclips are read-only: {text}. Nothing was changed.",
                "read_only",
                position,
                sqlstate,
                hint,
            )
        if isinstance(e, pg_errors.QueryCanceled):
            if canceled:
                return ClipError("The query was cancelled.", "canceled", None, sqlstate)
            return ClipError(
                f"The query ran longer than the {describe_duration(self.timeout)} limit and was cancelled.",
                "timeout",
                None,
                sqlstate,
            )
        if sqlstate is None and "didn't produce a result" in text:
            return ClipError(
                "The statement ran but returns no rows; a dataclip shows a query's rows.", "no_result"
            )
        if "cannot insert multiple commands into a prepared statement" in text:
            return ClipError(
                "A dataclip runs one statement; remove the extra statements.", "multiple", None, sqlstate
            )
        if isinstance(e, pg_errors.SyntaxError):
            return ClipError(text, "syntax", position, sqlstate, hint)
        if isinstance(e, psycopg.OperationalError) and sqlstate is None:
            return ClipError(f"The database connection failed: {_first_line(str(e))}", "unavailable")
        return ClipError(text, "error", position, sqlstate, hint)


def _columns(conn: psycopg.AsyncConnection[Any], description: Any) -> list[Column]:
    if not description:
        return []
    columns = []
    for d in description:
        info = conn.adapters.types.get(d.type_code)
        type_name = info.name if info is not None else str(d.type_code)
        columns.append(Column(d.name, type_name, kind_of(type_name)))
    return columns


def kind_of(type_name: str) -> str:
    if type_name in TIME_TYPES:
        return "time"
    if type_name in NUMBER_TYPES:
        return "number"
    if type_name in TEXT_TYPES:
        return "text"
    return "other"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text
