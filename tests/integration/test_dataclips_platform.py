"""The platform database recorder: bounded ring before the server runs, batched COPY, pruning."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psycopg
import pytest

from common.config import Settings
from common.events import Event, EventBus
from paas.dataclips.platform import PlatformRecorder
from paas.dataclips.results import ClipError
from paas.dataclips.runner import QueryRunner
from paas.postgres.cluster import PostgresCluster
from tests.support.pg import admin_url

pytestmark = pytest.mark.postgres


def request_event(i: int, code: str | None = None, ts: float | None = None) -> Event:
    data = {"dyno": "web.1", "code": code, "status": 503 if code else 200, "connect_ms": 0, "service_ms": 12,
            "total_ms": 13, "bytes": 512, "method": "GET", "path": f"/p/{i}", "host": "a.localhost",
            "request_id": f"id-{i}", "at": "error" if code else "info", "ts": ts or time.time()}  # fmt: skip
    return Event("router.request", "a", data)


async def test_ring_buffers_until_the_server_runs_and_counts_overflow(tmp_path: Path) -> None:
    bus = EventBus()
    cluster = PostgresCluster(Settings(home=tmp_path, postgres_url=admin_url()))
    recorder = PlatformRecorder(bus, cluster, ring_size=10, flush_interval=0.05)
    started = time.perf_counter()
    for i in range(15):
        bus.publish(request_event(i, "H12" if i % 2 else None))
    per_event_us = (time.perf_counter() - started) / 15 * 1e6
    assert recorder.stats()["buffered"] == 10 and recorder.overflow == 5 and not cluster.running
    assert per_event_us < 1000  # the router's publish never waits on the database

    await cluster.start()  # first add-on / dataclip use: the writer starts on its own
    for _ in range(100):
        if recorder.written == 10:
            break
        await asyncio.sleep(0.05)
    assert recorder.written == 10 and recorder.stats()["buffered"] == 0
    runner = QueryRunner()
    reader = await recorder.reader_conninfo()
    result = await runner.run(reader, "SELECT code, count(*) FROM router_events GROUP BY 1 ORDER BY 1")
    assert result.values == [("H12", 5), (None, 5)]  # events 5..14 survived: the oldest 5 were dropped
    paths = await runner.run(
        reader, "SELECT min(path), max(path), min(at), max(request_id) FROM router_events"
    )
    assert paths.values == [("/p/10", "/p/9", "error", "id-9")]
    with pytest.raises(ClipError) as info:  # the reader role cannot write even outside the runner's rules
        async with await psycopg.AsyncConnection.connect(reader, autocommit=True) as conn:
            try:
                await conn.execute("INSERT INTO router_events (ts) VALUES (now())")
            except psycopg.Error as e:
                raise ClipError(str(e)) from e
    assert "permission denied for table router_events" in info.value.message
    await recorder.stop()


async def test_pruning_keeps_the_newest_rows_and_days(tmp_path: Path) -> None:
    bus = EventBus()
    cluster = PostgresCluster(Settings(home=tmp_path, postgres_url=admin_url()))
    recorder = PlatformRecorder(bus, cluster, keep_rows=20, keep_days=1)
    old = time.time() - 3 * 86400
    for i in range(5):
        bus.publish(request_event(i, ts=old))  # three days old: pruned by age
    for i in range(30):
        bus.publish(request_event(100 + i))
    assert await recorder.flush() == 35
    result = await QueryRunner().run(
        await recorder.reader_conninfo(), "SELECT count(*), min(path) FROM router_events"
    )
    assert result.values == [(20, "/p/110")]
    await recorder.stop()
