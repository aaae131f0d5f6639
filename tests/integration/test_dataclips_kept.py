"""The latest result kept with the clip, chart settings and forks, through the daemon's HTTP API
(real PostgreSQL), and the state surviving a daemon restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings
from tests.support.pg import admin_url

pytestmark = pytest.mark.postgres


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def pg_daemon(home: Path) -> Iterator[DaemonThread]:
    d = DaemonThread(daemon_settings(home, postgres_url=admin_url())).start()
    try:
        yield d
    finally:
        d.stop()


SQL = "SELECT day, n, label FROM points ORDER BY day"


def setup_clip(d: DaemonThread) -> tuple[int, str]:
    c = d.client()
    c.post("/apps", json={"name": "shop"})
    addon = c.post("/apps/shop/addons", json={"plan": "heroku-postgresql"}).json()["name"]
    url = c.get("/apps/shop/config-vars").json()["DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE points (day date, n integer, label text)")
        conn.execute(
            "INSERT INTO points SELECT '2024-01-01'::date + g, g, 'l' || g FROM generate_series(1, 5) g"
        )
    clip = c.post("/dataclips/api/clips", json={"title": "Points", "target": addon, "sql": SQL}).json()
    return int(clip["id"]), url


def test_the_latest_result_is_kept_and_served_without_running(pg_daemon: DaemonThread) -> None:
    c = pg_daemon.client()
    clip_id, url = setup_clip(pg_daemon)
    r = c.get(f"/dataclips/api/clips/{clip_id}/result")
    assert (
        r.status_code == 404
        and r.json()["message"] == "This dataclip has not run since its SQL last changed."
    )
    ran = c.post(f"/dataclips/api/clips/{clip_id}/run", json={}).json()["result"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO points VALUES ('2025-01-01', 100, 'late')")
    kept = c.get(f"/dataclips/api/clips/{clip_id}/result").json()["result"]
    assert kept["values"] == ran["values"] and kept["rows"] == 5  # the kept rows, not a new run
    assert kept["ran_at"] == ran["ran_at"] and kept["summary"] == ran["summary"]
    assert kept["values"][0] == ["2024-01-02", 1, "l1"]
    assert kept["chart"]["kind"] == "line"  # dates are dates again: the line chart comes back
    page = c.get(f"/dataclips/clips/{clip_id}")
    assert "l5" in page.text and 'data-kind="line"' in page.text  # the editor page shows it at once
    # a new SQL text: the kept result answered other SQL, so it goes
    c.patch(f"/dataclips/api/clips/{clip_id}", json={"sql": "SELECT 1 AS one"})
    assert c.get(f"/dataclips/api/clips/{clip_id}/result").status_code == 404


def test_chart_settings_are_saved_validated_and_drawn(pg_daemon: DaemonThread) -> None:
    c = pg_daemon.client()
    clip_id, _ = setup_clip(pg_daemon)
    assert c.get(f"/dataclips/api/clips/{clip_id}").json()["chart"] == {"kind": "auto", "x": None, "y": []}
    c.post(f"/dataclips/api/clips/{clip_id}/run", json={})
    r = c.put(f"/dataclips/api/clips/{clip_id}/chart", json={"kind": "bar", "x": "label", "y": ["n"]})
    assert r.status_code == 200, r.text
    assert r.json()["chart"]["kind"] == "bar" and r.json()["chart"]["points"] == 5
    clip = c.get(f"/dataclips/api/clips/{clip_id}").json()
    assert clip["chart"] == {"kind": "bar", "x": "label", "y": ["n"]} and clip["version"] == 1
    run = c.post(f"/dataclips/api/clips/{clip_id}/run", json={}).json()
    assert run["result"]["chart"]["kind"] == "bar"  # later runs draw the saved chart
    none = c.put(f"/dataclips/api/clips/{clip_id}/chart", json={"kind": "none"}).json()
    assert none["chart"] is None
    for bad in ({"kind": "pie"}, {"kind": "bar", "y": ["a"] * 6}, {"kind": "bar", "extra": 1}):
        r = c.put(f"/dataclips/api/clips/{clip_id}/chart", json=bad)
        assert r.status_code == 422, (bad, r.text)
    assert c.get(f"/dataclips/api/clips/{clip_id}").json()["chart"]["kind"] == "none"  # unchanged
    assert c.put("/dataclips/api/clips/999/chart", json={"kind": "bar"}).status_code == 404


def test_a_fork_copies_sql_chart_and_result_and_says_where_from(pg_daemon: DaemonThread) -> None:
    c = pg_daemon.client()
    clip_id, _ = setup_clip(pg_daemon)
    c.post(f"/dataclips/api/clips/{clip_id}/run", json={})
    c.put(f"/dataclips/api/clips/{clip_id}/chart", json={"kind": "bar", "x": "label"})
    r = c.post(f"/dataclips/api/clips/{clip_id}/fork")
    assert r.status_code == 201, r.text
    fork = r.json()
    original = c.get(f"/dataclips/api/clips/{clip_id}").json()
    assert fork["id"] != clip_id and fork["forked_from"] == clip_id and fork["title"] == "Points (fork)"
    assert (fork["sql"], fork["target"], fork["chart"]) == (
        original["sql"],
        original["target"],
        original["chart"],
    )
    assert fork["slug"] != original["slug"] and fork["version"] == 1
    kept = c.get(f"/dataclips/api/clips/{fork['id']}/result").json()["result"]
    assert kept["rows"] == 5 and kept["chart"]["kind"] == "bar"
    # deleting the original leaves the fork, no longer pointing at it
    c.delete(f"/dataclips/api/clips/{clip_id}")
    assert c.get(f"/dataclips/api/clips/{fork['id']}").json()["forked_from"] is None
    assert c.post("/dataclips/api/clips/999/fork").status_code == 404


def test_kept_results_and_charts_survive_a_restart(home: Path) -> None:
    d = DaemonThread(daemon_settings(home, postgres_url=admin_url())).start()
    try:
        clip_id, _ = setup_clip(d)
        c = d.client()
        ran = c.post(f"/dataclips/api/clips/{clip_id}/run", json={}).json()["result"]
        c.put(f"/dataclips/api/clips/{clip_id}/chart", json={"kind": "bar", "x": "label"})
    finally:
        d.stop()
    d = DaemonThread(daemon_settings(home, postgres_url=admin_url())).start()
    try:
        kept = d.client().get(f"/dataclips/api/clips/{clip_id}/result").json()["result"]
        assert kept["values"] == ran["values"] and kept["chart"]["kind"] == "bar"
    finally:
        d.stop()


def test_the_editor_page_loads_the_bundled_editor_under_a_nonce_csp(pg_daemon: DaemonThread) -> None:
    c = pg_daemon.client()
    clip = c.post("/dataclips/api/clips", json={"title": "t", "target": "platform", "sql": "SELECT 1"}).json()
    page = c.get(f"/dataclips/clips/{clip['id']}")
    nonce = page.text.split('name="style-nonce" content="')[1].split('"')[0]
    csp = page.headers["content-security-policy"]
    assert f"'nonce-{nonce}'" in csp and "script-src 'self';" in csp and "unsafe" not in csp
    assert (
        c.get(f"/dataclips/clips/{clip['id']}").headers["content-security-policy"] != csp
    )  # one per response
    assert "nonce" not in c.get("/dataclips").headers["content-security-policy"]  # only the editor page
    script = c.get("/dataclips/static/editor.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "PaasEditor" in script.text
    licence = c.get("/dataclips/static/editor.js.LICENSE.txt")
    assert licence.status_code == 200 and "@codemirror/lang-sql" in licence.text
