"""Counters and histograms since the daemon started, for Prometheus: O(1) per request, bounded.

Router requests are counted per (app, HTTP status, H-code) and timed per (app, HTTP status) in
fixed buckets (seconds, Prometheus's usual spread up to Heroku's 30 s timeout and beyond). Log
lines a tail or a drain had to drop arrive as `log.dropped` events and are counted per app (and
drain). Series are bounded: past MAX_SERIES new ones are not made, and `overflow` counts them.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import TypeVar

BOUNDS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
MAX_SERIES = 20_000
_CODES = {n: str(n) for n in range(100, 600)}
K = TypeVar("K", tuple[str, str], tuple[str, str, str])
V = TypeVar("V")


@dataclass(slots=True)
class Timing:
    buckets: list[int] = field(default_factory=lambda: [0] * (len(BOUNDS_S) + 1))
    sum_s: float = 0.0

    def add(self, seconds: float) -> None:
        self.buckets[bisect.bisect_left(BOUNDS_S, seconds)] += 1
        self.sum_s += seconds

    def cumulative(self) -> list[int]:
        out, running = [], 0
        for n in self.buckets:
            running += n
            out.append(running)
        return out


class Registry:
    def __init__(self, max_series: int = MAX_SERIES) -> None:
        self.max_series = max_series
        self.requests: dict[tuple[str, str, str], int] = {}  # (app, status, hcode) -> count
        self.timings: dict[tuple[str, str], Timing] = {}  # (app, status) -> histogram
        self.tail_dropped: dict[str, int] = {}  # app -> lines dropped by live tails (L11)
        self.drain_dropped: dict[tuple[str, str], int] = {}  # (app, drain) -> lines (L10)
        self.overflow = 0  # samples not counted: the series limit was reached

    def _room(self) -> bool:
        size = len(self.requests) + len(self.timings) + len(self.drain_dropped) + len(self.tail_dropped)
        if size >= self.max_series:
            self.overflow += 1
            return False
        return True

    def request(self, app: str, status: int | None, hcode: str | None, total_ms: float) -> None:
        code = _CODES.get(status) if status is not None else "none"
        if code is None:
            code = str(status)
        key = (app, code, hcode or "")
        count = self.requests.get(key)
        if count is None and not self._room():
            return
        self.requests[key] = (count or 0) + 1
        tkey = (app, code)
        timing = self.timings.get(tkey)
        if timing is None:
            if not self._room():
                return
            timing = self.timings[tkey] = Timing()
        timing.add(total_ms / 1000)

    def dropped(self, app: str, sink: str, drain: str | None, count: int) -> None:
        if count <= 0:
            return
        if sink == "drain":
            key = (app, drain or "")
            if key in self.drain_dropped or self._room():
                self.drain_dropped[key] = self.drain_dropped.get(key, 0) + count
        elif app in self.tail_dropped or self._room():
            self.tail_dropped[app] = self.tail_dropped.get(app, 0) + count

    def forget(self, app: str) -> None:
        _drop_app(self.requests, app)
        _drop_app(self.timings, app)
        _drop_app(self.drain_dropped, app)
        self.tail_dropped.pop(app, None)


def _drop_app(table: dict[K, V], app: str) -> None:
    for key in [k for k in table if k[0] == app]:
        del table[key]
