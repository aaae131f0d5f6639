"""The TUI's picture of the platform, kept current from the daemon's event stream.

Pure data, no Textual: the stream reader calls `Store.apply(event)` for every event (cheap:
a few dict updates and one append to a bounded deque) and the screens read the store at
their own pace (at most ~10 times a second). Every buffer here is bounded; router figures
(request rate, error rate, counts by code) are derived from the `heroku[router]` lines
themselves, so the TUI sees exactly what a `paas logs --tail` user sees.
"""

from __future__ import annotations

import re
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tui.codes import find_code

LOG_BUFFER = 5_000  # lines kept per app for the Logs screen
ROUTER_BUFFER = 5_000  # router lines kept per app for the Router screen
SERIES_SECONDS = 60  # sparkline history
MB = 1024 * 1024

# Fallback memory quotas when the dynos endpoint does not say (Heroku's table).
SIZE_QUOTA_MB = {
    "eco": 512,
    "basic": 512,
    "standard-1x": 512,
    "standard-2x": 1024,
    "performance-m": 2560,
    "performance-l": 14336,
}

_FIELD = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_router_fields(text: str) -> dict[str, str]:
    """`at=error code=H13 desc="…" path="/x" …` → {"at": "error", "code": "H13", "path": "/x", …}."""
    out: dict[str, str] = {}
    for key, value in _FIELD.findall(text):
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = value[1:-1]
            if "\\" in value:
                value = value.replace('\\"', '"').replace("\\\\", "\\")
        out[key] = value
    return out


_ROUTER_HEAD = re.compile(r"(?:sock=\w+ )?at=(\w+)(?: code=(\w+))?")


@dataclass(slots=True)
class LogEntry:
    seq: int
    ts: str  # RFC 5424, as the hub wrote it
    app: str
    source: str
    dyno: str
    text: str
    code: str | None = None
    level: str = "info"
    router: bool = False  # a heroku[router] line
    _fields: dict[str, str] | None = None

    @property
    def is_router(self) -> bool:
        return self.router

    @property
    def fields(self) -> dict[str, str] | None:
        """The key=value fields of a router line, parsed on first use (most lines never need them)."""
        if not self.router:
            return None
        if self._fields is None:
            self._fields = parse_router_fields(self.text)
        return self._fields

    @property
    def clock(self) -> str:
        """HH:MM:SS.mmm out of the RFC 5424 timestamp (the date is noise on a live screen)."""
        return self.ts[11:23] if len(self.ts) >= 23 else self.ts

    def formatted(self) -> str:
        return f"{self.ts} {self.source}[{self.dyno}]: {self.text}"


def make_entry(seq: int, line: dict[str, Any]) -> LogEntry:
    text = str(line.get("text", ""))
    source = str(line.get("source", ""))
    dyno = str(line.get("dyno", ""))
    entry = LogEntry(seq, str(line.get("ts", "")), str(line.get("app", "")), source, dyno, text)
    if source == "heroku" and dyno == "router":
        entry.router = True
        if not text.startswith("at=info method="):  # the common case (no code) needs no parsing
            head = _ROUTER_HEAD.match(text)
            if head is not None:
                entry.level = head.group(1)
                entry.code = head.group(2)
    elif "R1" in text or "L1" in text or "Error" in text:
        entry.code = find_code(text)
        if entry.code:
            entry.level = "error" if entry.code[0] == "R" else "warning"
    return entry


class RateSeries:
    """Counts per whole second over the last `seconds`; O(1) add, no timers."""

    __slots__ = ("_counts", "_stamps", "seconds")

    def __init__(self, seconds: int = SERIES_SECONDS):
        self.seconds = seconds
        self._counts = [0] * seconds
        self._stamps = [-1] * seconds

    def add(self, now_s: int, n: int = 1) -> None:
        slot = now_s % self.seconds
        if self._stamps[slot] != now_s:
            self._stamps[slot] = now_s
            self._counts[slot] = 0
        self._counts[slot] += n

    def count(self, second: int) -> int:
        slot = second % self.seconds
        return self._counts[slot] if self._stamps[slot] == second else 0

    def series(self, now_s: int) -> list[int]:
        """Oldest → newest, ending with the last complete second."""
        return [self.count(s) for s in range(now_s - self.seconds, now_s)]

    def rate(self, now_s: int, window: int = 10) -> float:
        return sum(self.count(s) for s in range(now_s - window, now_s)) / window


@dataclass
class RouterStats:
    requests: RateSeries = field(default_factory=RateSeries)
    errors: RateSeries = field(default_factory=RateSeries)
    codes: Counter[str] = field(default_factory=Counter)
    last_code_at: dict[str, float] = field(default_factory=dict)
    total: int = 0
    error_total: int = 0
    latency: dict[str, Any] = field(default_factory=dict)  # p50/p95/p99 from /router/metrics

    def record(self, now: float, code: str | None, level: str) -> None:
        now_s = int(now)
        self.total += 1
        self.requests.add(now_s)
        if code:
            self.codes[code] += 1
            self.last_code_at[code] = now
        if level == "error":
            self.error_total += 1
            self.errors.add(now_s)

    def seed(self, metrics: dict[str, Any]) -> None:
        """Totals since the daemon started, from GET /router/metrics; live lines add to them."""
        self.total = int(metrics.get("requests") or 0)
        self.error_total = int(metrics.get("errors") or 0)
        self.codes = Counter({str(k): int(v) for k, v in (metrics.get("codes") or {}).items()})
        latency = metrics.get("latency_ms")
        if isinstance(latency, dict):
            self.latency = latency

    def error_percent(self, now_s: int, window: int = 60) -> float:
        reqs = sum(self.requests.count(s) for s in range(now_s - window, now_s))
        errs = sum(self.errors.count(s) for s in range(now_s - window, now_s))
        return 100.0 * errs / reqs if reqs else 0.0


@dataclass
class Dyno:
    name: str
    type: str
    state: str
    since: float = 0.0
    port: int | None = None
    host: str | None = None
    release: int | None = None
    size: str = "standard-1x"
    memory_bytes: int | None = None
    memory_quota: int | None = None
    container: str | None = None
    pid: int | None = None
    restarts: int = 0

    @property
    def number(self) -> int:
        tail = self.name.rsplit(".", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    @property
    def quota_bytes(self) -> int:
        return self.memory_quota or SIZE_QUOTA_MB.get(self.size, 512) * MB

    @property
    def memory_percent(self) -> float | None:
        if self.memory_bytes is None:
            return None
        return 100.0 * self.memory_bytes / self.quota_bytes


@dataclass
class AppState:
    name: str
    maintenance: bool = False
    web_url: str = ""
    released: bool = False
    release: int | None = None
    release_desc: str = ""
    formation: dict[str, tuple[int, str]] = field(default_factory=dict)  # type → (quantity, size)
    dynos: dict[str, Dyno] = field(default_factory=dict)
    stats: RouterStats = field(default_factory=RouterStats)
    logs: deque[LogEntry] = field(default_factory=lambda: deque(maxlen=LOG_BUFFER))
    router: deque[LogEntry] = field(default_factory=lambda: deque(maxlen=ROUTER_BUFFER))
    dynos_endpoint: bool | None = None  # None = not asked yet; False = the daemon has none
    autoscale: str = ""  # "autoscaling 1..10 p95 500 ms" while enabled
    autoscale_last: str = ""  # its last decision: "web 1 → 2 (p95 812 ms > goal 500 ms)"

    def formation_text(self) -> str:
        return " ".join(f"{t}={q}" for t, (q, _s) in sorted(self.formation.items(), key=_type_order)) or "-"

    def state_counts(self) -> Counter[str]:
        return Counter(d.state for d in self.dynos.values())

    def sorted_dynos(self) -> list[Dyno]:
        return sorted(self.dynos.values(), key=lambda d: (d.type != "web", d.type, d.number, d.name))


def _type_order(item: tuple[str, Any]) -> tuple[bool, str]:
    return (item[0] != "web", item[0])


class Store:
    """Everything the screens show. `version` moves on every structural change (apps, dynos,
    formation, releases); log lines are sequenced by `seq` so views can pick up only what's new."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self.apps: dict[str, AppState] = {}
        self.seq = 0
        self.version = 0
        self.events = 0
        self.dropped = 0  # events the daemon dropped for us (overflow lines)
        self.connected = False
        self.status = "connecting"
        self.api_url = ""
        self.daemon: dict[str, Any] = {}
        self.changed: set[str] = (
            set()
        )  # kinds of change since the UI last looked: "apps", "release:<app>", ...

    # ---- helpers --------------------------------------------------------------------------
    def app(self, name: str) -> AppState:
        state = self.apps.get(name)
        if state is None:
            state = self.apps[name] = AppState(name)
            self._touch("apps")
        return state

    def app_names(self) -> list[str]:
        return sorted(self.apps)

    def _touch(self, what: str) -> None:
        self.version += 1
        self.changed.add(what)

    def take_changes(self) -> set[str]:
        changed, self.changed = self.changed, set()
        return changed

    # ---- snapshots from the API -----------------------------------------------------------
    def load_apps(self, apps: Iterable[dict[str, Any]]) -> None:
        seen = set()
        for data in apps:
            name = str(data.get("name"))
            seen.add(name)
            self._update_app(self.app(name), data)
        for gone in set(self.apps) - seen:
            del self.apps[gone]
        self._touch("apps")

    def _update_app(self, state: AppState, data: dict[str, Any]) -> None:
        if "maintenance" in data:
            state.maintenance = bool(data["maintenance"])
        if data.get("web_url"):
            state.web_url = str(data["web_url"])
        if "released_at" in data:
            state.released = data["released_at"] is not None

    def load_formation(self, app: str, rows: Iterable[dict[str, Any]]) -> None:
        state = self.app(app)
        state.formation = {
            str(r["type"]): (int(r.get("quantity") or 0), str(r.get("size") or "standard-1x")) for r in rows
        }
        self._touch(f"dynos:{app}")

    def load_autoscale(self, app: str, monitors: Iterable[dict[str, Any]]) -> None:
        """From `GET /apps/{app}/formation/web/monitors` (Heroku's monitor shape)."""
        for m in monitors:
            if m.get("action_type") == "scale":
                decisions = m.get("decisions") or [{}]
                last = decisions[-1]
                self.set_autoscale(
                    app,
                    {
                        "active": m.get("is_active"),
                        "min_quantity": m.get("min_quantity"),
                        "max_quantity": m.get("max_quantity"),
                        "p95_ms": m.get("value"),
                        "last": f"web {last['from']} → {last['to']} ({last['reason']})" if last else None,
                    },
                )

    def set_autoscale(self, app: str, data: dict[str, Any]) -> None:
        state = self.app(app)
        state.autoscale = (
            f"autoscaling {data.get('min_quantity')}..{data.get('max_quantity')} p95 {data.get('p95_ms')} ms"
            if data.get("active")
            else ""
        )
        state.autoscale_last = str(data.get("last") or "")
        self._touch(f"dynos:{app}")

    def load_releases(self, app: str, rows: list[dict[str, Any]]) -> None:
        state = self.app(app)
        current = [r for r in rows if r.get("current")] or [r for r in rows if r.get("status") == "succeeded"]
        if current:
            top = max(current, key=lambda r: int(r.get("version") or 0))
            state.release = int(top.get("version") or 0)
            state.release_desc = str(top.get("description") or "")
        self._touch(f"release:{app}")

    def load_dynos(self, app: str, rows: list[dict[str, Any]] | None) -> None:
        """rows from GET /apps/{app}/dynos, or None when the daemon has no such endpoint."""
        state = self.app(app)
        if rows is None:
            state.dynos_endpoint = False
            return
        state.dynos_endpoint = True
        fresh: dict[str, Dyno] = {}
        for r in rows:
            name = str(r.get("name"))
            dyno = state.dynos.get(name) or Dyno(name, str(r.get("type") or name.split(".")[0]), "")
            dyno.state = str(r.get("state") or dyno.state)
            dyno.since = _since(r, dyno.since)
            dyno.port = _int(r.get("port"), dyno.port)
            dyno.host = r.get("host") or dyno.host
            dyno.size = str(r.get("size") or dyno.size).lower()
            dyno.release = _release_version(r.get("release"), dyno.release)
            dyno.memory_bytes = _int(r.get("memory_bytes", r.get("memory")), dyno.memory_bytes)
            dyno.memory_quota = _int(r.get("memory_quota_bytes", r.get("memory_quota")), dyno.memory_quota)
            dyno.container = r.get("container") or dyno.container
            dyno.pid = _int(r.get("pid"), dyno.pid)
            dyno.restarts = _int(r.get("restarts"), dyno.restarts) or 0
            fresh[name] = dyno
        state.dynos = fresh
        self._touch(f"dynos:{app}")

    def seed_metrics(self, metrics: dict[str, Any]) -> None:
        for app, figures in metrics.items():
            if app in self.apps and isinstance(figures, dict):
                self.apps[app].stats.seed(figures)
        self._touch("stats")

    # ---- the event stream -----------------------------------------------------------------
    def apply(self, event: dict[str, Any]) -> None:
        self.events += 1
        kind = str(event.get("kind"))
        if kind == "log.line":
            self._log_line(event)
            return
        if kind == "overflow":
            self.dropped += int(event.get("dropped") or 0)
        elif kind == "hello":
            status = event.get("status")
            if isinstance(status, dict):
                self.daemon = status
        app = event.get("app")
        handler = self._APP_EVENTS.get(kind)
        if handler is not None and app:
            handler(self, str(app), event.get("data") or {}, event)

    def _on_dyno_state(self, app: str, data: dict[str, Any], event: dict[str, Any]) -> None:
        self._dyno_state(app, data, float(event.get("ts") or self.clock()))

    def _on_formation(self, app: str, data: dict[str, Any], _event: dict[str, Any]) -> None:
        state = self.app(app)
        qty = int(data.get("quantity") or 0)
        ptype = str(data.get("type"))
        state.formation[ptype] = (
            qty,
            str(data.get("size") or state.formation.get(ptype, (0, "standard-1x"))[1]),
        )
        self._prune_down(state, ptype, qty)
        self._touch(f"dynos:{app}")

    def _on_release_created(self, app: str, data: dict[str, Any], _event: dict[str, Any]) -> None:
        state = self.app(app)
        if data.get("status", "succeeded") == "succeeded":
            state.release = int(data.get("version") or 0)
            state.release_desc = str(data.get("description") or "")
            state.released = True
        self._touch(f"release:{app}")

    def _on_release_updated(self, app: str, data: dict[str, Any], _event: dict[str, Any]) -> None:
        state = self.app(app)
        if data.get("status") == "succeeded":
            state.release = max(state.release or 0, int(data.get("version") or 0))
            state.released = True
        self._touch(f"release:{app}")

    def _on_app_changed(self, app: str, data: dict[str, Any], _event: dict[str, Any]) -> None:
        self._update_app(self.app(app), data)
        self._touch("apps")

    def _on_app_destroyed(self, app: str, _data: dict[str, Any], _event: dict[str, Any]) -> None:
        self.apps.pop(app, None)
        self._touch("apps")

    def _on_config(self, app: str, _data: dict[str, Any], _event: dict[str, Any]) -> None:
        self._touch(f"config:{app}")

    def _on_addon(self, app: str, _data: dict[str, Any], _event: dict[str, Any]) -> None:
        self._touch(f"addons:{app}")

    def _on_autoscale(self, app: str, data: dict[str, Any], _event: dict[str, Any]) -> None:
        self.set_autoscale(app, data)

    # the app events the model follows, kind -> handler (one place to add one)
    _APP_EVENTS: ClassVar[dict[str, Callable[[Store, str, dict[str, Any], dict[str, Any]], None]]] = {
        "dyno.state": _on_dyno_state,
        "formation.changed": _on_formation,
        "autoscale.changed": _on_autoscale,
        "release.created": _on_release_created,
        "release.updated": _on_release_updated,
        "app.created": _on_app_changed,
        "app.updated": _on_app_changed,
        "app.destroyed": _on_app_destroyed,
        "config.changed": _on_config,
        "addon.updated": _on_addon,
    }

    def _log_line(self, event: dict[str, Any]) -> None:
        line = (event.get("data") or {}).get("line")
        if not isinstance(line, dict):
            return
        app = str(line.get("app") or event.get("app") or "")
        if not app:
            return
        state = self.apps.get(app)
        if state is None:
            state = self.app(app)
        self.seq += 1
        entry = make_entry(self.seq, line)
        state.logs.append(entry)
        if entry.router:
            state.router.append(entry)
            state.stats.record(self.clock(), entry.code, entry.level)

    def _dyno_state(self, app: str, data: dict[str, Any], ts: float) -> None:
        state = self.app(app)
        name = str(data.get("dyno") or "")
        if not name:
            return
        dyno = state.dynos.get(name)
        if dyno is None:
            dyno = state.dynos[name] = Dyno(name, str(data.get("type") or name.split(".")[0]), "")
        new_state = str(data.get("state") or "")
        if new_state != dyno.state:
            dyno.since = ts
        dyno.state = new_state
        dyno.port = _int(data.get("port"), dyno.port)
        dyno.host = data.get("host") or dyno.host
        dyno.release = _release_version(data.get("release"), dyno.release)
        if new_state == "down":
            qty = state.formation.get(dyno.type, (None, ""))[0]
            if qty is not None and dyno.number > qty:
                del state.dynos[name]
        self._touch(f"dynos:{app}")

    @staticmethod
    def _prune_down(state: AppState, ptype: str, qty: int) -> None:
        for name in [
            n for n, d in state.dynos.items() if d.type == ptype and d.number > qty and d.state == "down"
        ]:
            del state.dynos[name]


def _int(value: Any, default: int | None) -> int | None:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _release_version(value: Any, default: int | None) -> int | None:
    if isinstance(value, dict):
        value = value.get("version")
    return _int(value, default)


def _since(row: dict[str, Any], default: float) -> float:
    value = row.get("since", row.get("updated_at"))
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value:
        from datetime import datetime

        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return default
    return default
