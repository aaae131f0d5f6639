"""Dataclips in headless Chromium: log in, create, Save & Run, table + chart, schema explorer,
cancel, share link in a fresh context without credentials, CSV download, revoke → 404."""

from __future__ import annotations

import contextlib
import csv
import http.server
import io
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings
from tests.support.pg import admin_url
from tests.support.png import read_png
from tests.support.require import require

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run"]  # fmt: skip


@pytest.fixture
def pg_daemon(tmp_path: Path) -> Iterator[DaemonThread]:
    home = tmp_path / "home"
    home.mkdir()
    # a small byte cap, so a page can show what a cut result looks like
    d = DaemonThread(daemon_settings(home, postgres_url=admin_url(), dataclip_max_bytes=300_000)).start()
    try:
        yield d
    finally:
        d.stop()


def test_dataclip_in_the_browser(pg_daemon: DaemonThread, tmp_path: Path) -> None:
    require(os.path.exists(CHROMIUM) or shutil.which("chromium") is not None, "chromium is not installed")
    from playwright.sync_api import expect, sync_playwright

    c = pg_daemon.client()
    c.post("/apps", json={"name": "traffic"})
    addon = c.post("/apps/traffic/addons", json={"plan": "heroku-postgresql"}).json()["name"]
    url = c.get("/apps/traffic/config-vars").json()["DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE visits (day date, visits integer, note text)")
        conn.execute(
            "INSERT INTO visits SELECT '2024-05-01'::date + g, 100 + g * g, 'n' || g FROM generate_series(0, 13) g"
        )
    base = pg_daemon.api_url

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            owner = browser.new_context(accept_downloads=True)
            page = owner.new_page()
            page.goto(f"{base}/dataclips")
            expect(page).to_have_url(f"{base}/dataclips/login?next=/dataclips")
            page.fill("#token", "not the token")
            page.click("#login")
            expect(page.locator(".error")).to_have_text("That token is not valid.")
            page.fill("#token", pg_daemon.d.token)
            page.click("#login")
            expect(page).to_have_url(f"{base}/dataclips")

            page.fill("#new-title", "Daily visits")
            page.select_option("#new-target", addon)
            page.click("#create")
            expect(page).to_have_url(f"{base}/dataclips/clips/1")
            # the schema explorer lists the table, its columns and types, and filters
            expect(page.locator("#schema-list .tname")).to_have_text(["visits"])
            expect(page.locator("#schema-list .type").first).to_have_text("date")
            page.fill("#schema-filter", "nothing-matches")
            expect(page.locator("#schema-list li.table")).to_be_hidden()
            page.fill("#schema-filter", "")

            fill_sql(page, "SELECT day, visits FROM visits ORDER BY day")
            page.click("#save-run")
            expect(page.locator("#results tbody tr")).to_have_count(14)
            expect(page.locator("#results thead th")).to_have_text(["day", "visits"])
            expect(page.locator("#results tbody tr").first).to_contain_text("2024-05-01")
            chart = page.locator("#chart svg.dataclip-chart")
            expect(chart).to_have_attribute("data-kind", "line")
            expect(chart.locator("polyline.series")).to_have_count(1)
            expect(page.locator("#status")).to_have_text("Saved as v2")

            # a text column and a number: a bar chart
            fill_sql(page, "SELECT note, visits FROM visits ORDER BY day LIMIT 5")
            page.click("#save-run")
            expect(page.locator("#chart svg")).to_have_attribute("data-kind", "bar")
            expect(page.locator("#chart rect.bar")).to_have_count(5)

            # a writing statement: clear error, nothing changed; a typo: position shown
            fill_sql(page, "DELETE FROM visits")
            page.click("#save-run")
            expect(page.locator("#error")).to_contain_text("Dataclips are read-only")
            fill_sql(page, "SELECT day,\nday, vists FROM visits")
            page.click("#save-run")
            expect(page.locator("#error")).to_contain_text('column "vists" does not exist')
            expect(page.locator("#error")).to_contain_text("at line 2, column 6")
            # the editor marks the spot: line 2, from column 6
            mark = page.locator("#sql-editor .cm-lintRange-error")
            expect(mark).to_have_count(1)
            expect(page.locator("#sql-editor .cm-line").nth(1)).to_contain_text("vists")
            assert mark.evaluate("m => m.closest('.cm-line').textContent.indexOf(m.textContent)") == 5

            # cancel a long query
            fill_sql(page, "SELECT pg_sleep(30)")
            page.click("#save-run")
            expect(page.locator("#cancel")).to_be_visible()
            page.wait_for_timeout(300)
            page.click("#cancel")
            expect(page.locator("#error")).to_have_text("The query was cancelled.", timeout=5000)

            # history: revert to the first working query (v2) runs it again
            page.locator("#versions li[data-version='2'] button.revert").click()
            expect(page.locator("#results tbody tr")).to_have_count(14)
            expect(page.locator("#sql")).to_have_value("SELECT day, visits FROM visits ORDER BY day")
            expect(page.locator("#versions li").first).to_contain_text("reverted to v2")

            share_url = page.locator("#share-link").get_attribute("href")
            assert share_url is not None and share_url.startswith(f"{base}/dataclips/")

            # a stranger with the link: no cookie, no token
            stranger = browser.new_context(accept_downloads=True)
            other = stranger.new_page()
            response = other.goto(share_url)
            assert response is not None and response.status == 200
            expect(other.locator("h1")).to_have_text("Daily visits")
            expect(other.locator("table.results tbody tr")).to_have_count(14)
            expect(other.locator("#chart svg")).to_have_attribute("data-kind", "line")
            with other.expect_download() as download_info:
                other.click("#csv-link")
            download = download_info.value
            assert download.suggested_filename == "Daily-visits.csv"
            rows = list(csv.reader(io.StringIO(Path(download.path()).read_text())))
            assert rows[0] == ["day", "visits"] and rows[1] == ["2024-05-01", "100"] and len(rows) == 15
            assert stranger.cookies() == []  # nothing was needed to get here
            other.goto(f"{base}/dataclips/clips/1")  # the editor itself still needs the login
            assert other.url.startswith(f"{base}/dataclips/login")

            # the owner revokes: the old link is gone, the new one works
            page.click("#revoke")
            expect(page.locator("#share-link")).not_to_have_text(share_url)
            gone = other.goto(share_url)
            assert gone is not None and gone.status == 404
            new_url = page.locator("#share-link").get_attribute("href")
            assert new_url is not None
            fresh = other.goto(new_url)
            assert fresh is not None and fresh.status == 200
            # nothing on these pages reaches beyond the daemon (no CDN)
            assert all(r.startswith(base) for r in _resources(page))
        finally:
            browser.close()


def fill_sql(page: Any, sql: str) -> None:
    """Replace the SQL in the editor as a person pasting it does: select all, paste. (Playwright's
    `fill` and `insert_text` go through Chromium's own contenteditable editing, which writes a
    style attribute the page's CSP rightly refuses; CodeMirror handles a paste itself.)"""
    content = page.locator("#sql-editor .cm-content")
    content.click()
    page.keyboard.press("Control+a")
    content.evaluate(PASTE, sql)


PASTE = """(el, text) => {
  const data = new DataTransfer();
  data.setData("text/plain", text);
  el.dispatchEvent(new ClipboardEvent("paste", {clipboardData: data, bubbles: true, cancelable: true}));
}"""


def _resources(page: object) -> list[str]:
    evaluate = page.evaluate  # type: ignore[attr-defined]
    return list(evaluate("performance.getEntriesByType('resource').map(e => e.name)"))


ATTACK_PAGE = """<!doctype html><html><body>
<iframe id="framed" src="{base}/dataclips" width="600" height="300"></iframe>
<form id="forged" method="post" action="{base}/dataclips/new" target="sink">
<input name="title" value="pwned"><input name="target" value="platform"></form>
<iframe name="sink"></iframe>
<script>
fetch("{base}/dataclips/api/clips/1/revoke", {{method: "POST", credentials: "include", mode: "no-cors"}});
document.getElementById("forged").submit();
</script></body></html>"""


@contextlib.contextmanager
def serve_page(html: str) -> Iterator[str]:
    """Another origin on loopback (same site as the daemon: cookies do travel there)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_a_foreign_page_cannot_forge_changes_or_frame_the_pages(pg_daemon: DaemonThread) -> None:
    """Logged in, the user visits another origin on the same machine: its forged form post and
    fetch change nothing, it cannot frame the pages, and the pages themselves run under a CSP
    that reports no violation."""
    require(os.path.exists(CHROMIUM) or shutil.which("chromium") is not None, "chromium is not installed")
    from playwright.sync_api import expect, sync_playwright

    c = pg_daemon.client()
    clip = c.post(
        "/dataclips/api/clips", json={"title": "mine", "target": "platform", "sql": "SELECT 1"}
    ).json()
    base = pg_daemon.api_url
    violations: list[str] = []
    with sync_playwright() as p, serve_page(ATTACK_PAGE.format(base=base)) as evil_url:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            context = browser.new_context()
            page = context.new_page()
            page.on(
                "console",
                lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
            )
            page.goto(f"{base}/dataclips/login")
            page.fill("#token", pg_daemon.d.token)
            page.click("#login")
            expect(page).to_have_url(f"{base}/dataclips")
            page.goto(f"{base}/dataclips/clips/{clip['id']}")
            fill_sql(page, "SELECT g AS day, g * g AS n FROM generate_series(1, 5) g")
            page.click("#save-run")
            expect(page.locator("#results tbody tr")).to_have_count(5)

            attack = context.new_page()
            attack.goto(evil_url)
            attack.wait_for_load_state("networkidle")
            framed = attack.frame_locator("#framed")
            expect(framed.locator("header.top")).to_have_count(0)  # refused to be framed
            assert attack.evaluate("document.getElementById('framed').contentDocument") is None
        finally:
            browser.close()
    titles = [x["title"] for x in c.get("/dataclips/api/clips").json()]
    assert titles == ["mine"]  # the forged form made nothing
    assert c.get(f"/dataclips/api/clips/{clip['id']}").json()["slug"] == clip["slug"]  # nor revoked
    assert violations == []


def test_a_result_cut_by_the_byte_cap_says_so_on_the_pages(pg_daemon: DaemonThread) -> None:
    require(os.path.exists(CHROMIUM) or shutil.which("chromium") is not None, "chromium is not installed")
    from playwright.sync_api import expect, sync_playwright

    c = pg_daemon.client()
    sql = "SELECT g, repeat('x', 2000) AS pad FROM generate_series(1, 1000) g"
    clip = c.post("/dataclips/api/clips", json={"title": "wide", "target": "platform", "sql": sql}).json()
    base = pg_daemon.api_url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_context().new_page()
            page.goto(f"{base}/dataclips/login")
            page.fill("#token", pg_daemon.d.token)
            page.click("#login")
            page.goto(f"{base}/dataclips/clips/{clip['id']}")
            expect(page.locator("#notice")).to_be_hidden()
            page.click("#save-run")
            expect(page.locator("#notice")).to_be_visible()
            expect(page.locator("#notice")).to_contain_text("larger than the 300,000-byte limit")
            expect(page.locator("#result-meta")).to_contain_text("truncated at the 300,000-byte limit")
            shown = page.locator("#results tbody tr").count()
            assert 100 < shown < 150

            stranger = browser.new_context().new_page()
            stranger.goto(f"{base}/dataclips/{clip['slug']}")
            expect(stranger.locator("#notice")).to_be_visible()
            expect(stranger.locator("#notice")).to_have_text(
                f"The result is larger than the 300,000-byte limit; only the first {shown} rows are included."
            )
            expect(stranger.locator("table.results tbody tr")).to_have_count(shown)
        finally:
            browser.close()


PURPLE = (0x7A, 0x5A, 0xF8)  # the chart's first series (paas.dataclips.chart.COLORS[0])
KEYWORD = (0x77, 0x00, 0x88)  # CodeMirror's default highlight colour for keywords (#708)


def test_the_editor_completes_runs_charts_keeps_and_forks(pg_daemon: DaemonThread) -> None:
    """Type SQL in the CodeMirror editor, complete a column name from the schema, run it with
    Ctrl+Enter, pick a bar chart by plan, reload (the kept result and the chart come back without
    running the query), fork. Screenshots are checked by pixels of known regions: keywords
    highlighted, the chart's series colour in the chart (a bar chart has far more than a line)."""
    require(os.path.exists(CHROMIUM) or shutil.which("chromium") is not None, "chromium is not installed")
    from playwright.sync_api import expect, sync_playwright

    c = pg_daemon.client()
    c.post("/apps", json={"name": "shop"})
    addon = c.post("/apps/shop/addons", json={"plan": "heroku-postgresql"}).json()["name"]
    url = c.get("/apps/shop/config-vars").json()["DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE signups (day date, signups_count integer, plan text)")
        conn.execute(
            "INSERT INTO signups SELECT '2024-05-01'::date + g, 10 + g * 3, (ARRAY['mini','basic','std'])[g % 3 + 1]"
            " FROM generate_series(0, 8) g"
        )
    clip = c.post("/dataclips/api/clips", json={"title": "Signups", "target": addon, "sql": ""}).json()
    base = pg_daemon.api_url
    violations: list[str] = []  # the editor works under the pages' strict CSP (its styles by nonce)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
            page.on("console", lambda m: violations.append(m.text) if "Content Security" in m.text else None)
            page.goto(f"{base}/dataclips/login")
            page.fill("#token", pg_daemon.d.token)
            page.click("#login")
            page.goto(f"{base}/dataclips/clips/{clip['id']}")
            expect(page.locator("#editor")).to_have_attribute("data-editor", "codemirror")
            expect(page.locator("#result-card")).to_be_hidden()  # never ran: nothing to show
            expect(page.locator("#editor")).to_have_attribute("data-schema-tables", "1")

            # typing: the column name completes from the schema
            page.locator("#sql-editor .cm-content").click()
            page.keyboard.type("SELECT day, signups_c")
            option = page.locator(".cm-tooltip-autocomplete li[aria-selected]")
            expect(option).to_contain_text("signups_count")
            # picked with the mouse: CodeMirror ignores Enter for a moment after the list changes
            # (its interactionDelay), so a key press here would race the list on a loaded machine
            option.click()
            page.keyboard.type(", plan FROM signups ORDER BY day")
            page.keyboard.press("Escape")  # close any completion left open
            expect(page.locator("#sql")).to_have_value(
                "SELECT day, signups_count, plan FROM signups ORDER BY day"
            )
            keywords = read_png(page.locator("#sql-editor .cm-line").first.screenshot())
            assert keywords.count(KEYWORD, tolerance=40) > 20  # SELECT is drawn in the keyword colour

            # Ctrl+Enter saves and runs
            page.keyboard.press("Control+Enter")
            expect(page.locator("#results tbody tr")).to_have_count(9)
            expect(page.locator("#status")).to_have_text("Saved as v2")
            expect(page.locator("#chart svg")).to_have_attribute("data-kind", "line")
            line_pixels = read_png(page.locator("#chart svg").screenshot()).count(PURPLE)
            assert line_pixels > 200

            # pick a bar chart of signups by plan: saved with the clip
            page.select_option("#chart-kind", "bar")
            page.select_option("#chart-x", "plan")
            expect(page.locator("#chart")).to_have_attribute("data-saved", "bar plan")
            expect(page.locator("#status")).to_have_text("Chart saved")
            expect(page.locator("#chart svg")).to_have_attribute("data-kind", "bar")
            expect(page.locator("#chart rect.bar")).to_have_count(9)
            bar_pixels = read_png(page.locator("#chart svg").screenshot()).count(PURPLE)
            assert bar_pixels > 5 * line_pixels
            assert c.get(f"/dataclips/api/clips/{clip['id']}").json()["chart"] == {
                "kind": "bar", "x": "plan", "y": []
            }  # fmt: skip
            meta = page.locator("#result-meta").text_content()

            # new rows in the database; the reload shows the kept result (nothing ran) and the chart
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("INSERT INTO signups VALUES ('2024-06-01', 99, 'std')")
            page.reload()
            expect(page.locator("#results tbody tr")).to_have_count(9)
            expect(page.locator("#result-meta")).to_have_text(meta or "")
            expect(page.locator("#chart svg")).to_have_attribute("data-kind", "bar")
            expect(page.locator("#chart-kind")).to_have_value("bar")
            expect(page.locator("#chart-x")).to_have_value("plan")
            assert read_png(page.locator("#chart svg").screenshot()).count(PURPLE) == bar_pixels

            # fork: a new clip with the same SQL, chart and latest result, "forked from" the first
            page.click("#fork")
            expect(page).to_have_url(f"{base}/dataclips/clips/{clip['id'] + 1}")
            expect(page.locator("#title")).to_have_value("Signups (fork)")
            expect(page.locator("#forked-from a")).to_have_attribute("href", f"/dataclips/clips/{clip['id']}")
            expect(page.locator("#sql")).to_have_value(
                "SELECT day, signups_count, plan FROM signups ORDER BY day"
            )
            expect(page.locator("#chart svg")).to_have_attribute("data-kind", "bar")
            page.locator("#sql-editor .cm-content").click()
            page.keyboard.press("Control+Enter")  # the fork runs on its own: the new row shows
            expect(page.locator("#results tbody tr")).to_have_count(10)
            assert c.get(f"/dataclips/api/clips/{clip['id']}").json()["sql"].startswith("SELECT day")
        finally:
            browser.close()
    assert violations == []
