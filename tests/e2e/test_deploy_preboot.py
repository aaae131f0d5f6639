"""Restart strategies under a bounded load through the router.

The app boots slowly (BOOT_DELAY=1.5 s before it binds $PORT). Without preboot a deploy stops
the old web dyno and the router holds requests (up to the hold timeout) until the new one is
up: no errors, but some requests wait about the boot time, and their router lines are plain
`at=info ... status=200` lines — Heroku logs no error for a held request. With preboot the new
dyno boots beside the old one, traffic moves only when it is up, and no request waits.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.e2e.test_deploy_helpers import GitApp, Load, routed, serving, wait_for
from tests.support.daemon import DaemonThread
from tests.support.require import require

pytestmark = pytest.mark.slow
BOOT_DELAY = 1.5


def deploy_under_load(daemon: DaemonThread, app: GitApp, marker: str) -> list[tuple[float, int, str]]:
    load = Load(daemon.router_url + "/json", f"{app.name}.localhost", clients=4, max_requests=3000).start()
    try:
        wait_for(lambda: len(load.results) >= 20, what="load running")
        app.commit(marker, {"app.py": (app.dir / "app.py").read_text().replace("Hello from paas!", marker)})
        pushed = app.push()
        assert pushed.returncode == 0, pushed.stderr
        wait_for(
            lambda: any(marker in body for _, _, body in load.results[-20:]),
            timeout=30,
            what="the new release answering",
        )
        time.sleep(0.3)
    finally:
        results = load.stop()
    return results


def setup_app(daemon: DaemonThread, tmp_path: Path, name: str, preboot: bool) -> GitApp:
    require(routed(daemon), "the router is not wired into the daemon (daemon.router is None)")
    app = GitApp(daemon, tmp_path, name)
    assert daemon.cli("config:set", f"BOOT_DELAY={BOOT_DELAY}", "-a", name).returncode == 0
    if preboot:
        enabled = daemon.cli("features:enable", "preboot", "-a", name)
        assert enabled.returncode == 0, enabled.stderr
    assert app.push().returncode == 0
    serving(daemon, name, "Hello from paas!", timeout=30)
    return app


def test_preboot_deploy_has_no_failed_or_held_request(daemon: DaemonThread, tmp_path: Path) -> None:
    app = setup_app(daemon, tmp_path, "smooth", preboot=True)
    old_pid = next(d.pid for d in app.web_dynos() if d.state == "up")
    results = deploy_under_load(daemon, app, "Prebooted code")
    statuses = [status for _, status, _ in results]
    assert len(results) >= 100
    assert set(statuses) == {200}, [r for r in results if r[1] != 200][:5]
    bodies = [body for _, _, body in results]
    first_new = next(i for i, body in enumerate(bodies) if "Prebooted code" in body)
    assert "Hello from paas!" in bodies[0] and first_new > 0
    # traffic moved at once: no old answer after the new release answered (4 clients in flight)
    assert sum("Hello from paas!" in body for body in bodies[first_new:]) <= 4
    slowest = max(latency for latency, _, _ in results)
    assert slowest < BOOT_DELAY * 0.8, f"a request waited {slowest:.2f} s: it was held, not prebooted"
    web = wait_for(lambda: [d for d in app.web_dynos() if d.state == "up"], what="web.1 up")
    assert [d.pid for d in web] != [old_pid] and len(web) == 1
    logs = [line.format() for line in daemon.d.logs.recent("smooth", 1500)]
    up_new = max(
        i for i, line in enumerate(logs) if "heroku[web.1]: State changed from starting to up" in line
    )
    stop_old = max(
        i for i, line in enumerate(logs) if "heroku[web.1]: Stopping all processes with SIGTERM" in line
    )
    assert up_new < stop_old  # the old dyno got SIGTERM only after its replacement was up


def test_default_restart_holds_requests_while_the_new_dyno_boots(
    daemon: DaemonThread, tmp_path: Path
) -> None:
    app = setup_app(daemon, tmp_path, "bumpy", preboot=False)
    results = deploy_under_load(daemon, app, "Restarted code")
    held = [(latency, status) for latency, status, _ in results if latency >= BOOT_DELAY * 0.5]
    assert held, "no request was held while the new dyno booted"
    assert {status for _, status in held} == {200}  # held, then answered by the new dyno
    assert max(latency for latency, _ in held) < daemon.settings.router_hold_timeout
    lines = [line.text for line in daemon.d.logs.recent("bumpy", 1500) if line.dyno == "router"]
    ok_lines = [line for line in lines if 'path="/json"' in line and "status=200" in line]
    # a held request is logged like any other: at=info, the new dyno, status=200 — no H-code
    assert len(ok_lines) >= len(held)
    assert all(
        re.match(
            r'at=info method=GET path="/json" host=bumpy\.localhost request_id=\S+ fwd="[^"]*" '
            r"dyno=web\.1 connect=\d+ms service=\d+ms status=200 bytes=\d+ protocol=http$",
            line,
        )
        for line in ok_lines
    ), ok_lines[:3]
    # A request that raced the SIGTERM may fail, as on Heroku (a few arrive after it); when it
    # does, the client saw a 503 and the router logged the real reason with its H-code.
    failed = [status for _, status, _ in results if status != 200]
    error_lines = [line for line in lines if "code=H" in line]
    assert len(failed) <= 2 and len(error_lines) == len(failed), error_lines
