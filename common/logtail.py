"""`paas logs --tail` for the log hub: recent lines, then live ones, with Heroku's L11 on overflow.

Kept apart from common.loghub, which is compiled with mypyc (it has no async generators).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from common.loghub import line_matches, rfc5424_now

if TYPE_CHECKING:
    from common.loghub import LogHub


async def tail_lines(
    hub: LogHub,
    app: str,
    source: str | None,
    dyno: str | None,
    lines: int,
    follow: bool,
    maxsize: int,
) -> AsyncIterator[str]:
    sub = hub.bus.subscribe(["log.line"], app=app, maxsize=maxsize) if follow else None
    try:
        for line in hub.recent(app, lines, source, dyno):
            yield line.format()
        if sub is None:
            return
        reported = 0
        since = rfc5424_now()
        while True:
            event = await sub.get()
            if event is None:
                return
            if sub.dropped > reported:
                # counted where Prometheus sees it (paas_log_tail_dropped_lines_total)
                hub.bus.emit("log.dropped", app, sink="tail", drain=None, count=sub.dropped - reported)
                yield (
                    f"{rfc5424_now()} heroku[logplex]: Error L11 (Tail buffer overflow) -> "
                    f"This tail session dropped {sub.dropped - reported} messages since {since}"
                )
                reported = sub.dropped
                since = rfc5424_now()
            line = event.data["line"]
            if line_matches(line, source, dyno):
                yield line.format()
    except asyncio.CancelledError:
        raise
    finally:
        if sub is not None:
            sub.close()
