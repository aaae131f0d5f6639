"""GET /apps/{app}/metrics: one app's last hour, from real traffic, real dynos and real events.

A deployed stdlib app answers 200s, 404s, 500s and slow 200s; maintenance mode makes the router
answer H80 for real; deploy, scaling, a config change, a restart and a crash (SIGKILL) are marked
on the timeline; memory per dyno is sampled against the size's quota, with a load figure.
"""

from __future__ import annotations

import itertools
import signal
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
APP = "metricsapp"


@pytest.fixture
def fine_daemon(paas_home: Path) -> Iterator[DaemonThread]:
    """Steps of 2 s (PAAS_METRICS_RESOLUTION=2): samples every second."""
    d = DaemonThread(daemon_settings(paas_home, metrics_resolution=2)).start()
    try:
        yield d
    finally:
        d.stop()


def known(values: list[Any]) -> list[Any]:
    return [v for v in values if v is not None]


def test_metrics_of_an_app_from_real_traffic_and_events(fine_daemon: DaemonThread, tmp_path: Path) -> None:
    d = fine_daemon
    deploy_web_app(d, tmp_path / "src", APP)
    router = httpx.Client(base_url=d.router_url, headers={"Host": f"{APP}.localhost"}, timeout=15)
    until(lambda: router.get("/").status_code == 200, what="web.1 to answer")
    api = d.client()

    def figures() -> dict[str, Any]:
        answer = api.get(f"/apps/{APP}/metrics", params={"window": 300})
        assert answer.status_code == 200
        data: dict[str, Any] = answer.json()
        return data

    def total(figure: str, key: str) -> int:
        return sum(figures()[figure].get(key, []))

    # what the wait for the dyno cost (a held request may have turned into an H20 on a slow boot)
    before = {k: total("throughput", k) for k in ("2xx", "4xx", "5xx")}
    errors_before = figures()["errors"]

    for path, status, times in (
        ("/", 200, 20),
        ("/missing", 404, 5),
        ("/boom", 500, 3),
        ("/slow?ms=400", 200, 2),
    ):
        for _ in range(times):
            assert router.get(path).status_code == status
    assert d.cli("maintenance:on", "-a", APP).returncode == 0
    for _ in range(4):
        assert router.get("/").status_code == 503  # the router's H80, for real
    assert d.cli("maintenance:off", "-a", APP).returncode == 0

    # the figures of that traffic, before any release or scaling restarts a dyno
    data = until(
        lambda: (f := figures()) and len(known(f["load"].get("web.1", []))) >= 2 and f, what="load samples"
    )
    assert data["resolution"] == 2 and data["window"] == 300 and len(data["times"]) == 150
    steps = data["times"]
    assert steps == sorted(steps) and all(b - a == 2 for a, b in itertools.pairwise(steps))

    tp = data["throughput"]
    assert sum(tp["4xx"]) - before["4xx"] == 5
    assert sum(tp["5xx"]) - before["5xx"] == 3 + 4  # the app's 500s and the router's H80s
    assert sum(tp["2xx"]) - before["2xx"] == 20 + 2
    assert sum(data["errors"]["H80"]) == 4 and set(data["errors"]) == {"H80", *errors_before}

    latency = data["latency_ms"]
    assert max(known(latency["max"])) >= 400  # the slow requests, measured by the router
    assert all(p50 <= p99 <= mx for p50, p99, mx in zip(
        known(latency["p50"]), known(latency["p99"]), known(latency["max"]), strict=True))  # fmt: skip

    memory = known(data["memory_mb"]["web.1"])
    assert memory and max(memory) > 1 and all(mb < 512 for mb in memory)  # a real process, under quota
    assert data["memory_quota_mb"]["web.1"] == 512
    assert all(load >= 0 for load in known(data["load"]["web.1"]))

    # events: a config change (a release: the dynos restart), scaling, a restart, a crash
    assert d.cli("config:set", "GREETING=hi", "-a", APP).returncode == 0
    assert d.cli("ps:scale", "web=2", "-a", APP).returncode == 0
    until(lambda: router.get("/").status_code == 200, what="the app up again")

    def states() -> dict[str, str]:
        return {dyno["name"]: dyno["state"] for dyno in api.get(f"/apps/{APP}/dynos").json()}

    # a dyno still booting that is restarted boots again: no new mark, so wait for web.2 to be up
    until(lambda: states().get("web.2") == "up", what="web.2 up")

    # a restart and a crash, marked when they happen
    assert d.cli("ps:restart", "web.2", "-a", APP).returncode == 0
    d.call(lambda: d.d.dynos.kill(APP, "web.1", signal.SIGKILL))

    def texts_now() -> set[str]:
        return {e["text"] for e in figures()["events"]}

    # the config release restarted web.1 already: wait for these two marks by name
    until(lambda: {"web.2 restarted", "web.1 crashed"} <= texts_now(), what="restart and crash marks")
    events = figures()["events"]
    texts = [e["text"] for e in events]
    assert any(e["kind"] == "deploy" and e["text"].startswith("v3 ") for e in events), texts
    assert any(e["kind"] == "config" and "GREETING" in e["text"] and e["release"] == 4 for e in events), texts
    assert not any(e["kind"] == "deploy" and e["release"] == 4 for e in events)  # one mark per change
    assert any(e["kind"] == "scale" and "web=2" in e["text"] for e in events), texts
    assert any(e["kind"] == "restart" and e["text"] == "web.2 restarted" for e in events), texts
    assert any(e["kind"] == "crash" and e["text"] == "web.1 crashed" for e in events), texts
    assert all(steps[0] <= e["ts"] for e in events)


def test_metrics_bad_input(daemon: DaemonThread) -> None:
    api = daemon.client()
    assert api.post("/apps", json={"name": "quiet"}).status_code == 201
    fresh = api.get("/apps/quiet/metrics").json()
    assert fresh["resolution"] == 60 and len(fresh["times"]) == 60  # the last hour, per minute
    assert sum(fresh["throughput"]["2xx"]) == 0 and fresh["errors"] == {} and fresh["events"] == []
    missing = api.get("/apps/nope/metrics")
    assert missing.status_code == 404 and missing.json()["id"] == "not_found"
    for window in ("59", "3601", "soon"):
        bad = api.get("/apps/quiet/metrics", params={"window": window})
        assert bad.status_code == 422 and bad.json()["id"] == "invalid_params", window
    assert httpx.get(daemon.api_url + "/apps/quiet/metrics").status_code == 401
    assert httpx.get(daemon.api_url + "/metrics").status_code == 401
    # a destroyed app's figures go with it
    assert api.delete("/apps/quiet").status_code == 200
    assert api.get("/apps/quiet/metrics").status_code == 404
    assert 'app="quiet"' not in api.get("/metrics").text


def test_dropped_log_lines_reach_the_prometheus_endpoint(daemon: DaemonThread) -> None:
    """The contract with log drains: a drain that drops lines (its L10) publishes `log.dropped`
    with its id; `/metrics` counts them per app and drain."""
    api = daemon.client()
    assert api.post("/apps", json={"name": "drained"}).status_code == 201

    async def drop() -> None:
        daemon.d.bus.emit("log.dropped", "drained", sink="drain", drain="d.8c1f", count=25)
        daemon.d.bus.emit("log.dropped", "drained", sink="drain", drain="d.8c1f", count=5)

    daemon.call(drop)
    text = api.get("/metrics").text
    assert 'paas_log_drain_dropped_lines_total{app="drained",drain="d.8c1f"} 30\n' in text
    assert text.endswith("# EOF\n")
