"""The log hub (our Logplex): per-app ring buffers of 1,500 lines, filtered tails.

A line looks as Heroku writes it:
    2010-09-16T15:13:46.677020+00:00 app[web.1]: Starting on port 5000
Lines over 10,000 bytes are split, as Logplex does. Every line is also published on the
bus as `log.line`, which is how tails, drains and the TUI see it. A tail that cannot keep
up drops lines and says so with Heroku's L11 line.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from common.events import Event, EventBus

BUFFER_LINES = 1500
MAX_LINE_BYTES = 10_000
TAIL_QUEUE = 10_000


_second_prefix: tuple[int, str] = (0, "")


def rfc5424_now() -> str:
    """Now as `2010-09-16T15:13:46.677020+00:00`."""
    return rfc5424(time.time())


def rfc5424(at: float) -> str:
    """Epoch seconds as `2010-09-16T15:13:46.677020+00:00`; the date part is cached per second."""
    global _second_prefix
    second = int(at)
    cached, prefix = _second_prefix
    if cached != second:
        prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second_prefix = (second, prefix)
    return f"{prefix}.{int((at - second) * 1_000_000):06d}+00:00"


@dataclass(slots=True)
class LogLine:
    # when: RFC 5424 text, or epoch seconds turned into that text when first read (`ts`). Most
    # lines (a router line per request) leave the buffer unread: formatting them all was ~5 %
    # of a request's cost in the router
    stamp: str | float
    app: str
    source: str  # "app" or "heroku"
    dyno: str  # "web.1", "router", "api", ...
    text: str

    @property
    def ts(self) -> str:
        """RFC 5424 with microseconds and +00:00."""
        stamp = self.stamp
        if isinstance(stamp, str):
            return stamp
        text = rfc5424(stamp)
        self.stamp = text
        return text

    def format(self) -> str:
        return f"{self.ts} {self.source}[{self.dyno}]: {self.text}"

    def to_json(self) -> dict[str, Any]:
        return {"ts": self.ts, "app": self.app, "source": self.source, "dyno": self.dyno, "text": self.text}


def dyno_matches(pattern: str | None, dyno: str) -> bool:
    """Heroku's -d: `web` matches web.1, web.2; `web.1` only itself; `router` the router."""
    if not pattern:
        return True
    if "." in pattern:
        return dyno == pattern
    return dyno == pattern or dyno.startswith(pattern + ".")


def line_matches(line: LogLine, source: str | None, dyno: str | None) -> bool:
    return (not source or line.source == source) and dyno_matches(dyno, line.dyno)


_SPLIT = re.compile(rb"(.{1,%d})" % MAX_LINE_BYTES, re.S)


def split_long(text: str) -> list[str]:
    if len(text) <= MAX_LINE_BYTES // 4:  # at most 4 UTF-8 bytes a character: no need to encode
        return [text]
    raw = text.encode("utf-8", "replace")
    if len(raw) <= MAX_LINE_BYTES:
        return [text]
    return [m.decode("utf-8", "replace") for m in _SPLIT.findall(raw)]


class LogHub:
    def __init__(self, bus: EventBus, capacity: int = BUFFER_LINES):
        self.bus = bus
        self.capacity = capacity
        self._buffers: dict[str, deque[LogLine]] = {}
        self.total = 0

    def emit(self, app: str, source: str, dyno: str, text: str) -> None:
        buf = self._buffers.get(app)
        if buf is None:
            buf = self._buffers[app] = deque(maxlen=self.capacity)
        if len(text) <= MAX_LINE_BYTES // 4 and not text.endswith(("\n", "\r")):
            parts: tuple[str, ...] | list[str] = (
                text,
            )  # the common case (every router line): no split, no strip
        else:
            parts = split_long(text.rstrip("\r\n"))
        bus = self.bus
        for part in parts:
            line = LogLine(time.time(), app, source, dyno, part)
            buf.append(line)
            self.total += 1
            if bus.wants("log.line", app):
                bus.publish(Event("log.line", app, {"line": line}))

    def router_line(self, app: str, text: str) -> None:
        """A `heroku[router]` line (the router's `log` function: called once per request)."""
        self.emit(app, "heroku", "router", text)

    def app_line(self, app: str, dyno: str, text: str) -> None:
        self.emit(app, "app", dyno, text)

    def heroku_line(self, app: str, dyno: str, text: str) -> None:
        self.emit(app, "heroku", dyno, text)

    def api_line(self, app: str, text: str) -> None:
        self.emit(app, "app", "api", text)

    def recent(
        self, app: str, lines: int = 100, source: str | None = None, dyno: str | None = None
    ) -> list[LogLine]:
        buf = self._buffers.get(app, ())
        matching = [line for line in buf if line_matches(line, source, dyno)]
        return matching[-lines:] if lines > 0 else []

    def forget(self, app: str) -> None:
        self._buffers.pop(app, None)

    def tail(
        self,
        app: str,
        source: str | None = None,
        dyno: str | None = None,
        lines: int = 100,
        follow: bool = True,
        maxsize: int = TAIL_QUEUE,
    ) -> AsyncIterator[str]:
        """Formatted lines: the recent ones, then (if follow) live ones. Overflow → an L11 line."""
        from common.logtail import tail_lines

        return tail_lines(self, app, source, dyno, lines, follow, maxsize)
