"""Postgres add-ons and dataclips through a whole daemon's HTTP API (real PostgreSQL)."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from common.events import Event
from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings
from tests.support.pg import admin_url
from tests.support.require import require

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_daemon(tmp_path: Path) -> Iterator[DaemonThread]:
    home = tmp_path / "home"
    home.mkdir()
    d = DaemonThread(daemon_settings(home, postgres_url=admin_url(), dataclip_timeout=2.0)).start()
    try:
        yield d
    finally:
        d.stop()


def make_db(c: httpx.Client, app: str, plan: str = "heroku-postgresql") -> tuple[str, str]:
    assert c.post("/apps", json={"name": app}).status_code == 201
    r = c.post(f"/apps/{app}/addons", json={"plan": plan})
    assert r.status_code == 201, r.text
    addon = r.json()
    return addon["name"], c.get(f"/apps/{app}/config-vars").json()["DATABASE_URL"]


def test_addon_sets_database_url_in_a_new_release_and_pg_endpoints(pg_daemon: DaemonThread) -> None:
    c = pg_daemon.client()
    name, url = make_db(c, "shop", "postgres:essential-1")
    assert re.fullmatch(r"postgresql-[a-z]+-\d+", name)
    releases = c.get("/apps/shop/releases").json()
    assert releases[-1]["description"] == f"Attach DATABASE ({name})"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id int, total numeric)")
    info = c.get("/apps/shop/pg").json()
    assert [(d["addon"]["name"], d["plan"], d["tables"], d["config_vars"]) for d in info] == [
        (name, "essential-1", 1, ["DATABASE_URL"])
    ]
    creds = c.get("/apps/shop/pg/DATABASE_URL/credentials").json()
    assert creds["url"] == url and creds["addon"] == name
    assert c.post(f"/apps/shop/pg/{name}/reset").json() == {"addon": name, "reset": True}
    assert c.get(f"/apps/shop/pg/{name}").json()["tables"] == 0
    assert c.get("/apps/shop/pg/nope").status_code == 404
    assert c.delete(f"/apps/shop/addons/{name}").status_code == 200
    assert "DATABASE_URL" not in c.get("/apps/shop/config-vars").json()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=3)


def test_dataclips_login_pages_and_api_auth(pg_daemon: DaemonThread) -> None:
    base = pg_daemon.api_url
    with httpx.Client(base_url=base, follow_redirects=False) as anon:
        r = anon.get("/dataclips")
        assert r.status_code == 303 and r.headers["location"] == "/dataclips/login?next=/dataclips"
        assert anon.get("/dataclips/api/clips").status_code == 401
        bad = anon.post("/dataclips/login", data={"token": "wrong", "next": "/dataclips"})
        assert bad.status_code == 401 and "That token is not valid." in bad.text
        ok = anon.post("/dataclips/login", data={"token": pg_daemon.d.token, "next": "https://evil.example/"})
        assert ok.status_code == 303 and ok.headers["location"] == "/dataclips"  # no open redirect
        cookie = ok.cookies["paas_dataclips"]
        assert cookie != pg_daemon.d.token and "httponly" in ok.headers["set-cookie"].lower()
        anon.cookies.set("paas_dataclips", "forged")
        assert anon.get("/dataclips/api/clips").status_code == 401
        anon.cookies.clear()
        anon.cookies.set("paas_dataclips", cookie)
        page = anon.get("/dataclips")
        assert page.status_code == 200 and "New Dataclip" in page.text


def test_clip_lifecycle_share_cache_revoke_and_versions(pg_daemon: DaemonThread) -> None:
    c = pg_daemon.client()
    name, url = make_db(c, "stats")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE visits (day date, n int, page text)")
        conn.execute(
            "INSERT INTO visits SELECT '2024-03-01'::date + g, g * 10, 'p' || g FROM generate_series(0, 9) g"
        )
    sql = "SELECT day, n FROM visits ORDER BY day"
    clip = c.post("/dataclips/api/clips", json={"title": "Visits per day", "addon": name, "sql": sql}).json()
    assert clip["version"] == 1 and re.fullmatch(r"[a-z]{28}", clip["slug"])

    run = c.post(f"/dataclips/api/clips/{clip['id']}/run", json={}).json()
    result = run["result"]
    assert (
        result["fields"] == ["day", "n"] and result["rows"] == 10 and result["values"][0] == ["2024-03-01", 0]
    )
    assert result["chart"]["kind"] == "line" and result["chart"]["svg"].startswith("<svg")

    share = c.post(f"/dataclips/api/clips/{clip['id']}/share").json()
    with httpx.Client() as anon:  # no credentials at all
        page = anon.get(share["url"])
        assert page.status_code == 200 and "Visits per day" in page.text and 'data-kind="line"' in page.text
        shared = anon.get(share["json_url"]).json()
        assert shared == {"title": "Visits per day", "fields": ["day", "n"], "values": result["values"]}
        rows = list(csv.reader(io.StringIO(anon.get(share["csv_url"]).text)))
        assert rows[0] == ["day", "n"] and rows[1] == ["2024-03-01", "0"] and len(rows) == 11

        # results are cached for about a minute: new data shows only on a fresh run
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DELETE FROM visits WHERE n > 0")
        assert len(anon.get(share["json_url"]).json()["values"]) == 10
        assert (
            c.post(f"/dataclips/api/clips/{clip['id']}/run", json={"fresh": True}).json()["result"]["rows"]
            == 1
        )
        assert len(anon.get(share["json_url"]).json()["values"]) == 1
        head = anon.head(share["csv_url"])  # spreadsheet importers ask first
        assert head.status_code == 200 and head.headers["content-type"].startswith("text/csv")

        revoked = c.post(f"/dataclips/api/clips/{clip['id']}/revoke").json()
        assert revoked["revoked_slug"] == clip["slug"] and revoked["url"] != share["url"]
        for old in (share["url"], share["csv_url"], share["json_url"]):
            assert anon.get(old).status_code == 404
            assert anon.head(old).status_code == 404
        assert anon.get(revoked["json_url"]).status_code == 200
        assert anon.get("/".join(share["url"].split("/")[:-1]) + "/notaslug").status_code == 404

    # every save is a version; revert appends a copy of the old one
    c.post(f"/dataclips/api/clips/{clip['id']}/run", json={"sql": "SELECT page, n FROM visits"})
    c.patch(f"/dataclips/api/clips/{clip['id']}", json={"title": "Renamed"})
    full = c.get(f"/dataclips/api/clips/{clip['id']}").json()
    assert [v["number"] for v in full["versions"]] == [3, 2, 1] and full["title"] == "Renamed"
    reverted = c.post(f"/dataclips/api/clips/{clip['id']}/revert", json={"version": 1}).json()
    assert reverted["version"] == 4 and reverted["sql"] == sql and reverted["title"] == "Visits per day"
    assert c.get(f"/dataclips/api/clips/{clip['id']}").json()["versions"][0]["note"] == "reverted to v1"


def test_bad_sql_is_explained_and_the_daemon_keeps_serving(pg_daemon: DaemonThread) -> None:
    c = pg_daemon.client()
    name, url = make_db(c, "errs")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (a int)")
        conn.execute("INSERT INTO t VALUES (1)")
    clip = c.post("/dataclips/api/clips", json={"title": "t", "addon": name, "sql": "SELECT a FROM t"}).json()
    cases = {
        "SELECT b\nFROM t": ("query_error", 'column "b" does not exist'),
        "DELETE FROM t": (
            "query_read_only",
            "Dataclips are read-only: cannot execute DELETE in a read-only transaction. Nothing was changed.",
        ),
        "COMMIT; DELETE FROM t": (
            "query_multiple",
            "A dataclip runs one statement; remove the extra statements.",
        ),
        "SELECT pg_sleep(10)": (
            "query_timeout",
            "The query ran longer than the 2-second limit and was cancelled.",
        ),
    }
    for sql, (error_id, message) in cases.items():
        r = c.post(f"/dataclips/api/clips/{clip['id']}/run", json={"sql": sql})
        assert r.status_code == 422, r.text
        assert r.json()["id"] == error_id and r.json()["message"] == message
    r = c.post(f"/dataclips/api/clips/{clip['id']}/run", json={"sql": "SELECT b\nFROM t"})
    assert r.json()["error"]["position"] == 8 and r.json()["error"]["line"] == 1
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
    assert (
        c.post("/dataclips/api/clips", json={"title": "x", "addon": "postgresql-missing-1"}).status_code
        == 422
    )
    assert c.post("/dataclips/api/clips", json={"title": "", "addon": "platform"}).status_code == 422
    assert c.get("/dataclips/api/clips/999").status_code == 404
    # a statement COPY cannot wrap still exports, formatted by the daemon
    shown = c.post("/dataclips/api/clips", json={"title": "tz", "addon": name, "sql": "SHOW TimeZone"}).json()
    with httpx.Client() as anon:
        assert anon.get(f"{pg_daemon.api_url}/dataclips/{shown['slug']}.csv").text.startswith("TimeZone\n")
    assert c.get("/dataclips/api/status").json()["row_cap"] == 100_000
    # the row cap: 100,000 rows kept, the truncation said in the summary; 1,000 sent for display
    big = c.post(
        f"/dataclips/api/clips/{clip['id']}/run", json={"sql": "SELECT g FROM generate_series(1, 100001) g"}
    )
    r = big.json()["result"]
    assert r["rows"] == 100_000 and r["truncated"] and r["shown"] == 1000 and len(r["values"]) == 1000
    assert "100,000 rows · truncated at the 100,000-row limit · showing the first 1,000" in r["summary"]


def test_platform_database_holds_router_events(pg_daemon: DaemonThread) -> None:
    c = pg_daemon.client()
    now = time.time()

    async def publish() -> None:  # what the router's on_request callback publishes, one per request
        for i in range(30):
            code = "H12" if i % 3 == 0 else None
            data = {"dyno": "web.1", "code": code, "status": 503 if code else 200, "connect_ms": 1,
                    "service_ms": 30000 if code else 5, "bytes": 100, "method": "GET", "path": f"/{i}",
                    "host": "lab.localhost", "request_id": f"r{i}", "at": "error" if code else "info",
                    "total_ms": 7, "ts": now - 120 + i * 4}  # fmt: skip
            pg_daemon.d.bus.publish(Event("router.request", "lab", data))

    pg_daemon.call(publish)
    status = c.get("/dataclips/api/status").json()
    # nothing has used Postgres yet: the events wait in the bounded ring, the server is not started
    assert status["platform_events"]["buffered"] == 30 and not status["cluster_running"]
    clip = c.post(
        "/dataclips/api/clips",
        json={"title": "H-codes per minute", "target": "platform",
              "sql": "SELECT date_trunc('minute', ts) AS minute, count(*) FILTER (WHERE code = 'H12') AS h12 "
                     "FROM router_events GROUP BY 1 ORDER BY 1"},
    ).json()  # fmt: skip
    deadline = time.time() + 10
    total = 0
    while time.time() < deadline:
        r = c.post(f"/dataclips/api/clips/{clip['id']}/run", json={"fresh": True}).json()
        total = sum(row[1] for row in r["result"]["values"])
        if total == 10:
            break
        time.sleep(0.3)
    assert total == 10 and r["result"]["chart"]["kind"] == "line"
    # the platform reader may read, never write
    bad = c.post(f"/dataclips/api/clips/{clip['id']}/run", json={"sql": "DELETE FROM router_events"})
    assert bad.json()["id"] == "query_read_only"
    schema = c.get("/dataclips/api/schema", params={"target": "platform"}).json()
    assert schema[0]["name"] == "router_events"
    assert {"ts", "code", "service_ms"} <= {col["name"] for col in schema[0]["columns"]}


def test_real_router_requests_become_platform_rows(pg_daemon: DaemonThread) -> None:
    """Requests through the router (to an app with nothing deployed) land in router_events."""
    require(pg_daemon.d.router is not None, "the router is not part of this build")
    c = pg_daemon.client()
    c.post("/apps", json={"name": "quiet"})
    statuses = []
    with httpx.Client(base_url=pg_daemon.router_url, headers={"Host": "quiet.localhost"}, timeout=10) as web:
        for i in range(6):
            statuses.append(web.get(f"/hello/{i}").status_code)
    clip = c.post(
        "/dataclips/api/clips",
        json={"title": "quiet", "target": "platform",
              "sql": "SELECT path, status, code FROM router_events WHERE app = 'quiet' ORDER BY id"},
    ).json()  # fmt: skip
    deadline = time.time() + 10
    values: list[list[object]] = []
    while time.time() < deadline and len(values) < 6:
        run = c.post(f"/dataclips/api/clips/{clip['id']}/run", json={"fresh": True}).json()
        values = run["result"]["values"]
        time.sleep(0.2)
    assert [v[0] for v in values] == [f"/hello/{i}" for i in range(6)]
    assert [v[1] for v in values] == statuses
