"""One app's last hour in fixed steps: a ring buffer of slots, bounded by construction.

A slot covers `resolution` seconds and holds what Heroku's Metrics tab plots for that step:
requests by status class, router errors by H-code, the response-time histogram (p50/p95/p99/max),
and per dyno the memory and load samples taken during it. A slot is reused when the ring comes
round, so an app costs at most `WINDOW / resolution` slots whatever its traffic. Events (deploys,
restarts, crashes, scaling, config changes) are kept in a bounded deque beside the ring.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from paas.metrics.latency import Histogram

WINDOW = 3600  # seconds: the Metrics view shows the last hour
MAX_MARKS = 500  # events kept per app (oldest dropped first)
MAX_DYNOS = 100  # dynos sampled per slot (more are not plotted, and counted)
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")


@dataclass(frozen=True)
class Mark:
    """An event on the timeline: deploy, restart, crash, scale or config."""

    ts: float
    kind: str
    text: str
    release: int | None = None  # the release a deploy or config change made

    def to_json(self) -> dict[str, Any]:
        return {"ts": self.ts, "kind": self.kind, "text": self.text, "release": self.release}


class Gauge:
    """Samples of one figure during one step: mean and maximum."""

    __slots__ = ("count", "max", "total")

    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0
        self.max = 0.0

    def add(self, value: float) -> None:
        self.total += value
        self.count += 1
        if self.count == 1 or value > self.max:
            self.max = value

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0


class Slot:
    __slots__ = ("errors", "latency", "load", "memory", "start", "statuses")

    def __init__(self, start: int) -> None:
        self.start = start
        self.statuses: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.latency = Histogram()
        self.memory: dict[str, Gauge] = {}
        self.load: dict[str, Gauge] = {}


_CLASSES = (None, "1xx", "2xx", "3xx", "4xx", "5xx")


def status_class(status: int | None) -> str | None:
    if status is None or not 100 <= status <= 599:
        return None
    return _CLASSES[status // 100]


@dataclass
class Series:
    """What `GET /apps/{app}/metrics` answers: one column per figure, one row per step."""

    app: str
    resolution: int
    times: list[int]  # each step's start, epoch seconds
    throughput: dict[str, list[int]]  # status class -> requests per step
    errors: dict[str, list[int]]  # H-code -> occurrences per step
    latency: dict[str, list[float | None]]  # p50 / p95 / p99 / max (ms) per step
    memory: dict[str, list[float | None]]  # dyno -> mean memory (MB) per step
    memory_max: dict[str, list[float | None]]  # dyno -> highest memory sample (MB) per step
    memory_quota: dict[str, float]  # dyno -> its size's quota (MB)
    load: dict[str, list[float | None]]  # dyno -> mean load per step
    events: list[Mark] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "resolution": self.resolution,
            "window": len(self.times) * self.resolution,
            "times": self.times,
            "throughput": self.throughput,
            "errors": self.errors,
            "latency_ms": self.latency,
            "memory_mb": self.memory,
            "memory_max_mb": self.memory_max,
            "memory_quota_mb": self.memory_quota,
            "load": self.load,
            "events": [m.to_json() for m in self.events],
        }


class AppTimeline:
    def __init__(self, app: str, resolution: int, window: int = WINDOW):
        self.app = app
        self.resolution = resolution
        self.size = math.ceil(window / resolution)
        self._slots: list[Slot | None] = [None] * self.size
        self._current: Slot | None = None  # the newest slot: nearly every request lands in it
        self.marks: deque[Mark] = deque(maxlen=MAX_MARKS)
        self.quota_mb: dict[str, float] = {}
        self.dynos_over = 0  # samples not kept: more than MAX_DYNOS dynos in one step

    def slot(self, ts: float) -> Slot | None:
        """The slot for `ts` (made fresh when the ring comes round); None for a time older
        than the slot now in its place (a sample that arrived after its hour was gone)."""
        start = int(ts) // self.resolution * self.resolution
        current = self._current
        if current is not None and current.start == start:
            return current
        index = (start // self.resolution) % self.size
        found = self._slots[index]
        if found is not None and found.start == start:
            return found
        if found is not None and found.start > start:
            return None
        fresh = self._slots[index] = Slot(start)
        if current is None or start > current.start:
            self._current = fresh
        return fresh

    def request(self, ts: float, status: int | None, code: str | None, total_ms: float) -> None:
        slot = self.slot(ts)
        if slot is None:
            return
        cls = status_class(status)
        if cls is not None:
            slot.statuses[cls] = slot.statuses.get(cls, 0) + 1
        if code is not None:
            slot.errors[code] = slot.errors.get(code, 0) + 1
        slot.latency.add(total_ms)

    def sample(self, ts: float, dyno: str, memory_mb: float, load: float | None) -> None:
        slot = self.slot(ts)
        if slot is None:
            return
        gauge = slot.memory.get(dyno)
        if gauge is None:
            if len(slot.memory) >= MAX_DYNOS:
                self.dynos_over += 1
                return
            gauge = slot.memory[dyno] = Gauge()
        gauge.add(memory_mb)
        if load is not None:
            slot.load.setdefault(dyno, Gauge()).add(load)

    def mark(self, mark: Mark) -> None:
        """Add an event; a config change replaces the mark of the release it made (one event)."""
        marks = self.marks
        if (
            mark.kind == "config"
            and marks
            and marks[-1].release == mark.release
            and marks[-1].kind == "deploy"
        ):
            marks.pop()
        marks.append(mark)

    def series(self, now: float, window: int = WINDOW) -> Series:
        res = self.resolution
        steps = max(1, min(self.size, math.ceil(window / res)))
        last = int(now) // res * res
        times = [last - (steps - 1 - i) * res for i in range(steps)]
        slots = [self._live(t) for t in times]
        out = Series(self.app, res, times, {}, {}, {}, {}, {}, {}, {})
        _columns(out, slots)
        out.memory_quota = {d: q for d, q in sorted(self.quota_mb.items()) if d in out.memory}
        out.events = [m for m in self.marks if m.ts >= times[0]]
        return out

    def _live(self, start: int) -> Slot | None:
        found = self._slots[(start // self.resolution) % self.size]
        return found if found is not None and found.start == start else None


def _columns(out: Series, slots: list[Slot | None]) -> None:
    classes = set(STATUS_CLASSES)
    codes: set[str] = set()
    dynos: set[str] = set()
    for s in slots:
        if s is not None:
            classes.update(s.statuses)
            codes.update(s.errors)
            dynos.update(s.memory)
    out.throughput = {c: [s.statuses.get(c, 0) if s else 0 for s in slots] for c in sorted(classes)}
    out.errors = {c: [s.errors.get(c, 0) if s else 0 for s in slots] for c in sorted(codes)}
    summaries = [s.latency.summary() if s else None for s in slots]
    out.latency = {k: [x[k] if x else None for x in summaries] for k in ("p50", "p95", "p99", "max")}
    for d in sorted(dynos):
        out.memory[d] = [_round(s.memory[d].mean) if s and d in s.memory else None for s in slots]
        out.memory_max[d] = [_round(s.memory[d].max) if s and d in s.memory else None for s in slots]
        out.load[d] = [round(s.load[d].mean, 2) if s and d in s.load else None for s in slots]


def _round(mb: float) -> float:
    return round(mb, 1)
