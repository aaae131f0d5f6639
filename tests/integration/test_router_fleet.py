"""The router as processes (PAAS_ROUTER_WORKERS): what a user of the daemon notices.

Real router processes on one port (SO_REUSEPORT), a real deployed app: every process serves
and its records reach the daemon's figures; a change made through the API is in force in every
router when the API answers; a router killed with SIGKILL is restarted and logged while the
others answer; a daemon too busy to read loses records (counted), not requests; the daemon's
stop finishes a request in flight and leaves no router process behind.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings
from tests.support.wait import until
from tests.support.webapp import deploy_web_app

pytestmark = pytest.mark.slow
APP = "fleetapp"
WORKERS = 3


def start(home: Path, src: Path, **settings: Any) -> DaemonThread:
    d = DaemonThread(daemon_settings(home, router_workers=WORKERS, **settings)).start()
    deploy_web_app(d, src, APP)
    with app_client(d) as web:
        until(lambda: web.get("/").status_code == 200, what="web.1 to answer")
    return d


def app_client(d: DaemonThread, keepalive: bool = True) -> httpx.Client:
    limits = httpx.Limits() if keepalive else httpx.Limits(max_keepalive_connections=0)
    return httpx.Client(
        base_url=d.router_url, headers={"Host": f"{APP}.localhost"}, timeout=15, limits=limits
    )


def router_figures(d: DaemonThread) -> dict[str, Any]:
    with d.client() as api:
        figures: dict[str, Any] = api.get("/router/metrics").json()
        return figures


def requests_of(d: DaemonThread) -> int:
    figures = router_figures(d)["apps"].get(APP)
    return int(figures["requests"]) if figures else 0


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent counts as gone: its sockets are closed)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def fleet(paas_home: Path, tmp_path: Path) -> Iterator[DaemonThread]:
    d = start(paas_home, tmp_path / "src")
    try:
        yield d
    finally:
        d.stop()


def test_every_router_process_serves_and_its_records_reach_the_daemon(fleet: DaemonThread) -> None:
    d = fleet
    before = requests_of(d)
    with app_client(d, keepalive=False) as web:  # a new connection each: the kernel spreads them
        for _ in range(300):
            assert web.get("/").status_code == 200
    figures = router_figures(d)
    assert figures["apps"][APP]["requests"] - before == 300  # each record reached the daemon
    router = figures["router"]
    assert router["workers"] == WORKERS and router["workers_up"] == WORKERS
    assert router["records_dropped"] == 0 and router["worker_restarts"] == 0
    served = [p["connections_total"] for p in router["processes"]]
    assert len(served) == WORKERS and all(n > 0 for n in served), served
    assert len({p["pid"] for p in router["processes"]}) == WORKERS != 0

    # the app's metrics and its log see them too
    with d.client() as api:

        def two_hundreds() -> int:
            data = api.get(f"/apps/{APP}/metrics", params={"window": 300}).json()
            return sum(data["throughput"]["2xx"])

        until(lambda: two_hundreds() >= 300, what="the app's metrics to count the requests")
    lines = d.d.logs.recent(APP, lines=1500, source="heroku", dyno="router")
    assert len([line for line in lines if "status=200" in line.text]) >= 300


def test_a_change_made_through_the_api_is_in_force_in_every_router_when_it_answers(
    fleet: DaemonThread,
) -> None:
    d = fleet
    with d.client() as api, app_client(d, keepalive=False) as web:
        for _ in range(5):
            assert api.patch(f"/apps/{APP}", json={"maintenance": True}).status_code == 200
            assert {web.get("/").status_code for _ in range(30)} == {503}  # H80 from every router
            assert api.patch(f"/apps/{APP}", json={"maintenance": False}).status_code == 200
            assert {web.get("/").status_code for _ in range(30)} == {200}
    lines = d.d.logs.recent(APP, lines=1500, source="heroku", dyno="router")
    assert len([line for line in lines if "code=H80" in line.text]) == 150


def test_a_killed_router_process_is_restarted_and_logged_while_the_others_answer(
    fleet: DaemonThread, capfd: pytest.CaptureFixture[str]
) -> None:
    d = fleet
    victim = router_figures(d)["router"]["processes"][1]
    os.kill(victim["pid"], signal.SIGKILL)
    until(lambda: not alive(victim["pid"]), timeout=5, what="the router process to die")
    answered = 0
    with app_client(d, keepalive=False) as web:
        deadline = time.monotonic() + 1.0  # meanwhile, and while its replacement starts
        while time.monotonic() < deadline:
            assert web.get("/").status_code == 200
            answered += 1
    assert answered > 20

    def replaced() -> dict[str, Any] | None:
        router = router_figures(d)["router"]
        pids = {p["index"]: p["pid"] for p in router["processes"]}
        back = router["workers_up"] == WORKERS and pids.get(1) not in (None, victim["pid"])
        return router if back else None

    router = until(replaced, timeout=15, what="the router process to be replaced")
    assert router["worker_restarts"] == 1
    err = capfd.readouterr().err
    assert f"router process 1 (pid {victim['pid']}) exited with signal 9; restarting it" in err
    with app_client(d, keepalive=False) as web:
        assert all(web.get("/").status_code == 200 for _ in range(60))


def test_a_daemon_too_busy_to_read_drops_records_counts_them_and_keeps_routing(
    paas_home: Path, tmp_path: Path
) -> None:
    d = start(paas_home, tmp_path / "src", router_channel_buffer=1024)
    try:
        before = requests_of(d)
        assert d.loop is not None
        d.loop.call_soon_threadsafe(time.sleep, 4.0)  # the daemon's loop does something else
        path = "/" + "x" * 3000  # each record and log line carries it: the channel fills fast
        sent = 0
        started = time.monotonic()
        with app_client(d) as web:
            for _ in range(200):
                assert web.get(path).status_code == 200
                sent += 1
        assert time.monotonic() - started < 4.0  # all answered while the daemon was busy
        router = until(lambda: router_figures(d)["router"], what="the daemon to answer again")
        assert router["records_dropped"] > 0 and router["lines_dropped"] > 0
        # nothing silently lost: each request is either counted or counted as dropped
        assert requests_of(d) - before + router["records_dropped"] == sent
    finally:
        d.stop()


def test_stopping_the_daemon_finishes_requests_in_flight_and_leaves_no_router_process(
    paas_home: Path, tmp_path: Path
) -> None:
    d = start(paas_home, tmp_path / "src")
    pids = [p["pid"] for p in router_figures(d)["router"]["processes"]]
    assert len(pids) == WORKERS and all(alive(pid) for pid in pids)
    statuses: list[int] = []

    def slow_request() -> None:
        with app_client(d) as web:
            statuses.append(web.get("/slow?ms=1500").status_code)

    caller = threading.Thread(target=slow_request)
    caller.start()
    until(lambda: any(router_figures(d)["router"]["inflight"].values()), timeout=5, what="the request")
    d.stop()
    caller.join(10)
    assert statuses == [200]  # drained, not cut
    assert not any(alive(pid) for pid in pids)


def test_the_api_waits_for_a_router_that_has_not_applied_a_change_yet(fleet: DaemonThread) -> None:
    d = fleet
    paused = router_figures(d)["router"]["processes"][0]["pid"]
    os.kill(paused, signal.SIGSTOP)  # a router process that cannot read its channel for now
    try:
        with d.client() as api:
            started = time.monotonic()
            assert api.patch(f"/apps/{APP}", json={"maintenance": True}).status_code == 200
            waited = time.monotonic() - started
        # the answer waited for the paused router (bounded: routersync.WAIT), not forever
        assert 0.9 <= waited < 5
        assert d.call(lambda: d.d.router.synced(0.2)) is False
    finally:
        os.kill(paused, signal.SIGCONT)
    assert d.call(lambda: d.d.router.synced(5)) is True
    with app_client(d, keepalive=False) as web:
        assert {web.get("/").status_code for _ in range(30)} == {503}
