"""One drain's bounded buffer: 1,024 unsent lines (Logplex's), the oldest dropped first.

Offering never blocks and never waits for the network: the log hub's publisher (the router,
a dyno's output) only pays for an append. Drops are counted; the drain reports them with
Heroku's L10 line at most once a second, and only for lines the app or platform wrote (the
L10 line itself overflowing a stalled drain is counted, but does not report again).
"""

from __future__ import annotations

import asyncio
from collections import deque

from common.loghub import LogLine, rfc5424_now

DRAIN_BUFFER = 1024


class DrainBuffer:
    def __init__(self, capacity: int = DRAIN_BUFFER):
        self.capacity = capacity
        self.lines: deque[LogLine] = deque()
        self.ready = asyncio.Event()
        self.dropped = 0  # since the drain was started
        self.sent = 0
        self.unreported = 0  # dropped since the last L10 line
        self.dropped_since = ""

    def offer(self, line: LogLine, report: bool = True) -> bool:
        """Queue `line`; True when that dropped an older one (and a report is due)."""
        dropped = False
        lines = self.lines
        if not lines:
            self.ready.set()  # cleared only when emptied: one wake-up per batch, not per line
        elif len(lines) >= self.capacity:
            lines.popleft()
            self.dropped += 1
            if report:
                if not self.unreported:
                    self.dropped_since = rfc5424_now()
                self.unreported += 1
                dropped = True
        lines.append(line)
        return dropped

    def drop(self, count: int) -> None:
        """Lines lost after they left the buffer (a batch given up after its retries, a broken write)."""
        if count <= 0:
            return
        if not self.unreported:
            self.dropped_since = rfc5424_now()
        self.dropped += count
        self.unreported += count

    def take(self, limit: int) -> list[LogLine]:
        lines = self.lines
        count = min(limit, len(lines))
        batch = [lines.popleft() for _ in range(count)]
        if not lines:
            self.ready.clear()
        return batch

    def take_report(self) -> str | None:
        """Heroku's L10 text for what was dropped since the last one, or None."""
        if not self.unreported:
            return None
        text = (
            f"Error L10 (output buffer overflow): {self.unreported} messages dropped "
            f"since {self.dropped_since}."
        )
        self.unreported = 0
        return text
