"""log-runtime-metrics: Heroku's load and memory sample lines, read from the real dyno (its
process tree, or its container's memory cgroup), only while the app has the feature."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.integration.test_dynos_harness import Harness, cmd
from tests.support.runtimes import dyno_runtime  # noqa: F401  (fixture: process and docker)

pytestmark = pytest.mark.usefixtures("dyno_runtime")

APP_ID = "0b2f8c1e-7d1c-4a53-9a4e-3f1b8e2c9d10"
DYNO = rf"dyno=heroku\.{APP_ID}\.[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}"
LOAD = re.compile(
    rf"^source=worker\.1 {DYNO} sample#load_avg_1m=\d+\.\d\d sample#load_avg_5m=\d+\.\d\d "
    r"sample#load_avg_15m=\d+\.\d\d$"
)
MEMORY = re.compile(
    rf"^source=worker\.1 {DYNO} sample#memory_total=(?P<total>\d+\.\d\d)MB "
    r"sample#memory_rss=(?P<rss>\d+\.\d\d)MB sample#memory_cache=(?P<cache>\d+\.\d\d)MB "
    r"sample#memory_swap=(?P<swap>\d+\.\d\d)MB sample#memory_pgpgin=\d+pages "
    r"sample#memory_pgpgout=\d+pages sample#memory_quota=512\.00MB$"
)


async def test_samples_name_the_dyno_and_count_its_real_memory(tmp_path: Path) -> None:
    h = await Harness(tmp_path / "home", runtime_metrics_interval=0.5).start()
    try:
        desired = h.desired(worker=(cmd("alloc", "80"), 1))
        enabled = replace(desired, features=frozenset({"log-runtime-metrics"}), app_id=APP_ID)
        await h.manager.apply(enabled)
        allocated = await h.wait_line("worker.1", "allocated 80", timeout=30)
        line = await h.wait_line("worker.1", "sample#memory_total", timeout=20, after=allocated.at)
        m = MEMORY.match(line.text)
        assert m is not None, line.text
        rss, cache, swap = float(m["rss"]), float(m["cache"]), float(m["swap"])
        assert rss >= 80.0  # the 80 MB the dyno really touched are resident
        assert float(m["total"]) == pytest.approx(rss + cache + swap, abs=0.02)
        texts = h.lines("worker.1", "heroku")
        i = texts.index(line.text)
        assert LOAD.match(texts[i - 1]), texts[i - 1]  # the load line comes first, as Heroku's
        assert len({re.search(r"dyno=(\S+)", t)[1] for t in texts if "sample#" in t}) == 1  # type: ignore[index]

        await h.manager.apply(desired)  # the feature off: the samples stop, the dyno keeps running
        off = time.monotonic()
        await h.wait_for(lambda: time.monotonic() - off > 1.6, 5, "two intervals")
        late = [s for s in h.seen if s.dyno == "worker.1" and "sample#" in s.text and s.at > off + 0.6]
        assert late == []
        assert h.manager.dyno("demo", "worker.1").state == "up"
    finally:
        await h.close()
