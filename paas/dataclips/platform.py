"""The `platform` database: the router's request events, queryable from dataclips.

The router publishes one `router.request` event per request. A synchronous bus listener turns
each into a row tuple in a bounded ring (O(1), never blocks the router; when full the oldest
row is dropped and counted). Nothing starts PostgreSQL for this: once the cluster is up (the
first add-on or dataclip use), a writer task drains the ring into `router_events` with COPY in
batches and prunes to the newest `keep_rows` rows and `keep_days` days.

Dataclips read the table as `paas_platform_reader`, a role that can only SELECT it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import operator
import secrets
import time
from collections import deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from common.events import Event, EventBus

if TYPE_CHECKING:
    from paas.postgres.cluster import PostgresCluster

log = logging.getLogger("paas.dataclips.platform")

COLUMNS = (
    "ts", "app", "dyno", "code", "status", "connect_ms", "service_ms", "total_ms", "bytes",
    "method", "path", "host", "request_id", "at",
)  # fmt: skip
SCHEMA = """
CREATE TABLE IF NOT EXISTS router_events (
    id          bigserial PRIMARY KEY,
    ts          timestamptz NOT NULL,  -- when the request finished
    app         text,
    dyno        text,                  -- NULL when no dyno was reached
    code        text,                  -- H-code; NULL for a clean request
    status      integer,
    connect_ms  integer,
    service_ms  integer,
    total_ms    integer,               -- including any hold while dynos boot
    bytes       bigint,
    method      text,
    path        text,
    host        text,
    request_id  text,
    at          text                   -- info | warning | error, as in the router log line
);
CREATE INDEX IF NOT EXISTS router_events_ts ON router_events (ts);
COMMENT ON TABLE router_events IS 'One row per request the router handled (newest 1,000,000 rows, 7 days).';
"""
EXAMPLE_SQL = """-- H-codes per minute over the last hour
SELECT date_trunc('minute', ts) AS minute,
       count(*) FILTER (WHERE code IS NOT NULL) AS errors,
       count(*) AS requests
FROM router_events
WHERE ts > now() - interval '1 hour'
GROUP BY 1
ORDER BY 1"""

Row = tuple[Any, ...]
PLATFORM_CONNECTIONS = 5  # the platform reader's connection limit (dataclips' share)
YIELD_EVERY = 250  # rows written between two turns of the event loop (~1 ms of work)


def _to_datetime(value: Any, fallback: float) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.fromtimestamp(fallback, UTC)


def _int(value: Any) -> int | None:
    if value is None or type(value) is int:  # what the router publishes: nothing to convert
        return value
    try:
        return round(float(value))
    except (TypeError, ValueError):
        return None


def _text(value: Any, limit: int = 2048) -> str | None:
    if value is None or (type(value) is str and len(value) <= limit):
        return value
    return str(value)[:limit]


_KEYS = ("ts", "dyno", "code", "status", "connect_ms", "service_ms", "total_ms", "bytes",
         "method", "path", "host", "request_id", "at")  # fmt: skip


_VALUES = operator.itemgetter(*_KEYS)  # one C call for the usual, complete event


def raw_row(event: Event) -> Row:
    """What the ring keeps: the values as published (the router's hot path does no more)."""
    d = event.data
    try:
        values = _VALUES(d)
    except KeyError:  # an event from elsewhere, missing fields: they stay NULL
        values = tuple(map(d.get, _KEYS))
    return (event.ts, event.app or d.get("app"), *values)


def table_row(raw: Row) -> Row:
    """Typed and trimmed for COPY (the writer's side)."""
    (
        published,
        app,
        ts,
        dyno,
        code,
        status,
        connect_ms,
        service_ms,
        total_ms,
        size,
        method,
        path,
        host,
        rid,
        at,
    ) = raw
    return (
        _to_datetime(ts, published),
        _text(app),
        _text(dyno),
        _text(code),
        _int(status),
        _int(connect_ms),
        _int(service_ms),
        _int(total_ms),
        _int(size),
        _text(method, 16),
        _text(path),
        _text(host, 255),
        _text(rid, 200),
        _text(at, 16),
    )


def event_row(event: Event) -> Row:
    return table_row(raw_row(event))


class PlatformRecorder:
    def __init__(
        self,
        bus: EventBus,
        cluster: PostgresCluster,
        ring_size: int = 50_000,  # ~30 MB at most while nothing has started PostgreSQL
        batch_rows: int = 5_000,
        flush_interval: float = 1.0,
        keep_rows: int = 1_000_000,
        keep_days: float = 7.0,
    ):
        self.bus = bus
        self.cluster = cluster
        self.ring: deque[Row] = deque(maxlen=ring_size)
        self._ring_size = ring_size
        self.batch_rows = batch_rows
        self.flush_interval = flush_interval
        self.keep_rows = keep_rows
        self.keep_days = keep_days
        self.overflow = 0  # rows dropped because the ring was full
        self.written = 0
        self.write_errors = 0
        self.reader_role = "paas_platform_reader" if not cluster.external else f"{cluster.platform_db}_reader"
        self._reader_password = secrets.token_hex(24)
        self._ready = False
        self._ready_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._batch_lock = asyncio.Lock()
        self._writer: asyncio.Task[None] | None = None
        self._last_prune = 0.0
        self._stopping = False
        self._unlisten = bus.listen(["router.request"], self._on_event)
        cluster.started_callbacks.append(self._on_cluster_started)
        if cluster.running:
            self._on_cluster_started()

    # ---- intake (the router's thread of control: must be O(1) and never raise) ----------
    def _on_event(self, event: Event) -> None:
        try:
            ring = self.ring
            if len(ring) == self._ring_size:
                self.overflow += 1
            ring.append(raw_row(event))
            if len(ring) >= self.batch_rows and not self._wake.is_set():
                self._wake.set()
        except Exception:
            self.overflow += 1

    def stats(self) -> dict[str, Any]:
        return {
            "buffered": len(self.ring),
            "buffer_size": self.ring.maxlen,
            "overflow": self.overflow,
            "written": self.written,
            "write_errors": self.write_errors,
            "writing": self._writer is not None and not self._writer.done(),
        }

    # ---- the database side --------------------------------------------------------------
    def _on_cluster_started(self) -> None:
        if self._writer is None and not self._stopping:
            with contextlib.suppress(RuntimeError):  # no running loop: the next start() call retries
                self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    async def reader_conninfo(self) -> str:
        """Credentials of the read-only role dataclips use for the platform database."""
        await self.ensure_ready()
        address = self.cluster.address
        return make_conninfo(
            host=address.host,
            port=str(address.port),
            user=self.reader_role,
            password=self._reader_password,
            dbname=self.cluster.platform_db,
            connect_timeout="10",
        )

    async def ensure_ready(self) -> None:
        if self._ready:
            return
        async with self._ready_lock:
            if self._ready:
                return
            conn = await self.cluster.connect_admin_async(self.cluster.platform_db)
            async with conn:
                await conn.execute(SCHEMA)
                role = sql.Identifier(self.reader_role)
                exists = await (
                    await conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (self.reader_role,))
                ).fetchone()
                verb = "ALTER" if exists else "CREATE"
                with contextlib.suppress(psycopg.errors.DuplicateObject):
                    await conn.execute(
                        sql.SQL(
                            verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                            "CONNECTION LIMIT {} PASSWORD {}"
                        ).format(role, sql.Literal(PLATFORM_CONNECTIONS), sql.Literal(self._reader_password))
                    )
                db = sql.Identifier(self.cluster.platform_db)
                await conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, role))
                await conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role))
                await conn.execute(sql.SQL("GRANT SELECT ON router_events TO {}").format(role))
            self._ready = True

    async def _write_loop(self) -> None:
        conn: psycopg.AsyncConnection[Any] | None = None
        while not self._stopping:
            if not self.ring:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.flush_interval)
                self._wake.clear()
                continue
            try:
                if conn is None or conn.closed:
                    await self.ensure_ready()
                    conn = await self.cluster.connect_admin_async(self.cluster.platform_db)
                await self._write_batch(conn)
                if time.monotonic() - self._last_prune > 60:
                    await self._prune(conn)
            except asyncio.CancelledError:
                break
            except Exception as e:  # the database went away: keep buffering, retry soon
                self.write_errors += 1
                log.warning("platform events: write failed: %s", e)
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
                conn = None
                await asyncio.sleep(1.0)
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def _write_batch(self, conn: psycopg.AsyncConnection[Any]) -> int:
        async with self._batch_lock:  # one batch in flight: flush() can wait for the writer's
            return await self._write_batch_locked(conn)

    async def _write_batch_locked(self, conn: psycopg.AsyncConnection[Any]) -> int:
        rows: list[Row] = []
        while self.ring and len(rows) < self.batch_rows:
            rows.append(self.ring.popleft())
        if not rows:
            return 0
        try:
            async with (
                conn.cursor() as cur,
                cur.copy(f"COPY router_events ({', '.join(COLUMNS)}) FROM STDIN") as copy,
            ):
                for i, row in enumerate(rows, start=1):
                    await copy.write_row(table_row(row))
                    if i % YIELD_EVERY == 0:
                        # a batch is thousands of rows of Python work: let the loop breathe (the
                        # API, the in-daemon router) rather than stall it for tens of ms
                        await asyncio.sleep(0)
        except BaseException:
            # put the batch back (oldest first) so a passing failure loses nothing
            for row in reversed(rows):
                if len(self.ring) == self.ring.maxlen:
                    self.overflow += 1
                    break
                self.ring.appendleft(row)
            raise
        self.written += len(rows)
        return len(rows)

    async def _prune(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._last_prune = time.monotonic()
        await conn.execute(
            "DELETE FROM router_events WHERE ts < now() - make_interval(secs => %s)",
            (self.keep_days * 86400,),
        )
        await conn.execute(
            "DELETE FROM router_events WHERE id <= (SELECT max(id) FROM router_events) - %s",
            (self.keep_rows,),
        )

    async def flush(self) -> int:
        """Write everything buffered now (starts the cluster); returns rows written."""
        await self.cluster.start()
        await self.ensure_ready()
        before = self.written
        conn = await self.cluster.connect_admin_async(self.cluster.platform_db)
        async with conn:
            while self.ring:
                await self._write_batch(conn)
            async with self._batch_lock:  # a batch the writer task took is written too
                pass
            await self._prune(conn)
        return self.written - before

    async def stop(self) -> None:
        """Write what is buffered (if the server is up), then stop the writer."""
        self._stopping = True
        self._unlisten()
        self._wake.set()
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer
            self._writer = None
        if self.cluster.running and self.ring:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.flush(), 10)
