"""Every lab scenario against a real daemon with the scenario's own short timers: the router
codes it reports are the ones the lesson predicts (naive shutdown H13 > 0, draining 0, ...)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from paas.lab.context import LabContext
from paas.lab.engine import Result, run_scenario
from paas.lab.report import render
from paas.lab.scenarios import CATALOG
from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings
from tests.support.runtimes import require_docker

pytestmark = pytest.mark.slow


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Callable[..., Result]]:
    started: list[DaemonThread] = []

    def runner(name: str, runtime: str = "process") -> Result:
        scenario = CATALOG[name]
        # a fresh home per run: a test may run a scenario twice
        home = tmp_path / f"home{len(started)}"
        settings = daemon_settings(home, runtime=runtime, **scenario.wanted_timers())
        d = DaemonThread(settings).start()
        started.append(d)
        ctx = LabContext(d.api_url, d.d.token, d.d.router_port, scenario.wanted_timers())
        result = asyncio.run(run_scenario(scenario(), ctx))
        print("\n".join(render(result)))  # shown when a test fails
        return result

    yield runner
    for d in started:
        d.stop()


def variant(result: Result, label: str) -> dict[str, int]:
    return dict(result.variant(label).router)


def test_h13_shutdown(run: Callable[[str], Result]) -> None:
    # The naive server's H13s come from whatever sits in its accept backlog at SIGTERM, which
    # is a matter of timing (Heroku's own reproduction fires 20 curls and looks); on a loaded
    # 2-core machine one run in a few can catch an empty backlog, so the naive side gets a second run.
    # The draining side must never produce an H13, in any run.
    result = run("h13-shutdown")
    naive, draining = variant(result, "naive"), variant(result, "draining")
    if naive.get("H13", 0) == 0:
        assert draining.get("H13", 0) == 0
        result = run("h13-shutdown")
        naive, draining = variant(result, "naive"), variant(result, "draining")
    assert naive.get("H13", 0) > 0
    assert draining.get("H13", 0) == 0 and set(draining) == {"200"}
    # same load: both variants drove the same bounded client load
    assert result.variant("naive").load.sent > 20 and result.variant("draining").load.sent > 20
    assert result.ok, result.checks


@pytest.mark.docker
def test_h13_shutdown_with_docker_dynos(run: Callable[..., Result]) -> None:
    require_docker()
    result = run("h13-shutdown", "docker")
    if variant(result, "naive").get("H13", 0) == 0:  # timing-dependent, see test_h13_shutdown
        assert variant(result, "draining").get("H13", 0) == 0
        result = run("h13-shutdown", "docker")
    assert variant(result, "naive").get("H13", 0) > 0
    assert set(variant(result, "draining")) == {"200"}


def test_h12_timeout(run: Callable[[str], Result]) -> None:
    result = run("h12-timeout")
    assert variant(result, "slow-endpoint")["H12"] == 3
    assert variant(result, "timeout-fault") == {"H12": 3}
    assert result.ok, result.checks


def test_h10_crash_loop(run: Callable[[str], Result]) -> None:
    result = run("h10-crash-loop")
    assert variant(result, "crash-endpoint").get("H10", 0) > 0
    assert variant(result, "crash-endpoint").get("H13", 0) >= 1
    assert set(variant(result, "crash-on-boot")) == {"H10"}
    assert result.ok, result.checks


def test_r14_memory(run: Callable[[str], Result]) -> None:
    result = run("r14-memory")
    assert result.ok, result.checks
    assert any("Error R14" in line for line in result.variant("grow").samples)
    assert any("Error R15" in line for line in result.variant("grow").samples)


def test_h20_boot(run: Callable[[str], Result]) -> None:
    result = run("h20-boot")
    slow, timeout = variant(result, "slow-boot"), variant(result, "boot-timeout")
    assert slow.get("H20", 0) > 0 and slow.get("200", 0) > 0
    assert timeout.get("200", 0) == 0
    assert any("Error R10" in line for line in result.variant("boot-timeout").samples)
    assert result.ok, result.checks


def test_keepalive_race(run: Callable[[str], Result]) -> None:
    result = run("keepalive-race")
    short = variant(result, "router2-short-idle")
    assert short.get("H13", 0) + short.get("H18", 0) > 0
    assert variant(result, "router2-long-idle") == {"200": 10}
    assert variant(result, "legacy-router") == {"200": 10}
    assert result.ok, result.checks


def test_preboot(run: Callable[[str], Result]) -> None:
    result = run("preboot")
    assert variant(result, "without-preboot").get("H20", 0) > 0
    assert set(variant(result, "with-preboot")) == {"200"}
    assert result.ok, result.checks


def test_kafka_noisy_neighbour(run: Callable[[str], Result]) -> None:
    result = run("kafka-noisy-neighbour")
    noisy = next(v for v in result.variants if v.label == "noisy")
    assert any("throttle_time_ms" in n and "max 0 ms" not in n for n in noisy.notes), noisy.notes
    assert result.ok, result.checks


def test_keepalive_tail(tmp_path: Path) -> None:
    """Shortened by its timers (router timeout 2 s): only the Puma-6-like server behind Router
    2.0's connection reuse shows the tail and the H12s."""
    scenario = CATALOG["keepalive-tail"]
    timers = {**scenario.wanted_timers(), "router_timeout": 2.0}
    d = DaemonThread(daemon_settings(tmp_path / "home", runtime="process", **timers)).start()
    try:
        ctx = LabContext(d.api_url, d.d.token, d.d.router_port, timers)
        result = asyncio.run(run_scenario(scenario(), ctx))
    finally:
        d.stop()
    text = "\n".join(render(result))
    print(text)  # shown when the test fails
    rows = {v.label: v for v in result.variants}
    assert list(rows) == ["puma6-legacy", "puma6-reuse", "puma7-legacy", "puma7-reuse"]
    greedy = rows["puma6-reuse"]
    assert greedy.router["H12"] > 0
    assert (greedy.load.to_json()["p99_ms"] or 0) >= 2000  # the router's timeout, really reached
    for label in ("puma6-legacy", "puma7-legacy", "puma7-reuse"):
        assert set(rows[label].router) == {"200"}, (label, rows[label].router)
        assert (rows[label].load.to_json()["p99_ms"] or 0) < 1000, label
    # the H12 line is the router's own, with service= at the timeout
    assert any("code=H12" in line and "service=2" in line for line in greedy.samples)
    assert "=== Side by side" in text and "puma6-reuse" in text
    assert result.ok, result.checks


def test_every_scenario_is_tested() -> None:
    tested = {n.removeprefix("test_").replace("_", "-") for n in globals() if n.startswith("test_")}
    assert set(CATALOG) <= tested


def test_autoscaling(run: Callable[[str], Result]) -> None:
    result = run("autoscaling")
    assert result.ok, result.checks
    load = result.variant("under-load")
    assert load.router["200"] == load.load.sent and load.load.sent > 50  # no request failed
