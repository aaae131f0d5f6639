"""The TUI driven from the keyboard (Textual pilot) against a real in-process daemon and a real app.

Each test deploys a tiny stdlib web app, opens `PaasApp` on its API and event stream, presses
keys, and checks both sides: what the daemon did (formation, dynos, releases) and what the TUI
shows (store, tables, the router log pane).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.widgets import DataTable

from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings
from tui.app import PaasApp
from tui.client import HttpBackend
from tui.screens.help import SECTIONS, HelpScreen
from tui.screens.line import LineScreen
from tui.screens.logs import RouterScreen
from tui.widgets.code_panel import CodePanel
from tui.widgets.stream_log import StreamLog

pytestmark = pytest.mark.slow

APP = "tuiapp"
SIZE = (140, 40)
WEB_APP = """
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        status = 404 if self.path.startswith("/missing") else 200
        body = f"{os.environ.get('DYNO')} {self.path}\\n".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print("request", self.path, flush=True)

print("listening on", os.environ["PORT"], flush=True)
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def deploy(daemon: DaemonThread, tmp_path: Path, app: str = APP) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_text(WEB_APP)
    (src / "Procfile").write_text("web: python app.py\n")
    (src / "requirements.txt").write_text("")
    created = daemon.cli("apps:create", app)
    assert created.returncode == 0, created.stderr
    deployed = daemon.cli("deploy", str(src), "-a", app)
    assert deployed.returncode == 0, deployed.stderr


@pytest.fixture
def crashy_daemon(paas_home: Path) -> Iterator[DaemonThread]:
    """A daemon whose second crash in a row waits 5 s in `crashed` (crash_backoff_max / 2)."""
    d = DaemonThread(daemon_settings(paas_home, crash_backoff_max=10.0)).start()
    try:
        yield d
    finally:
        d.stop()


def tui_for(daemon: DaemonThread) -> PaasApp:
    return PaasApp(HttpBackend(daemon.api_url, daemon.d.token), app_name=APP, freeze_gc=False)


async def until(pilot: Any, check: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await pilot.pause(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")


def dyno_states(app: PaasApp) -> dict[str, str]:
    state = app.store.apps.get(APP)
    return {n: d.state for n, d in state.dynos.items()} if state else {}


def crashes(app: PaasApp) -> int:
    """`heroku[web.1]: State changed from up to crashed` lines seen on the stream."""
    state = app.store.apps.get(APP)
    return sum(1 for e in state.logs if e.dyno == "web.1" and "to crashed" in e.text) if state else 0


def web_up(app: PaasApp) -> int:
    return sum(1 for n, s in dyno_states(app).items() if n.startswith("web.") and s == "up")


def formation(daemon: DaemonThread) -> int:
    with daemon.client() as c:
        rows = c.get(f"/apps/{APP}/formation").json()
    return int(next(r["quantity"] for r in rows if r["type"] == "web"))


def require_dynos_and_router(daemon: DaemonThread) -> None:
    if daemon.d.dynos is None or daemon.d.router is None:
        pytest.fail("the daemon has no dyno manager or router; the TUI pilot tests need both")


async def test_scaling_from_the_keyboard_changes_the_dynos(daemon: DaemonThread, tmp_path: Path) -> None:
    require_dynos_and_router(daemon)
    deploy(daemon, tmp_path)
    app = tui_for(daemon)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: web_up(app) == 1, what="web.1 up in the TUI")
        await pilot.press("2")  # the app view: its dynos table is what the user looks at
        await pilot.press("plus")
        await until(pilot, lambda: formation(daemon) == 2, what="formation web=2 in the daemon")
        await until(pilot, lambda: web_up(app) == 2, what="web.2 up in the TUI")
        table = app.screen.query_one("#dynos", DataTable)
        await until(pilot, lambda: table.row_count == 2, what="two rows in the dynos table")
        names = {str(k.value) for k in table.rows}
        assert names == {"web.1", "web.2"}
        # the daemon's own view agrees
        with daemon.client() as c:
            listed = {d["name"]: d["state"] for d in c.get(f"/apps/{APP}/dynos").json()}
        assert listed == {"web.1": "up", "web.2": "up"}

        await pilot.press("minus")
        await until(pilot, lambda: formation(daemon) == 1, what="formation web=1 in the daemon")
        await until(
            pilot,
            lambda: "web.2" not in dyno_states(app) or dyno_states(app)["web.2"] == "down",
            what="web.2 gone or down in the TUI",
        )
        await until(
            pilot,
            lambda: table.row_count == 1 or "down" in str(table.get_row("web.2")),
            what="the table following",
        )
        assert any(a.startswith("Scaling dynos... done, now running web at 2") for a in app.actions_done)
        assert any(a.startswith("Scaling dynos... done, now running web at 1") for a in app.actions_done)


async def test_a_crashed_dyno_shows_h10_in_the_router_pane(
    crashy_daemon: DaemonThread, tmp_path: Path
) -> None:
    daemon = crashy_daemon
    require_dynos_and_router(daemon)
    deploy(daemon, tmp_path)
    app = tui_for(daemon)
    host = {"Host": f"{APP}.localhost"}
    async with (
        app.run_test(size=SIZE) as pilot,
        httpx.AsyncClient(base_url=daemon.router_url, timeout=30) as http,
    ):
        await until(pilot, lambda: web_up(app) == 1, what="web.1 up")
        ok = await http.get("/", headers=host)
        assert ok.status_code == 200
        await pilot.press("3")
        assert isinstance(app.screen, RouterScreen)
        log = app.screen.query_one(StreamLog)
        await until(
            pilot,
            lambda: any(e.fields and e.fields.get("status") == "200" for e in log.rows),
            what="the 200 line in the router pane",
        )

        # First crash: the platform restarts at once. Second crash soon after: it backs off,
        # and while the only web dyno sits in `crashed` the router answers H10.
        await pilot.press("c")
        await until(pilot, lambda: crashes(app) == 1, what="web.1 crashed")
        await until(pilot, lambda: dyno_states(app).get("web.1") == "up", what="web.1 restarted")
        await pilot.press("c")
        await until(pilot, lambda: crashes(app) == 2, what="web.1 crashed again")
        assert dyno_states(app).get("web.1") == "crashed", app.store.apps[APP].logs
        started = time.monotonic()
        response = await http.get("/", headers=host)
        elapsed = time.monotonic() - started
        assert response.status_code == 503
        assert elapsed < 2.0, "H10 is answered at once, not after a hold"

        h10 = await until(
            pilot, lambda: [e for e in log.rows if e.code == "H10"], what="an H10 line in the pane"
        )
        line = h10[-1]
        assert line.level == "error"
        assert 'desc="App crashed"' in line.text and "status=503" in line.text
        assert line.fields is not None and line.fields["dyno"] == ""  # no dyno was reached
        # the side pane explains the newest code while following
        panel = app.screen.query_one(CodePanel)
        await until(pilot, lambda: panel.code == "H10", timeout=6, what="the H10 explanation")
        assert sum(1 for a in app.actions_done if a.startswith("Crashing (SIGKILL) web.1")) == 2


async def test_filtering_the_router_log(daemon: DaemonThread, tmp_path: Path) -> None:
    require_dynos_and_router(daemon)
    deploy(daemon, tmp_path)
    app = tui_for(daemon)
    host = {"Host": f"{APP}.localhost"}
    async with (
        app.run_test(size=SIZE) as pilot,
        httpx.AsyncClient(base_url=daemon.router_url, timeout=30) as http,
    ):
        await until(pilot, lambda: web_up(app) == 1, what="web.1 up")
        for path in ("/", "/a", "/missing/1", "/b", "/missing/2"):
            await http.get(path, headers=host)
        await pilot.press("3")
        log = app.screen.query_one(StreamLog)
        await until(pilot, lambda: len(log.rows) >= 5, what="five router lines")

        await pilot.press("slash", *"status:404", "enter")
        await until(pilot, lambda: len(log.rows) == 2, what="only the 404s")
        assert all(e.fields and e.fields["status"] == "404" for e in log.rows)
        assert {e.fields["path"] for e in log.rows if e.fields} == {"/missing/1", "/missing/2"}

        # new lines are filtered as they arrive
        await http.get("/missing/3", headers=host)
        await http.get("/c", headers=host)
        await until(pilot, lambda: len(log.rows) == 3, what="the new 404 only")

        # change the filter: by path, negated
        await pilot.press("slash", *"!path:/missing", "enter")  # `/` selects the old text: typing replaces it
        await until(
            pilot,
            lambda: (
                len(log.rows) >= 4
                and all("/missing" not in (e.fields or {}).get("path", "") for e in log.rows)
            ),
            what="everything but /missing",
        )

        # a bad filter says why (and is not applied)
        await pilot.press("slash", *"colour:red", "enter")
        screen = app.screen
        assert isinstance(screen, RouterScreen)
        assert "unknown filter key 'colour'" in screen.filter_error
        assert screen.query_one("#filter").has_class("invalid")
        assert "colour:red" not in screen.filter.text

        # esc twice: close the box, then clear the filter
        await pilot.press("escape")
        await pilot.press("escape")
        await until(pilot, lambda: screen.filter.empty and len(log.rows) >= 7, what="filter cleared")


async def test_actions_maintenance_rollback_restart_stop_open(daemon: DaemonThread, tmp_path: Path) -> None:
    require_dynos_and_router(daemon)
    deploy(daemon, tmp_path)
    daemon.cli("config:set", "GREETING=hi", "-a", APP)
    app = tui_for(daemon)
    opened: list[str] = []
    app.open_url = lambda url, **kw: opened.append(url)  # type: ignore[method-assign]
    host = {"Host": f"{APP}.localhost"}
    async with (
        app.run_test(size=SIZE) as pilot,
        httpx.AsyncClient(base_url=daemon.router_url, timeout=30) as http,
    ):
        await until(pilot, lambda: web_up(app) == 1, what="web.1 up")
        await pilot.press("2")

        await pilot.press("m")
        await until(
            pilot,
            lambda: daemon.client().get(f"/apps/{APP}").json()["maintenance"] is True,
            what="maintenance on",
        )
        response = await http.get("/", headers=host)
        assert response.status_code == 503
        await pilot.press("3")
        log = app.screen.query_one(StreamLog)
        await until(pilot, lambda: any(e.code == "H80" for e in log.rows), what="H80 in the router log")
        await pilot.press("m")
        await until(
            pilot,
            lambda: daemon.client().get(f"/apps/{APP}").json()["maintenance"] is False,
            what="maintenance off",
        )

        await pilot.press("b")
        await until(
            pilot,
            lambda: (
                daemon.client()
                .get(f"/apps/{APP}/releases")
                .json()[-1]["description"]
                .startswith("Rollback to v")
            ),
            what="a rollback release",
        )

        await until(pilot, lambda: web_up(app) == 1, what="web.1 back up after the rollback")
        await pilot.press("2")
        before = app.store.apps[APP].dynos["web.1"].since
        await pilot.press("r")
        await until(
            pilot, lambda: any(a.startswith("Restarting web.1") for a in app.actions_done), what="restart"
        )
        await until(
            pilot,
            lambda: app.store.apps[APP].dynos["web.1"].since > before and web_up(app) == 1,
            what="web.1 restarted",
        )

        await pilot.press("s")
        await until(pilot, lambda: any(a.startswith("Stopping web.1") for a in app.actions_done), what="stop")
        assert not any(a.startswith("failed") for a in app.actions_done), app.actions_done

        await pilot.press("o")
        assert opened and opened[0].startswith(f"http://{APP}.localhost:")


async def test_reconnects_when_the_daemon_restarts(paas_home: Path) -> None:
    first = DaemonThread(daemon_settings(paas_home)).start()
    try:
        first.cli("apps:create", APP)
        app = PaasApp(HttpBackend(home=paas_home), freeze_gc=False)  # finds the daemon via daemon.json
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.store.connected and APP in app.store.apps, what="first connect")
            assert app.pump.connects == 1
            first.stop()
            await until(pilot, lambda: not app.store.connected, what="disconnected")
            second = DaemonThread(daemon_settings(paas_home)).start()  # new ports, same home
            try:
                second.cli("apps:create", "another")
                await until(
                    pilot,
                    lambda: app.store.connected and "another" in app.store.apps,
                    timeout=15,
                    what="reconnected to the new daemon",
                )
                assert app.pump.connects == 2
                assert app.backend.label == second.api_url
            finally:
                second.stop()
    finally:
        first.stop()


async def test_commands_palette_and_help_list_the_actions(daemon: DaemonThread) -> None:
    app = PaasApp(HttpBackend(daemon.api_url, daemon.d.token), freeze_gc=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        assert isinstance(app.screen, HelpScreen)
        text = " ".join(what for _title, rows in SECTIONS for _key, what in rows)
        for words in (
            "Scale web up",
            "Crash the selected dyno with SIGKILL",
            "Toggle maintenance",
            "Roll back",
            "Open the app in a browser",
            "Command palette",
        ):
            assert words in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {
            "Scale web up",
            "Scale web down",
            "Restart dyno",
            "Stop dyno",
            "Crash dyno",
            "Toggle maintenance",
            "Roll back",
            "Open app in browser",
        } <= titles
        await pilot.press("colon")
        await pilot.pause(0.2)
        assert app.screen.__class__.__name__ == "CommandPalette"


async def test_at_80x24_the_router_log_fits_and_the_full_line_is_the_one_paas_logs_prints(
    daemon: DaemonThread, tmp_path: Path
) -> None:
    require_dynos_and_router(daemon)
    deploy(daemon, tmp_path)
    app = tui_for(daemon)
    host = {"Host": f"{APP}.localhost"}
    long_path = "/missing/" + "segment/" * 12 + "end"
    async with (
        app.run_test(size=(80, 24)) as pilot,
        httpx.AsyncClient(base_url=daemon.router_url, timeout=30) as http,
    ):
        await until(pilot, lambda: web_up(app) == 1, what="web.1 up")
        assert (await http.get("/", headers=host)).status_code == 200
        assert (await http.get(long_path, headers=host)).status_code == 404
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, RouterScreen)
        log = screen.query_one(StreamLog)
        await until(pilot, lambda: len(log.rows) >= 2, what="both router lines")

        # folded: the log has all 80 columns, and every field a reader scans for is in them
        assert not screen.query_one(CodePanel).display and log.region.width == 80
        rows = ["".join(s.text for s in log.render_line(y)) for y in range(3)]
        assert rows[0].split() == ["TIME", "CODE", "STATUS", "METHOD", "PATH", "DYNO", "SERVICE"]
        last = rows[2].split()
        assert (
            last[1:3] == ["404", "GET"] and last[3].startswith("/missing/segment/") and last[3].endswith("…")
        )
        assert last[4] == "web.1" and last[5].endswith("ms")
        assert len(rows[2].rstrip()) <= 80

        # enter: the whole line, exactly as `paas logs` prints it; y copies that line
        await pilot.press("up", "enter")
        line_screen = await until(pilot, lambda: isinstance(app.screen, LineScreen) and app.screen)
        entry = line_screen.entry
        assert entry.fields is not None and entry.fields["path"] == long_path
        printed = daemon.cli("logs", "-a", APP, "-s", "heroku", "-d", "router", "-n", "50")
        assert printed.returncode == 0, printed.stderr
        request_id = entry.fields["request_id"]
        heroku_line = next(ln for ln in printed.stdout.splitlines() if f"request_id={request_id}" in ln)
        assert entry.formatted() == heroku_line
        await pilot.press("y")
        assert app.clipboard == heroku_line
        await pilot.press("escape")

        # wider again: the code pane comes back beside the log
        await pilot.resize_terminal(140, 40)
        await until(pilot, lambda: screen.query_one(CodePanel).display, what="the code pane back")
        assert log.region.width < 140 - 36
