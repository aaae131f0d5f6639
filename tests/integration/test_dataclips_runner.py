"""The dataclip query runner on real PostgreSQL: read-only, row cap, timeout, cancel, errors, COPY."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from common.config import Settings
from paas.addons.postgres import PostgresProvider
from paas.dataclips.results import ClipError, NotCopyable
from paas.dataclips.runner import QueryRunner
from paas.postgres.databases import conninfo_of
from tests.support.pg import admin_url

pytestmark = pytest.mark.postgres


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    provider = PostgresProvider(Settings(home=tmp_path, postgres_url=admin_url()))
    data = (await provider.provision("app", "postgresql-test-1", "essential-0")).provider_data
    async with await psycopg.AsyncConnection.connect(conninfo_of(data), autocommit=True) as conn:
        await conn.execute(
            "CREATE TABLE items (id int PRIMARY KEY, name text, price numeric, at timestamptz)"
        )
        await conn.execute(
            "INSERT INTO items SELECT g, 'item ' || g, g * 1.5, '2024-01-01'::timestamptz + g * interval '1 hour' "
            "FROM generate_series(1, 50) g"
        )
    yield data
    await provider.deprovision("x", data)


async def count_items(data: dict[str, Any]) -> int:
    async with await psycopg.AsyncConnection.connect(conninfo_of(data), autocommit=True) as conn:
        row = await (await conn.execute("SELECT count(*) FROM items")).fetchone()
    assert row is not None
    return int(row[0])


async def test_select_returns_columns_types_and_rows(db: dict[str, Any]) -> None:
    result = await QueryRunner().run(
        conninfo_of(db), "SELECT id, name, price, at FROM items ORDER BY id;\n\n"
    )
    assert result.fields == ["id", "name", "price", "at"]
    assert [c.kind for c in result.columns] == ["number", "text", "number", "time"]
    assert len(result.values) == 50 and result.values[0][:2] == (1, "item 1") and not result.truncated


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM items",
        "UPDATE items SET price = 0",
        "INSERT INTO items VALUES (999, 'x', 1, now())",
        "CREATE TABLE evil (a int)",
        "DROP TABLE items",
        "TRUNCATE items",
        "WITH gone AS (DELETE FROM items RETURNING *) SELECT count(*) FROM gone",
    ],
)
async def test_writing_statements_fail_clearly_and_change_nothing(db: dict[str, Any], sql: str) -> None:
    with pytest.raises(ClipError) as info:
        await QueryRunner().run(conninfo_of(db), sql)
    assert info.value.kind == "read_only"
    assert info.value.message.startswith("Dataclips are read-only: cannot execute ")
    assert info.value.message.endswith("in a read-only transaction. Nothing was changed.")
    assert await count_items(db) == 50


@pytest.mark.parametrize(
    "sql",
    [
        "COMMIT; DELETE FROM items",
        "SELECT 1; DELETE FROM items",
        "ROLLBACK; SET default_transaction_read_only = off; DELETE FROM items",
        "END; DROP TABLE items",
    ],
)
async def test_a_second_statement_cannot_escape_the_read_only_transaction(
    db: dict[str, Any], sql: str
) -> None:
    runner = QueryRunner()
    with pytest.raises(ClipError) as info:
        await runner.run(conninfo_of(db), sql)
    assert info.value.kind == "multiple"
    with pytest.raises(NotCopyable):  # the COPY export path refuses it too
        async for _ in runner.copy_csv(conninfo_of(db), sql):
            pass
    assert await count_items(db) == 50


async def test_copy_wrapping_cannot_be_broken_out_of(db: dict[str, Any]) -> None:
    sneaky = "SELECT 1) AS x TO STDOUT; DELETE FROM items; COPY (SELECT 1"
    with pytest.raises((NotCopyable, ClipError)):
        async for _ in QueryRunner().copy_csv(conninfo_of(db), sneaky):
            pass
    assert await count_items(db) == 50


async def test_row_cap_truncates_and_says_so(db: dict[str, Any]) -> None:
    runner = QueryRunner()
    result = await runner.run(conninfo_of(db), "SELECT g FROM generate_series(1, 250000) g")
    assert len(result.values) == 100_000 and result.truncated and result.row_cap == 100_000
    assert result.values[-1] == (100_000,)
    exact = await runner.run(conninfo_of(db), "SELECT g FROM generate_series(1, 100000) g")
    assert len(exact.values) == 100_000 and not exact.truncated


async def test_statement_timeout_cancels_and_the_connection_is_released(db: dict[str, Any]) -> None:
    runner = QueryRunner(timeout=0.5)
    started = time.monotonic()
    with pytest.raises(ClipError) as info:
        await runner.run(conninfo_of(db), "SELECT pg_sleep(5)")
    elapsed = time.monotonic() - started
    assert info.value.kind == "timeout"
    assert info.value.message == "The query ran longer than the 0.5-second limit and was cancelled."
    assert 0.4 < elapsed < 3
    assert runner.running == {}
    async with await psycopg.AsyncConnection.connect(admin_url(), autocommit=True) as admin:
        row = await (
            await admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = 'paas dataclips'",
                (db["database"],),
            )
        ).fetchone()
    assert row == (0,)


async def test_cancel_uses_pg_cancel_backend(db: dict[str, Any]) -> None:
    runner = QueryRunner()
    task = asyncio.create_task(runner.run(conninfo_of(db), "SELECT pg_sleep(20)", key="clip-7"))
    for _ in range(100):
        if runner.running.get("clip-7"):
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    started = time.monotonic()
    assert await runner.cancel("clip-7") == 1
    with pytest.raises(ClipError) as info:
        await task
    assert info.value.kind == "canceled" and info.value.message == "The query was cancelled."
    assert time.monotonic() - started < 2


async def test_sql_errors_carry_their_position(db: dict[str, Any]) -> None:
    runner = QueryRunner()
    sql = "SELECT id,\n       nme\nFROM items"
    with pytest.raises(ClipError) as info:
        await runner.run(conninfo_of(db), sql)
    e = info.value
    assert e.message == 'column "nme" does not exist' and e.position == 19
    assert e.to_json(sql)["line"] == 2 and e.to_json(sql)["column"] == 8
    with pytest.raises(ClipError) as info:
        await runner.run(conninfo_of(db), "SELEC 1")
    assert info.value.kind == "syntax" and info.value.position == 1
    with pytest.raises(ClipError, match="The query is empty"):
        await runner.run(conninfo_of(db), "  ;; ")


async def test_statements_without_rows_and_non_select_statements(db: dict[str, Any]) -> None:
    runner = QueryRunner()
    shown = await runner.run(conninfo_of(db), "SHOW statement_timeout")
    assert shown.fields == ["statement_timeout"] and shown.values == [("10min",)]  # SET LOCAL by the runner
    with pytest.raises(ClipError) as info:
        await runner.run(conninfo_of(db), "SET work_mem = '8MB'")
    assert info.value.kind == "no_result"


async def test_copy_csv_matches_the_rows(db: dict[str, Any]) -> None:
    runner = QueryRunner()
    chunks = [c async for c in runner.copy_csv(conninfo_of(db), "SELECT id, name FROM items ORDER BY id;")]
    assert chunks[0] == b""  # the "accepted" marker comes before any data
    rows = list(csv.reader(io.StringIO(b"".join(chunks).decode())))
    assert rows[0] == ["id", "name"] and rows[1] == ["1", "item 1"] and len(rows) == 51
    capped = b"".join(
        [c async for c in QueryRunner(row_cap=10).copy_csv(conninfo_of(db), "SELECT * FROM items")]
    )
    lines = capped.decode().splitlines()
    assert len(lines) == 12 and lines[10].startswith("10,")  # the header, ten rows, and the notice
    assert (
        lines[11] == "Dataclip truncated: The result has more than 10 rows; only the first 10 are included."
    )


async def test_an_export_abandoned_midway_cancels_its_query(db: dict[str, Any]) -> None:
    runner = QueryRunner()
    stream = runner.copy_csv(conninfo_of(db), "SELECT g, repeat('x', 200) FROM generate_series(1, 5000000) g")
    assert await stream.__anext__() == b""
    assert len(await stream.__anext__()) >= 256 * 1024
    await stream.aclose()  # the HTTP client went away
    for _ in range(50):
        if runner.running == {}:
            break
        await asyncio.sleep(0.1)
    assert runner.running == {}
    async with await psycopg.AsyncConnection.connect(admin_url(), autocommit=True) as admin:
        for _ in range(50):
            row = await (
                await admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = 'paas dataclips'",
                    (db["database"],),
                )
            ).fetchone()
            if row == (0,):
                break
            await asyncio.sleep(0.1)
    assert row == (0,)


async def test_byte_cap_cuts_rows_and_exports_and_says_so(db: dict[str, Any]) -> None:
    """A result wider than the byte cap stops at the last row that fits, in rows and in CSV."""
    runner = QueryRunner(byte_cap=100_000)
    sql = "SELECT g, repeat('x', 1000) AS pad FROM generate_series(1, 1000) g"
    result = await runner.run(conninfo_of(db), sql)
    assert result.truncated and result.truncated_by == "bytes"
    assert 90 <= len(result.values) < 100 and result.size <= 100_000
    assert result.values[-1][0] == len(result.values)  # whole rows, in order
    assert result.notice == (
        f"The result is larger than the 100,000-byte limit; only the first {len(result.values)} rows are included."
    )
    exported = b"".join([c async for c in runner.copy_csv(conninfo_of(db), sql)])
    rows = list(csv.reader(io.StringIO(exported.decode())))
    notice = exported.decode().splitlines()[-1]
    assert len(exported) - len(notice) - 1 <= 100_000
    assert rows[0] == ["g", "pad"] and [int(r[0]) for r in rows[1:-1]] == list(range(1, len(rows) - 1))
    assert rows[-1] == [
        f"Dataclip truncated: The result is larger than the 100,000-byte limit; only the first {len(rows) - 2} rows are included."
    ]
    small = await runner.run(conninfo_of(db), "SELECT g FROM generate_series(1, 1000) g")
    assert not small.truncated and small.notice is None and len(small.values) == 1000


async def test_a_clip_waits_only_briefly_behind_the_apps_locks(db: dict[str, Any]) -> None:
    """A migration holding ACCESS EXCLUSIVE: the clip gives up after lock_timeout, and says why."""
    runner = QueryRunner(lock_timeout=0.5)
    async with await psycopg.AsyncConnection.connect(conninfo_of(db)) as migration:
        await migration.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(ClipError) as info:
            await runner.run(conninfo_of(db), "SELECT count(*) FROM items")
    assert info.value.kind == "lock_timeout" and info.value.message.startswith(
        "The query waited more than 0.5 s for a lock another session holds"
    )
    assert runner.running == {}
