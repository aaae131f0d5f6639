"""Dataclips under abuse, through a whole daemon's HTTP API on real PostgreSQL: a crowd on one share
link, dataclips' bounded share of an add-on's connections, the byte cap, a clip that tries to lock
the app out."""

from __future__ import annotations

import concurrent.futures
import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings
from tests.support.pg import admin_url

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_daemon(tmp_path: Path) -> Iterator[DaemonThread]:
    home = tmp_path / "home"
    home.mkdir()
    settings = daemon_settings(
        home, postgres_url=admin_url(), dataclip_timeout=30.0, dataclip_max_bytes=200_000
    )
    d = DaemonThread(settings).start()
    try:
        yield d
    finally:
        d.stop()


def make_db(c: httpx.Client, app: str) -> tuple[str, str]:
    assert c.post("/apps", json={"name": app}).status_code == 201
    r = c.post(f"/apps/{app}/addons", json={"plan": "heroku-postgresql:essential-0"})
    assert r.status_code == 201, r.text
    return r.json()["name"], c.get(f"/apps/{app}/config-vars").json()["DATABASE_URL"]


def make_clip(c: httpx.Client, addon: str, sql: str, title: str = "clip") -> dict[str, Any]:
    r = c.post("/dataclips/api/clips", json={"title": title, "addon": addon, "sql": sql})
    assert r.status_code == 201, r.text
    return dict(r.json())


def seq_scans(url: str, table: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT seq_scan FROM pg_stat_user_tables WHERE relname = %s", (table,)).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("suffix", [".json", ".csv", ""])
def test_a_crowd_on_one_share_link_runs_the_clip_once(pg_daemon: DaemonThread, suffix: str) -> None:
    """22 strangers open a slow clip's link at once: one query runs, all 22 get its rows, and the
    app keeps every one of its plan's connections meanwhile."""
    c = pg_daemon.client()
    addon, url = make_db(c, "crowd")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE slow (n int)")
        conn.execute("INSERT INTO slow VALUES (1), (2), (3)")
    clip = make_clip(c, addon, "SELECT n FROM slow, pg_sleep(1.5) ORDER BY n")
    link = f"{pg_daemon.api_url}/dataclips/{clip['slug']}{suffix}"
    before = seq_scans(url, "slow")
    app_conns = [psycopg.connect(url) for _ in range(18)]  # the app's own pool, nearly full
    try:
        with httpx.Client(timeout=60) as anon, concurrent.futures.ThreadPoolExecutor(22) as pool:
            futures = [pool.submit(anon.get, link) for _ in range(22)]
            app_conns += [psycopg.connect(url) for _ in range(2)]  # all 20 of essential-0's, meanwhile
            responses = [f.result() for f in futures]
    finally:
        for conn in app_conns:
            conn.close()
    assert [r.status_code for r in responses] == [200] * 22, responses[0].text
    assert {r.text for r in responses} == {responses[0].text}
    expected = {".json": '"values":[[1],[2],[3]]', ".csv": "n\n1\n2\n3\n", "": "<td>3</td>"}[suffix]
    assert expected in responses[0].text
    deadline = time.monotonic() + 10  # a backend reports its table statistics as it exits
    while seq_scans(url, "slow") == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert seq_scans(url, "slow") - before == 1


def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_dataclips_take_a_bounded_share_of_connections_then_503(pg_daemon: DaemonThread) -> None:
    """essential-0 has 20 connections; dataclips take at most 5 (their own role), then answer 503
    with Retry-After, while the app still opens all 20 of its own."""
    c = pg_daemon.client()
    addon, url = make_db(c, "busy")
    clips = [make_clip(c, addon, f"SELECT {i} AS n, pg_sleep(30)", f"slow {i}") for i in range(6)]
    base = pg_daemon.api_url
    with httpx.Client(timeout=60) as anon:
        pool = concurrent.futures.ThreadPoolExecutor(5)
        running = [pool.submit(anon.get, f"{base}/dataclips/{clip['slug']}.json") for clip in clips[:5]]
        wait_for(
            lambda: c.get("/dataclips/api/status").json()["connections"].get(addon, {}).get("in_use") == 5
        )
        for suffix in (".json", ".csv", ""):
            refused = anon.get(f"{base}/dataclips/{clips[5]['slug']}{suffix}")
            assert refused.status_code == 503 and refused.headers["retry-after"] == "5", refused.text
        assert "try again in a few seconds" in refused.text
        run = c.post(f"/dataclips/api/clips/{clips[5]['id']}/run", json={})
        assert run.status_code == 503 and run.json()["id"] == "query_busy"
        app_conns = [psycopg.connect(url) for _ in range(20)]  # the app's whole plan, untouched
        for conn in app_conns:
            conn.close()
        with psycopg.connect(admin_url(), autocommit=True) as admin:
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'paas dataclips' AND datname = %s",
                (url.rsplit("/", 1)[1],),
            ).fetchone()
        assert row == (5,)
        for clip in clips[:5]:
            c.post(f"/dataclips/api/clips/{clip['id']}/cancel")
        assert all(f.result().status_code == 422 for f in running)  # "The query was cancelled."
        pool.shutdown()
    status = c.get("/dataclips/api/status").json()["connections"][addon]
    assert status == {"in_use": 0, "limit": 5, "refused": 4}
    assert (
        c.post(f"/dataclips/api/clips/{clips[5]['id']}/run", json={"sql": "SELECT 1 AS one"}).status_code
        == 200
    )


def test_results_are_capped_in_bytes_with_a_notice_everywhere(pg_daemon: DaemonThread) -> None:
    c = pg_daemon.client()
    addon, _url = make_db(c, "wide")
    clip = make_clip(c, addon, "SELECT g, repeat('x', 1000) AS pad FROM generate_series(1, 5000) g")
    notice = "The result is larger than the 200,000-byte limit; only the first {} rows are included."
    run = c.post(f"/dataclips/api/clips/{clip['id']}/run", json={}).json()["result"]
    assert run["truncated_by"] == "bytes" and 150 < run["rows"] < 200
    assert (
        run["notice"] == notice.format(run["rows"])
        and "truncated at the 200,000-byte limit" in run["summary"]
    )
    base = f"{pg_daemon.api_url}/dataclips/{clip['slug']}"
    with httpx.Client(timeout=30) as anon:
        shared = anon.get(base + ".json").json()
        assert len(shared["values"]) == run["rows"] and shared["truncated"] == "bytes"
        assert shared["notice"] == notice.format(run["rows"])
        page = anon.get(base)
        assert (
            page.status_code == 200 and f'id="notice" role="status">{notice.format(run["rows"])}' in page.text
        )
        rows = list(csv.reader(io.StringIO(anon.get(base + ".csv").text)))
    assert rows[0] == ["g", "pad"] and rows[-1] == [f"Dataclip truncated: {notice.format(len(rows) - 2)}"]
    assert 150 < len(rows) - 2 < 200


def test_a_clip_cannot_lock_the_app_out_of_its_table(pg_daemon: DaemonThread) -> None:
    """`LOCK TABLE ... ACCESS EXCLUSIVE` inside `DO` (legal in a READ ONLY transaction) is refused:
    the clip's role may only read, and the app keeps writing the table meanwhile."""
    c = pg_daemon.client()
    addon, url = make_db(c, "locked")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id serial PRIMARY KEY, total int)")
    attempts = [
        "DO $$ BEGIN LOCK TABLE orders IN ACCESS EXCLUSIVE MODE; PERFORM pg_sleep(20); END $$",
        "LOCK TABLE orders IN EXCLUSIVE MODE",
    ]
    for sql in attempts:
        clip = make_clip(c, addon, sql)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            trying = pool.submit(c.post, f"/dataclips/api/clips/{clip['id']}/run", json={}, timeout=60)
            time.sleep(0.3)  # the clip is trying
            with psycopg.connect(url, autocommit=True) as app:
                app.execute("SET statement_timeout = '3s'")  # today's code: the INSERT waits, then fails
                for total in range(5):
                    app.execute("INSERT INTO orders (total) VALUES (%s)", (total,))
            r = trying.result()
        assert r.status_code == 422 and r.json()["message"] == "permission denied for table orders", r.text
    with psycopg.connect(url) as app:
        assert app.execute("SELECT count(*) FROM orders").fetchone() == (10,)
    # reading still works, with the same view of the data the app has
    ok = c.post(f"/dataclips/api/clips/{clip['id']}/run", json={"sql": "SELECT count(*) FROM orders"})
    assert ok.status_code == 200 and ok.json()["result"]["values"] == [[10]]
