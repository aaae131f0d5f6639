"""Turns a dyno's raw output chunks into log lines, the way log-shuttle does on Heroku.

Every complete line becomes one `app[web.1]` line at once. A partial line waits for its
newline, for end of stream, or until it reaches `MAX_PARTIAL` bytes (then it is cut, like
Logplex cuts lines over 10,000 bytes). A trailing `\\r` is dropped (CRLF output).

Bounded: each dyno may log `LINES_PER_SECOND` lines a second on average, in bursts of up to
`BURST_LINES`. Lines beyond that are dropped before any work is spent on them (a dyno running
`yes` must not starve the daemon's event loop, which also routes every request), and the next
line that fits is preceded by Heroku's log-shuttle report:
`Error L12 (Local buffer overflow) -> N messages dropped since <timestamp>`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

MAX_PARTIAL = 10_000
LINES_PER_SECOND = 2_000.0
BURST_LINES = 10_000.0


class LineBudget:
    """A token bucket of log lines; counts what it refuses."""

    def __init__(
        self,
        rate: float = LINES_PER_SECOND,
        burst: float = BURST_LINES,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = burst
        self.stamp = clock()
        self.dropped = 0  # since the last report
        self.dropped_total = 0
        self.dropped_since: str | None = None

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        if self.dropped == 0:
            self.dropped_since = datetime.now(UTC).isoformat(timespec="microseconds")
        self.dropped += 1
        self.dropped_total += 1
        return False

    def report(self) -> str | None:
        """The L12 line for lines dropped since the last report (once), else None."""
        if not self.dropped:
            return None
        text = (
            f"Error L12 (Local buffer overflow) -> {self.dropped} messages dropped since {self.dropped_since}"
        )
        self.dropped = 0
        return text


class LineSplitter:
    def __init__(
        self,
        emit: Callable[[str], None],
        max_partial: int = MAX_PARTIAL,
        budget: LineBudget | None = None,
        report: Callable[[str], None] | None = None,
    ):
        self.emit = emit
        self.max_partial = max_partial
        self.budget = budget
        self.report = report
        self._partial: dict[str, bytearray] = {}

    def feed(self, stream: str, chunk: bytes) -> None:
        """Feed raw output; `chunk == b""` means end of that stream (flush its partial line)."""
        buf = self._partial.setdefault(stream, bytearray())
        if not chunk:
            if buf:
                self._line(bytes(buf))
                buf.clear()
            return
        buf += chunk
        start = 0
        while True:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            self._line(buf[start:end])
            start = end + 1
        del buf[:start]
        while len(buf) >= self.max_partial:
            self._line(bytes(buf[: self.max_partial]))
            del buf[: self.max_partial]

    def _line(self, raw: bytes | bytearray) -> None:
        budget = self.budget
        if budget is not None:
            if not budget.take():
                return
            if budget.dropped and self.report is not None:
                note = budget.report()
                if note:
                    self.report(note)
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        self.emit(bytes(raw).decode("utf-8", "replace"))
