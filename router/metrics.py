"""Per-request records and the live figures built from them (per app and per dyno).

Each finished request becomes one `RequestRecord` (also handed to the daemon's `on_request`
callback, which publishes it as a `router.request` event). `Metrics` keeps, per app and per
(app, dyno): totals, counts by H-code and by status class, a request rate over the last
10 s and 60 s, and latency percentiles over the last `WINDOW` requests. Memory is fixed per
key; the number of keys is bounded by apps × dynos (keys of removed dynos are evicted
oldest-first beyond `MAX_KEYS`).
"""

from __future__ import annotations

import time
from array import array
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from common.events import Event, EventBus

WINDOW = 2048  # latency samples kept per key
RATE_SECONDS = 60
MAX_KEYS = 10_000
_STATUS_CLASS = tuple(f"{n}xx" for n in range(10))


@dataclass(slots=True)
class RequestRecord:
    """One routed request, as the log line says it, in structured form."""

    app: str
    dyno: str | None  # None when no dyno was reached
    code: str | None  # "H12", or None for a clean request
    status: int | None
    connect_ms: int | None
    service_ms: int | None
    bytes: int | None  # bytes received from the dyno for this response (head and body)
    method: str
    path: str
    host: str
    request_id: str
    at: str  # info | warning | error
    total_ms: int  # request received → finished, including any hold
    ts: float  # epoch seconds when finished

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def to_event(self) -> dict[str, Any]:
        """The data of a `router.request` bus event (its app goes in Event.app).

        Spelled out rather than `asdict` (which deep-copies): this runs once per request.
        """
        return {
            "dyno": self.dyno,
            "code": self.code,
            "status": self.status,
            "connect_ms": self.connect_ms,
            "service_ms": self.service_ms,
            "bytes": self.bytes,
            "method": self.method,
            "path": self.path,
            "host": self.host,
            "request_id": self.request_id,
            "at": self.at,
            "total_ms": self.total_ms,
            "ts": self.ts,
        }


def bus_publisher(bus: EventBus) -> Callable[[RequestRecord], None]:
    """`on_request` for a Router: each record becomes a `router.request` event on the bus.

    The event is only built when something listens for it (the daemon's platform table,
    an `/events` stream), as a logger with no handler formats nothing.
    """

    def publish(record: RequestRecord) -> None:
        if bus.wants("router.request", record.app):
            bus.publish(Event("router.request", record.app, record.to_event()))

    return publish


class Stats:
    """Counters for one app or one dyno; O(1) per request."""

    __slots__ = ("_buckets", "_lat", "_lat_n", "_stamps", "by_code", "by_status", "errors", "total")

    def __init__(self) -> None:
        self.total = 0
        self.errors = 0
        self.by_code: dict[str, int] = {}
        self.by_status: dict[str, int] = {}
        self._lat = array("d", bytes(8 * WINDOW))
        self._lat_n = 0
        self._buckets = [0] * RATE_SECONDS
        self._stamps = [0] * RATE_SECONDS

    def add(self, rec: RequestRecord, now_s: int) -> None:
        self.total += 1
        code = rec.code
        if code is not None:
            self.by_code[code] = self.by_code.get(code, 0) + 1
            if rec.at == "error":
                self.errors += 1
        status = rec.status
        if status is not None:
            cls = _STATUS_CLASS[status // 100] if 0 <= status < 1000 else f"{status // 100}xx"
            self.by_status[cls] = self.by_status.get(cls, 0) + 1
        self._lat[self._lat_n % WINDOW] = rec.total_ms
        self._lat_n += 1
        slot = now_s % RATE_SECONDS
        if self._stamps[slot] != now_s:
            self._stamps[slot] = now_s
            self._buckets[slot] = 0
        self._buckets[slot] += 1

    def rate(self, seconds: int, now_s: int) -> float:
        """Requests per second over the last `seconds` whole seconds (this one excluded)."""
        count = 0
        for back in range(1, seconds + 1):
            s = now_s - back
            slot = s % RATE_SECONDS
            if self._stamps[slot] == s:
                count += self._buckets[slot]
        return count / seconds

    def percentiles(self) -> dict[str, float | None]:
        n = min(self._lat_n, WINDOW)
        if n == 0:
            return {"p50": None, "p95": None, "p99": None}
        values = sorted(self._lat[:n])
        return {
            "p50": values[min(n - 1, int(n * 0.50))],
            "p95": values[min(n - 1, int(n * 0.95))],
            "p99": values[min(n - 1, int(n * 0.99))],
        }

    def snapshot(self, now_s: int) -> dict[str, Any]:
        return {
            "requests": self.total,
            "errors": self.errors,
            "rate_10s": self.rate(10, now_s),
            "rate_60s": self.rate(60, now_s),
            "codes": dict(self.by_code),
            "statuses": dict(self.by_status),
            "latency_ms": self.percentiles(),
            "latency_samples": min(self._lat_n, WINDOW),
        }


class Metrics:
    def __init__(self) -> None:
        self._apps: dict[str, Stats] = {}
        self._dynos: OrderedDict[tuple[str, str], Stats] = OrderedDict()

    def add(self, rec: RequestRecord) -> None:
        now_s = int(rec.ts)
        app = self._apps.get(rec.app)
        if app is None:
            app = self._apps[rec.app] = Stats()
        app.add(rec, now_s)
        if rec.dyno is not None:
            key = (rec.app, rec.dyno)
            dyno = self._dynos.get(key)
            if dyno is None:
                dyno = self._dynos[key] = Stats()
                if len(self._dynos) > MAX_KEYS:
                    self._dynos.popitem(last=False)
            dyno.add(rec, now_s)

    def forget(self, app: str) -> None:
        self._apps.pop(app, None)
        for key in [k for k in self._dynos if k[0] == app]:
            del self._dynos[key]

    def snapshot(self, app: str | None = None) -> dict[str, Any]:
        now_s = int(time.time())
        names = [app] if app is not None else sorted(self._apps)
        out: dict[str, Any] = {}
        for name in names:
            stats = self._apps.get(name)
            entry = stats.snapshot(now_s) if stats is not None else Stats().snapshot(now_s)
            entry["dynos"] = {
                dyno: s.snapshot(now_s) for (a, dyno), s in sorted(self._dynos.items()) if a == name
            }
            out[name] = entry
        return out
