"""Bounded load test: the TUI keeps answering keys while 5,000 router lines a second arrive.

Runs bench/tui_load.py's measurement for a few seconds (stub daemon in its own process, real
HTTP, the real event-stream path). The full figures come from `python bench/tui_load.py`.
Timing on a shared 2-core machine is noisy, so the better of two runs counts.
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tui.model import LOG_BUFFER, ROUTER_BUFFER
from tui.screens.logs import VIEW_LINES

pytestmark = pytest.mark.slow

RATE = 5000
LATENCY_P50_MS = 100.0
LATENCY_MAX_MS = 1000.0


def load_bench() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "tui_load.py"
    spec = importlib.util.spec_from_file_location("tui_load_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_keypresses_stay_fast_under_5000_router_lines_a_second() -> None:
    bench = load_bench()
    best = None
    for _attempt in range(2):
        result = bench.run_load(rate=RATE, seconds=5.0, presses=24)
        every = result.all_latencies()
        assert len(every) >= 16, result.summary()  # keys were answered at all
        p50 = 1000 * statistics.median(every)
        if best is None or p50 < best[0]:
            best = (p50, result)
        if p50 <= LATENCY_P50_MS and 1000 * max(every) <= LATENCY_MAX_MS:
            break
    assert best is not None
    p50, result = best
    summary = result.summary()
    print(summary)
    assert result.lines_received >= 0.8 * RATE * result.seconds, summary  # the stream kept up
    assert p50 <= LATENCY_P50_MS, summary
    assert 1000 * max(result.all_latencies()) <= LATENCY_MAX_MS, summary
    # bounded: nothing grew past its cap while ~25,000 lines went through
    assert result.buffered["router"] <= ROUTER_BUFFER and result.buffered["logs"] <= LOG_BUFFER, summary
    assert result.buffered["view"] <= VIEW_LINES, summary
