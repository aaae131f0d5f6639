"""The TUI's Metrics view (7) against a real daemon and a real app: the rows show what the
router measured and the events marked, `w` changes the window, the palette reaches the view."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.widgets import Static

from tests.support.daemon import DaemonThread
from tests.support.webapp import deploy_web_app
from tui.app import PaasApp
from tui.client import HttpBackend
from tui.screens.metrics import MetricsScreen

pytestmark = pytest.mark.slow
APP = "tuimetrics"


async def until(pilot: Any, check: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await pilot.pause(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")


def rows_text(app: PaasApp) -> str:
    return str(app.screen.query_one("#metrics-rows", Static).content)


async def test_metrics_view_shows_the_apps_real_figures(daemon: DaemonThread, tmp_path: Path) -> None:
    deploy_web_app(daemon, tmp_path / "src", APP)
    router = httpx.Client(base_url=daemon.router_url, headers={"Host": f"{APP}.localhost"}, timeout=15)
    deadline = time.monotonic() + 30
    while router.get("/").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    for path, times in (("/", 9), ("/missing", 4), ("/boom", 2)):
        for _ in range(times):
            router.get(path)
    app = PaasApp(HttpBackend(daemon.api_url, daemon.d.token), app_name=APP, freeze_gc=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.store.apps.get(APP), what="the app loaded")
        await pilot.press("7")
        await until(
            pilot, lambda: isinstance(app.screen, MetricsScreen) and "4xx" in rows_text(app), what="rows"
        )
        # web.1's memory against its quota, once sampled (every 10 s at one step per minute)
        text = await until(pilot, lambda: (t := rows_text(app)) and "/512 MB" in t and t, 40, "memory")
        lines = {line.split()[0]: line for line in text.splitlines() if line.strip()}
        assert lines["4xx"].endswith(" 4") and lines["5xx"].endswith(" 2")  # what the router saw
        assert any(line.startswith("web.1") and line.endswith("/512 MB") for line in text.splitlines())
        assert "D " in text and "deploy" in text  # the deploy, marked and listed
        title = str(app.screen.query_one("#metrics-title", Static).content)
        assert f"{APP}  last 1 h, one step per minute" in title
        await pilot.press("w")
        await until(
            pilot,
            lambda: "last 15 min" in str(app.screen.query_one("#metrics-title", Static).content),
            what="the 15-minute window",
        )
        # the palette reaches the view too
        await pilot.press("1")
        await until(pilot, lambda: not isinstance(app.screen, MetricsScreen), what="the overview")
        await pilot.press("colon")
        await pilot.pause(0.3)
        for key in "view: metrics":
            await pilot.press(key if key != " " else "space")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(
            pilot, lambda: isinstance(app.screen, MetricsScreen), what="the metrics view from the palette"
        )
