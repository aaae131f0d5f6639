"""Runs one dataclip query safely: read-only, time-limited, capped, cancellable.

Every run opens its own connection (the add-on's read-only credential, or the platform reader),
then `BEGIN READ ONLY` with transaction-local `statement_timeout`, `lock_timeout` and
`idle_in_transaction_session_timeout`, and sends the SQL with the extended query protocol, which
accepts exactly one statement: `COMMIT; DELETE ...` cannot smuggle a second statement past the
read-only transaction. Rows stream in chunks; the run stops after `row_cap` rows or `byte_cap`
bytes (the result says which). The transaction always rolls back.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from paas.dataclips.results import (
    BYTE_CAP,
    ROW_CAP,
    ClipBusy,
    ClipError,
    ClipResult,
    Column,
    kind_of,
    rows_size,
)

CHUNK_ROWS = 2_000
LOCK_TIMEOUT = 5.0
IDLE_TIMEOUT = 60.0
APPLICATION_NAME = "paas dataclips"
# belt and braces: even a transaction we did not open is read-only
CONNECT_OPTIONS = "-c default_transaction_read_only=on"
SET_LIMITS = (
    "SELECT set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true), "
    "set_config('idle_in_transaction_session_timeout', %s, true)"
)
# connection failures that mean "the reader's grants or password are not (or no longer) in place"
CREDENTIAL_STATES = {"42501", "28000", "28P01"}


@dataclass(frozen=True)
class Limits:
    timeout: float = 600.0  # statement_timeout: Heroku cancels dataclips after 10 minutes
    row_cap: int = ROW_CAP
    byte_cap: int = BYTE_CAP
    lock_timeout: float = LOCK_TIMEOUT  # never queue long behind the app's locks
    idle_timeout: float = IDLE_TIMEOUT  # a stalled daemon never holds a transaction open

    def transaction_settings(self) -> tuple[str, str, str]:
        return _ms(self.timeout), _ms(self.lock_timeout), _ms(self.idle_timeout)


def _ms(seconds: float) -> str:
    return f"{max(1, int(seconds * 1000))}ms"


class Running:
    """One backend working for a run key; `cancel` asks the server to stop its query."""

    def __init__(self, cancel: Callable[[], Awaitable[None]]):
        self._cancel = cancel
        self.canceled = False

    async def cancel(self) -> bool:
        self.canceled = True
        try:
            await self._cancel()
        except psycopg.Error:
            return False
        return True


def clean_sql(sql: str) -> str:
    """Drop trailing semicolons and whitespace (a habit from psql, not a second statement)."""
    return re.sub(r"[\s;]+\Z", "", sql)


def check_sql(sql: str) -> str:
    sql = clean_sql(sql)
    if not sql.strip():
        raise ClipError("The query is empty.", "syntax")
    return sql


def describe_duration(seconds: float) -> str:
    """As an adjective: "10-minute", "0.5-second"."""
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}-minute"
    return f"{seconds:g}-second"


def connect_error(e: psycopg.OperationalError) -> ClipError:
    sqlstate = e.sqlstate or _sqlstate_in(str(e))
    if sqlstate == "53300":
        return ClipBusy("The database has no connection to spare for dataclips right now.")
    return ClipError(
        f"Cannot connect to the database: {_first_line(str(e))}", "unavailable", sqlstate=sqlstate
    )


class QueryRunner:
    def __init__(
        self,
        timeout: float = 600.0,
        row_cap: int = ROW_CAP,
        byte_cap: int = BYTE_CAP,
        lock_timeout: float = LOCK_TIMEOUT,
    ):
        self.limits = Limits(timeout=timeout, row_cap=row_cap, byte_cap=byte_cap, lock_timeout=lock_timeout)
        self._running: dict[str, list[Running]] = {}
        self._lock = threading.Lock()  # _running is touched by export threads too

    @property
    def timeout(self) -> float:
        return self.limits.timeout

    @property
    def row_cap(self) -> int:
        return self.limits.row_cap

    @property
    def byte_cap(self) -> int:
        return self.limits.byte_cap

    @property
    def running(self) -> dict[str, int]:
        with self._lock:
            return {key: len(entries) for key, entries in self._running.items() if entries}

    @contextlib.contextmanager
    def track(self, key: str, entry: Running) -> Iterator[Running]:
        with self._lock:
            self._running.setdefault(key, []).append(entry)
        try:
            yield entry
        finally:
            with self._lock:
                entries = self._running.get(key, [])
                if entry in entries:
                    entries.remove(entry)
                if not entries:
                    self._running.pop(key, None)

    # ---- connections -------------------------------------------------------------------
    async def _connect(self, conninfo: str) -> psycopg.AsyncConnection[Any]:
        try:
            return await psycopg.AsyncConnection.connect(
                conninfo, autocommit=True, options=CONNECT_OPTIONS, application_name=APPLICATION_NAME
            )
        except psycopg.OperationalError as e:
            raise connect_error(e) from e

    @contextlib.asynccontextmanager
    async def _session(
        self, conninfo: str, key: str
    ) -> AsyncIterator[tuple[psycopg.AsyncConnection[Any], Running]]:
        conn = await self._connect(conninfo)
        try:
            with self.track(key, Running(conn.cancel_safe)) as entry:
                await conn.execute("BEGIN TRANSACTION READ ONLY")
                await conn.execute(SET_LIMITS, self.limits.transaction_settings())
                yield conn, entry
        finally:
            with contextlib.suppress(Exception):
                await conn.execute("ROLLBACK")
            with contextlib.suppress(Exception):
                await conn.close()

    # ---- running -----------------------------------------------------------------------
    async def run(self, conninfo: str, sql: str, key: str = "adhoc") -> ClipResult:
        sql = check_sql(sql)
        started = time.perf_counter()
        async with self._session(conninfo, key) as (conn, entry):
            try:
                return await self._fetch(conn, sql, started)
            except psycopg.Error as e:
                raise self.explain(e, entry.canceled) from None

    async def _fetch(self, conn: psycopg.AsyncConnection[Any], sql: str, started: float) -> ClipResult:
        collector = _Collector(self.limits)
        cur = conn.cursor()
        async for row in cur.stream(sql, size=CHUNK_ROWS):
            if collector.columns is None:
                collector.columns = columns_of(conn, cur.description)
            if not collector.add(row):
                break  # leaving stream() cancels the rest of the query
        collector.flush()
        columns = collector.columns if collector.columns is not None else columns_of(conn, cur.description)
        return ClipResult(
            columns=columns,
            values=collector.values,
            truncated=collector.truncated_by is not None,
            row_cap=self.limits.row_cap,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            message=None if columns else "The statement returned no rows.",
            truncated_by=collector.truncated_by,
            size=collector.size,
            byte_cap=self.limits.byte_cap,
        )

    async def copy_csv(self, conninfo: str, sql: str, key: str = "export") -> AsyncGenerator[bytes, None]:
        """CSV from COPY as one stream: b"" once the query is accepted, then the data."""
        from paas.dataclips.copyout import CsvExport

        export = CsvExport.start(self, conninfo, sql, key)
        await export.accepted()
        yield b""
        async with contextlib.aclosing(export.chunks()) as chunks:
            async for chunk in chunks:
                yield chunk

    async def cancel(self, key: str) -> int:
        """Ask the server to cancel every running query of `key`; returns how many."""
        with self._lock:
            targets = list(self._running.get(key, ()))
        return sum([await entry.cancel() for entry in targets])

    def explain(self, e: psycopg.Error, canceled: bool) -> ClipError:
        return explain(e, canceled, self.limits)


class _Collector:
    """Rows of one run, chunk by chunk, until a cap says stop."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.columns: list[Column] | None = None
        self.values: list[tuple[Any, ...]] = []
        self.pending: list[tuple[Any, ...]] = []
        self.size = 0
        self.truncated_by: str | None = None

    def add(self, row: tuple[Any, ...]) -> bool:
        """Keep `row`; False when the caller should stop reading."""
        if len(self.values) + len(self.pending) >= self.limits.row_cap:
            self.flush()
            if self.truncated_by is None:
                self.truncated_by = "rows"
            return False
        self.pending.append(row)
        if len(self.pending) >= CHUNK_ROWS:
            self.flush()
        return self.truncated_by is None

    def flush(self) -> None:
        pending, self.pending = self.pending, []
        if not pending or self.truncated_by == "bytes":
            return
        columns = self.columns or []
        size = rows_size(columns, pending)
        if self.size + size <= self.limits.byte_cap:
            self.values.extend(pending)
            self.size += size
            return
        for row in pending:  # the cap falls inside this chunk: find the row, one at a time
            size = rows_size(columns, [row])
            if self.size + size > self.limits.byte_cap:
                self.truncated_by = "bytes"
                return
            self.values.append(row)
            self.size += size


def columns_of(conn: psycopg.BaseConnection[Any], description: Any) -> list[Column]:
    if not description:
        return []
    columns = []
    for d in description:
        info = conn.adapters.types.get(d.type_code)
        type_name = info.name if info is not None else str(d.type_code)
        columns.append(Column(d.name, type_name, kind_of(type_name)))
    return columns


# ---- errors, worded for the person who wrote the clip ----------------------------------
def explain(e: psycopg.Error, canceled: bool, limits: Limits) -> ClipError:
    diag = e.diag
    text = diag.message_primary or _first_line(str(e))
    position = int(diag.statement_position) if diag.statement_position else None
    for rule in _RULES:
        found = rule(e, text, position, canceled, limits)
        if found is not None:
            return found
    return ClipError(text, "error", position, diag.sqlstate, diag.message_hint)


def _read_only(e: psycopg.Error, text: str, position: int | None, _c: bool, _l: Limits) -> ClipError | None:
    if not isinstance(e, pg_errors.ReadOnlySqlTransaction):
        return None
    message = f"Dataclips are read-only: {text}. Nothing was changed."
    return ClipError(message, "read_only", position, e.diag.sqlstate, e.diag.message_hint)


def _timeouts(e: psycopg.Error, _t: str, _p: int | None, canceled: bool, limits: Limits) -> ClipError | None:
    if isinstance(e, pg_errors.LockNotAvailable):
        return ClipError(
            f"The query waited more than {limits.lock_timeout:g} s for a lock another session holds "
            "(the app, a migration) and gave up; run it again when that session is done.",
            "lock_timeout",
            None,
            e.diag.sqlstate,
        )
    if not isinstance(e, pg_errors.QueryCanceled):
        return None
    if canceled:
        return ClipError("The query was cancelled.", "canceled", None, e.diag.sqlstate)
    return ClipError(
        f"The query ran longer than the {describe_duration(limits.timeout)} limit and was cancelled.",
        "timeout",
        None,
        e.diag.sqlstate,
    )


def _statement_shape(
    e: psycopg.Error, text: str, position: int | None, _c: bool, _l: Limits
) -> ClipError | None:
    sqlstate = e.diag.sqlstate
    if sqlstate is None and "didn't produce a result" in text:
        return ClipError(
            "The statement ran but returns no rows; a dataclip shows a query's rows.", "no_result"
        )
    if "cannot insert multiple commands into a prepared statement" in text:
        return ClipError(
            "A dataclip runs one statement; remove the extra statements.", "multiple", None, sqlstate
        )
    if isinstance(e, pg_errors.SyntaxError):
        return ClipError(text, "syntax", position, sqlstate, e.diag.message_hint)
    if isinstance(e, psycopg.OperationalError) and sqlstate is None:
        return ClipError(f"The database connection failed: {_first_line(str(e))}", "unavailable")
    return None


_RULES = (_read_only, _timeouts, _statement_shape)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _sqlstate_in(text: str) -> str | None:
    """libpq reports connection-time refusals as text; the known ones, by their words."""
    if "too many connections" in text:
        return "53300"
    if "permission denied for database" in text:
        return "42501"
    if "password authentication failed" in text:
        return "28P01"
    if re.search(r'role "[^"]+" does not exist', text):
        return "28000"
    return None
