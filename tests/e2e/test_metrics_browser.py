"""The Metrics page in headless Chromium: behind the dataclips login, five charts drawn as inline
SVG under the page's CSP (no script, no CDN), events listed; screenshots of the charts are read
back pixel by pixel to check what was really drawn (2xx green, 4xx orange, 5xx red bars; the
memory line under the dashed quota line)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from paas.metrics.page import COLORS, STATUS_COLORS
from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings
from tests.support.png import count_near, pixels
from tests.support.require import require
from tests.support.wait import until
from tests.support.webapp import deploy_web_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run"]  # fmt: skip
APP = "chartapp"
QUOTA_RED = "#b42318"


@pytest.fixture
def fine_daemon(paas_home: Path) -> Iterator[DaemonThread]:
    d = DaemonThread(daemon_settings(paas_home, metrics_resolution=5)).start()
    try:
        yield d
    finally:
        d.stop()


def traffic(d: DaemonThread) -> None:
    router = httpx.Client(base_url=d.router_url, headers={"Host": f"{APP}.localhost"}, timeout=15)
    until(lambda: router.get("/").status_code == 200, what="web.1 to answer")
    for path, times in (("/", 30), ("/missing", 12), ("/boom", 8), ("/slow?ms=300", 2)):
        for _ in range(times):
            router.get(path)
    assert d.cli("maintenance:on", "-a", APP).returncode == 0
    for _ in range(6):
        assert router.get("/").status_code == 503  # the router's H80, for real
    assert d.cli("maintenance:off", "-a", APP).returncode == 0
    assert d.cli("ps:scale", "web=2", "-a", APP).returncode == 0
    api = d.client()

    def sampled() -> bool:
        memory = api.get(f"/apps/{APP}/metrics", params={"window": 120}).json()["memory_mb"]
        return sum(1 for v in memory.get("web.1", []) if v is not None) >= 2

    until(sampled, what="memory samples of web.1")


def test_metrics_page_in_the_browser(fine_daemon: DaemonThread, tmp_path: Path) -> None:
    require(os.path.exists(CHROMIUM) or shutil.which("chromium") is not None, "chromium is not installed")
    from playwright.sync_api import expect, sync_playwright

    d = fine_daemon
    deploy_web_app(d, tmp_path / "src", APP)
    traffic(d)
    base = d.api_url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
            # the same login as dataclips, and back to the page asked for
            page.goto(f"{base}/dataclips/metrics/{APP}")
            expect(page).to_have_url(f"{base}/dataclips/login?next=/dataclips/metrics/{APP}")
            page.fill("#token", d.d.token)
            page.click("#login")
            expect(page).to_have_url(f"{base}/dataclips/metrics/{APP}")
            expect(page.locator("h1")).to_have_text(f"Metrics · {APP}")
            for chart in ("latency", "throughput", "errors", "memory", "load"):
                expect(page.locator(f"svg#{chart}")).to_be_visible()
            expect(page.locator("#events")).to_contain_text("Scaled to web=2:standard-1x")
            expect(page.locator("#events")).to_contain_text("deploy")
            page.screenshot(path=str(tmp_path / "metrics-page.png"), full_page=True)

            latency = page.locator("svg#latency polyline, svg#latency circle")
            assert latency.count() >= 4  # p50, p95, p99 and max
            assert not [m for m in problems if "Content Security Policy" in m or "failed" in m], problems

            # a shorter window, one click away (as Heroku's time range picker)
            page.get_by_role("link", name="15 minutes", exact=True).click()
            expect(page).to_have_url(f"{base}/dataclips/metrics/{APP}?window=900")
            expect(page.locator("main > p").first).to_contain_text("Last 15 minutes")
            page.screenshot(path=str(tmp_path / "metrics-page-15min.png"), full_page=True)
            # read back what the charts drew, on the 5-minute view (a step is several pixels wide)
            page.get_by_role("link", name="5 minutes", exact=True).click()
            expect(page).to_have_url(f"{base}/dataclips/metrics/{APP}?window=300")
            page.screenshot(path=str(tmp_path / "metrics-page-5min.png"), full_page=True)
            _w, _h, bars = pixels(page.locator("svg#throughput").screenshot())
            for status in ("2xx", "4xx", "5xx"):
                assert count_near(bars, STATUS_COLORS[status]) > 20, f"no {status} bars drawn"
            _w, _h, memory = pixels(page.locator("svg#memory").screenshot())
            assert count_near(memory, QUOTA_RED) > 50, "no quota line drawn"
            _w, _h, errors = pixels(page.locator("svg#errors").screenshot())
            assert count_near(errors, COLORS[0]) > 10, "no H80 bars drawn"
            expect(page.locator("#errors + .legends")).to_contain_text("H80")
            styled = page.evaluate("getComputedStyle(document.querySelector('.metrics')).display")
            assert styled == "grid"  # metrics.css was served and applied

            # a fresh browser without the login is sent to it; an unknown app is a 404 page
            other = browser.new_context().new_page()
            other.goto(f"{base}/dataclips/metrics/{APP}")
            assert other.url.startswith(f"{base}/dataclips/login")
            missing = page.goto(f"{base}/dataclips/metrics/no-such-app")
            assert missing is not None and missing.status == 404
            expect(page.locator("h1")).to_have_text("Couldn't find that app.")
        finally:
            browser.close()
