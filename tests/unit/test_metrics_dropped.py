"""Dropped log lines reach the metrics: a tail that overflows (Heroku's L11) publishes
`log.dropped` with the same count its L11 line names; the registry counts tail and drain drops
per app (and drain), the drain by its id."""

from __future__ import annotations

import asyncio
import re

from common.events import Event, EventBus
from common.loghub import LogHub
from paas.metrics.registry import Registry


async def test_an_overflowing_tail_publishes_what_its_l11_line_says() -> None:
    bus = EventBus()
    hub = LogHub(bus)
    dropped: list[Event] = []
    bus.listen(["log.dropped"], dropped.append)
    tail = hub.tail("a", lines=0, maxsize=10)
    first = asyncio.ensure_future(tail.__anext__())
    await asyncio.sleep(0)
    for i in range(50):
        hub.emit("a", "app", "web.1", f"m{i}")
    got = [await first]
    for _ in range(3):
        got.append(await tail.__anext__())
    await tail.aclose()  # type: ignore[attr-defined]
    said = [int(m) for m in re.findall(r"This tail session dropped (\d+) messages", "\n".join(got))]
    assert said and [e.data["count"] for e in dropped] == said
    assert all(e.app == "a" and e.data["sink"] == "tail" for e in dropped)


def test_the_registry_counts_drops_per_app_and_drain() -> None:
    reg = Registry()
    reg.dropped("a", "tail", None, 39)
    reg.dropped("a", "drain", "d.3f9a", 5)
    reg.dropped("a", "drain", "d.3f9a", 2)
    reg.dropped("b", "drain", "d.77aa", 0)  # nothing dropped: no series
    assert reg.tail_dropped == {"a": 39} and reg.drain_dropped == {("a", "d.3f9a"): 7}
