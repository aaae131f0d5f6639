"""The keep-alive lesson against a real daemon, shortened by its timers (router timeout 2 s):
only the Puma-6-like server behind Router 2.0's connection reuse shows the tail and the H12s."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from paas.lab.context import LabContext
from paas.lab.engine import run_scenario
from paas.lab.report import render
from paas.lab.scenarios import CATALOG
from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings

pytestmark = pytest.mark.slow


def test_keepalive_tail(tmp_path: Path) -> None:
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
