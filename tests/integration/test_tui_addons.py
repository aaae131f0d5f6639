"""The Kafka and Dataclips screens against a real daemon: a real Kafka tenant with a topic,
records and a consumer group; a real PostgreSQL add-on with a table and a dataclip over it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from textual.widgets import DataTable

from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings
from tui.app import PaasApp
from tui.client import HttpBackend
from tui.screens.dataclips import DataclipsScreen
from tui.screens.kafka import KafkaScreen

pytestmark = pytest.mark.slow
SIZE = (140, 40)


async def until(pilot: Any, check: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await pilot.pause(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def cells(table: DataTable[Any]) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_kafka_screen_shows_topics_rates_size_and_groups(daemon: DaemonThread) -> None:
    if daemon.d.kafka is None:
        pytest.fail("the daemon has no Kafka broker")
    for args in (
        ("apps:create", "kapp"),
        ("addons:create", "heroku-kafka:basic-0", "-a", "kapp"),
        ("kafka:topics:create", "events", "--partitions", "2", "-a", "kapp"),
        ("kafka:topics:write", "events", "hello", "-a", "kapp"),
        ("kafka:topics:write", "events", "world", "-a", "kapp"),
        ("kafka:consumer-groups:create", "workers", "-a", "kapp"),
    ):
        done = daemon.cli(*args)
        assert done.returncode == 0, (args, done.stderr)
    app = PaasApp(HttpBackend(daemon.api_url, daemon.d.token), app_name="kapp", freeze_gc=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        screen = app.screen
        assert isinstance(screen, KafkaScreen)
        topics = screen.query_one("#kafka-topics", DataTable)
        await until(pilot, lambda: topics.row_count == 1, what="the topic row")
        row = cells(topics)[0]
        assert row[0] == "kapp" and row[1] == "events" and row[2] == "2" and row[6] == "2"  # 2 messages
        tenants = cells(screen.query_one("#kafka-tenants", DataTable))
        assert tenants[0][1] == "basic-0" and tenants[0][6] == "no" and "/ 4.0 GB" in tenants[0][7]
        groups = cells(screen.query_one("#kafka-groups", DataTable))
        assert groups[0][1].endswith(".workers") and groups[0][2] == "Empty"
        # it refreshes by itself while visible: a third record shows up within a few seconds
        assert daemon.cli("kafka:topics:write", "events", "again", "-a", "kapp").returncode == 0
        await until(pilot, lambda: cells(topics)[0][6] == "3", timeout=8, what="the refreshed count")


@pytest.fixture
def pg_daemon(tmp_path: Path) -> Iterator[DaemonThread]:
    from tests.support.pg import admin_url

    home = tmp_path / "home"
    home.mkdir()
    d = DaemonThread(daemon_settings(home, postgres_url=admin_url())).start()
    try:
        yield d
    finally:
        d.stop()


@pytest.mark.postgres
async def test_dataclips_screen_lists_runs_and_shows_the_table(pg_daemon: DaemonThread) -> None:
    c = pg_daemon.client()
    assert c.post("/apps", json={"name": "shop"}).status_code == 201
    addon = c.post("/apps/shop/addons", json={"plan": "heroku-postgresql"})
    assert addon.status_code == 201, addon.text
    url = c.get("/apps/shop/config-vars").json()["DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id int, total numeric)")
        conn.execute("INSERT INTO orders VALUES (1, 9.5), (2, 20), (3, 7.25)")
    clip = c.post(
        "/dataclips/api/clips",
        json={
            "title": "Big orders",
            "target": addon.json()["name"],
            "sql": "SELECT id, total FROM orders WHERE total > 8 ORDER BY id",
        },
    )
    assert clip.status_code == 201, clip.text

    app = PaasApp(HttpBackend(pg_daemon.api_url, pg_daemon.d.token), freeze_gc=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        screen = app.screen
        assert isinstance(screen, DataclipsScreen)
        clips = screen.query_one("#clips", DataTable)
        await until(pilot, lambda: clips.row_count == 1, what="the dataclip in the list")
        assert cells(clips)[0][1] == "Big orders"
        await pilot.press("enter")
        result = screen.query_one("#clip-result", DataTable)
        await until(pilot, lambda: result.row_count == 2, timeout=30, what="the result rows")
        assert [str(col.label) for col in result.columns.values()] == ["id", "total"]
        assert cells(result) == [["1", "9.5"], ["2", "20"]]
