"""Bounds: a dyno flooding its output is cut to its log budget (L12) and the loop stays responsive."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from dynos.output import BURST_LINES
from tests.integration.test_dynos_harness import Harness


async def test_a_flooding_dyno_is_rate_limited_with_l12(tmp_path: Path) -> None:
    h = await Harness(tmp_path / "home").start()
    try:
        await h.manager.apply(h.desired(worker=("yes flood", 1)))
        lags = []
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            t = time.monotonic()
            await asyncio.sleep(0.01)
            lags.append(time.monotonic() - t - 0.01)
        l12 = await h.wait_line("worker.1", "Error L12 (Local buffer overflow) -> ", timeout=5)
        assert "messages dropped since" in l12.text
        kept = h.lines("worker.1", "app")
        assert BURST_LINES <= len(kept) < BURST_LINES + 2.5 * 2000 + 1000  # burst + ~2 s at 2,000/s
        assert set(kept) == {"flood"}
        # the loop keeps turning (a starved loop lags by seconds); loose bound for a loaded 2-core CI
        assert sorted(lags)[len(lags) // 2] < 0.1
    finally:
        await h.close()
