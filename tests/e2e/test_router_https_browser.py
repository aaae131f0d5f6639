"""Headless Chromium loads `https://<app>.localhost:<tls port>/` from the router's TLS port, trusting
the local CA the way a user would: imported as an authority into an NSS database (`certutil`,
Debian's libnss3-tools) under a temporary HOME, no certificate-error flags. Chromium resolves
`*.localhost` to loopback by itself and negotiates HTTP/2 by ALPN."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import uvloop

from common.ca import LocalCA
from common.config import Settings
from router.certstore import CertPaths, CertStore
from router.tls import start_tls
from tests.support.require import require
from tests.support.router_harness import LabDynoProcess, RouterHarness

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run"]  # fmt: skip


def trusting_home(tmp: Path, ca: LocalCA) -> Path:
    """A HOME whose NSS database trusts the local CA for websites (what Chromium on Linux reads)."""
    home = tmp / "browser-home"
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-N", "--empty-password"], check=True)
    subprocess.run(
        ["certutil", "-d", f"sql:{nssdb}", "-A", "-t", "C,,", "-n", "paas local CA", "-i", str(ca.cert_path)],
        check=True,
    )
    return home


def test_chromium_loads_an_app_over_https(tmp_path: Path) -> None:
    require(os.path.exists(CHROMIUM), "chromium is not installed")
    require(shutil.which("certutil") is not None, "certutil (libnss3-tools) is not installed")
    from playwright.sync_api import sync_playwright

    ca = LocalCA(tmp_path / "ca")
    ca.ensure()
    home = trusting_home(tmp_path, ca)
    with LabDynoProcess() as dyno:
        loop = uvloop.new_event_loop()
        harness = RouterHarness(Settings())
        harness.add_app("shop", [dyno.backend])
        default = ca.server_files("router-default", ["localhost", "127.0.0.1"])
        app = ca.server_files("app-shop", ["shop.localhost"])
        store = CertStore(CertPaths(str(default.cert_path), str(default.key_path)))
        store.update({"shop.localhost": CertPaths(str(app.cert_path), str(app.key_path))})
        loop.run_until_complete(harness.start())
        listener = loop.run_until_complete(start_tls(harness.router, store))
        thread_loop = _run_in_thread(loop)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=FLAGS, env={**os.environ, "HOME": str(home)}
                )
                try:
                    page = browser.new_page()
                    resp = page.goto(f"https://shop.localhost:{listener.port}/echo?from=chromium")
                    assert resp is not None and resp.ok
                    seen = json.loads(page.inner_text("body"))
                    headers = {k.lower(): v for k, v in seen["headers"]}
                    assert headers["x-forwarded-proto"] == "https"
                    assert headers["x-forwarded-port"] == str(listener.port)
                    assert resp.security_details() is not None
                    assert resp.security_details()["subjectName"] == "shop.localhost"  # type: ignore[index]
                finally:
                    browser.close()
        finally:
            asyncio.run_coroutine_threadsafe(listener.stop(), loop).result(10)
            asyncio.run_coroutine_threadsafe(harness.stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread_loop.join(10)
            loop.close()
    lines = harness.app_lines("shop")
    page_line = next(line for line in lines if line["path"] == "/echo?from=chromium")
    assert page_line["protocol"] == "http2.0" and page_line["status"] == "200"  # Chromium chose h2


def _run_in_thread(loop: asyncio.AbstractEventLoop) -> threading.Thread:
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    return thread
