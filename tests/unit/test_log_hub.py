from __future__ import annotations

import asyncio
import re

from common.events import EventBus
from common.loghub import LogHub, dyno_matches

TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00"


def test_line_format_is_herokus() -> None:
    hub = LogHub(EventBus())
    hub.emit("a", "app", "web.1", "hello\n")
    line = hub.recent("a")[0].format()
    assert re.fullmatch(TS + r" app\[web\.1\]: hello", line)


def test_ring_keeps_newest_1500_lines() -> None:
    hub = LogHub(EventBus())
    for i in range(2000):
        hub.emit("a", "app", "web.1", f"line {i}")
    lines = hub.recent("a", 1500)
    assert len(lines) == 1500 and lines[0].text == "line 500" and lines[-1].text == "line 1999"


def test_long_lines_are_split_at_10000_bytes() -> None:
    hub = LogHub(EventBus())
    hub.emit("a", "app", "web.1", "x" * 25_000)
    assert [len(line.text) for line in hub.recent("a")] == [10_000, 10_000, 5_000]


def test_dyno_filter_semantics() -> None:
    assert dyno_matches("web", "web.1") and dyno_matches("web", "web.12")
    assert not dyno_matches("web", "worker.1") and not dyno_matches("web.1", "web.12")
    assert dyno_matches("router", "router") and dyno_matches(None, "anything")


async def test_tail_reports_overflow_with_l11() -> None:
    bus = EventBus()
    hub = LogHub(bus)
    tail = hub.tail("a", lines=0, maxsize=10)
    first = asyncio.ensure_future(tail.__anext__())
    await asyncio.sleep(0)
    for i in range(50):
        hub.emit("a", "app", "web.1", f"m{i}")
    got = [await first]
    for _ in range(3):
        got.append(await tail.__anext__())
    await tail.aclose()  # type: ignore[attr-defined]
    joined = "\n".join(got)
    assert "Error L11 (Tail buffer overflow) -> This tail session dropped" in joined
