"""The metrics service: the bus's events into each app's timeline and the Prometheus registry.

Push, not poll: routed requests (`router.request`), dyno states, releases, scaling, config
changes and dropped log lines arrive as bus events, handled synchronously in O(1). Memory and
load are sampled from the dyno manager's in-memory view (its supervisors measure memory for
R14) every `resolution / 6` seconds, never more often than once a second.
Everything is kept in memory, bounded (see `timeline`, `registry`); nothing survives a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from common.config import Settings
from common.events import Event, EventBus
from dynos.manager import DynoManager
from dynos.sizes import MB, SIZES, get_size
from dynos.types import DynoInfo
from paas.control.events import (
    AppCreated,
    AppDestroyed,
    ConfigChanged,
    FormationChanged,
    ReleaseCreated,
    payload,
)
from paas.metrics.load import LoadMeter, tree_cpu_seconds
from paas.metrics.registry import Registry
from paas.metrics.timeline import WINDOW, AppTimeline, Mark, Series

REQUEST = "router.request"
DYNO_STATE = "dyno.state"
LOG_DROPPED = "log.dropped"  # [sink: "tail" | "drain", drain: the drain's id, count: lines dropped]
CONTROL = ("app.created", "app.destroyed", "release.created", "formation.changed", "config.changed")


class MetricsService:
    def __init__(
        self,
        settings: Settings,
        bus: EventBus,
        dynos: DynoManager,
        app_names: Callable[[], list[str]],
    ) -> None:
        self.resolution = settings.metrics_resolution
        self.bus = bus
        self.dynos = dynos
        self.registry = Registry()
        self.sample_every = max(1.0, self.resolution / 6)
        self._app_names = app_names
        self._timelines: dict[str, AppTimeline] = {}
        self._load = LoadMeter()
        self._unlisten: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None
        self.sample_failures = 0  # shown as paas_metrics_sample_failures_total

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        for app in self._app_names():
            self._timeline(app)
        bus = self.bus
        self._unlisten = [
            bus.listen([REQUEST], self._on_request),
            bus.listen([DYNO_STATE], self._on_dyno_state),
            bus.listen(CONTROL, self._on_control),
            bus.listen([LOG_DROPPED], self._on_dropped),
        ]
        self._task = asyncio.get_running_loop().create_task(self._sample_forever())

    async def stop(self) -> None:
        for unlisten in self._unlisten:
            unlisten()
        self._unlisten.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # ---- reading --------------------------------------------------------------------------
    def knows(self, app: str) -> bool:
        return app in self._timelines

    def series(self, app: str, window: int = WINDOW, now: float | None = None) -> Series:
        timeline = self._timeline(app)
        return timeline.series(time.time() if now is None else now, window)

    def timelines(self) -> dict[str, AppTimeline]:
        return dict(self._timelines)

    # ---- the bus --------------------------------------------------------------------------
    def _timeline(self, app: str) -> AppTimeline:
        found = self._timelines.get(app)
        if found is None:
            found = self._timelines[app] = AppTimeline(app, self.resolution)
        return found

    def _on_request(self, event: Event) -> None:
        app = event.app
        timeline = self._timelines.get(app) if app is not None else None
        if timeline is None or app is None:
            return  # not an app the platform knows: nothing to keep
        data = event.data
        status, code, total_ms = data["status"], data["code"], data["total_ms"]
        timeline.request(data["ts"], status, code, total_ms)
        self.registry.request(app, status, code, total_ms)

    def _on_dyno_state(self, event: Event) -> None:
        timeline = self._timelines.get(event.app or "")
        if timeline is None:
            return
        data = event.data
        dyno, state, previous = data.get("dyno", "?"), data.get("state"), data.get("previous")
        if state == "crashed":
            timeline.mark(Mark(event.ts, "crash", f"{dyno} crashed"))
        elif state == "starting" and previous in ("up", "crashed"):
            timeline.mark(Mark(event.ts, "restart", f"{dyno} restarted"))

    def _on_control(self, event: Event) -> None:
        typed = payload(event)
        if isinstance(typed, AppCreated):
            self._timeline(typed.app)
            return
        if isinstance(typed, AppDestroyed):
            self._timelines.pop(typed.app, None)
            self.registry.forget(typed.app)
            return
        timeline = self._timelines.get(typed.app) if typed is not None else None
        if timeline is None:
            return
        mark = _mark_for(typed, event.ts)
        if mark is not None:
            timeline.mark(mark)

    def _on_dropped(self, event: Event) -> None:
        data = event.data
        count = data.get("count")
        if event.app is not None and isinstance(count, int):
            self.registry.dropped(event.app, str(data.get("sink", "")), data.get("drain"), count)

    # ---- sampling -------------------------------------------------------------------------
    async def _sample_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sample_every)
            try:
                await self.sample()
            except Exception:  # a failed sample must not end sampling; counted, the next one retries
                self.sample_failures += 1

    async def sample(self) -> None:
        """Memory (against quota) and load of every running dyno, into its app's current step."""
        infos = [d for d in self.dynos.dynos() if d.state in ("up", "starting") and d.app in self._timelines]
        pids = {(d.app, d.name): d.pid for d in infos if d.pid is not None}
        cpu = await asyncio.to_thread(_cpu_of, pids)
        now = time.time()
        for info in infos:
            key = (info.app, info.name)
            pid, used = pids.get(key), cpu.get(key)
            load = self._load.read(key, pid, used, now) if pid is not None and used is not None else None
            timeline = self._timelines[info.app]
            timeline.quota_mb[info.name] = quota_mb(info)
            timeline.sample(now, info.name, info.memory_bytes / MB, load)
        self._load.keep_only(set(pids))


def _cpu_of(pids: dict[tuple[str, str], int]) -> dict[tuple[str, str], float | None]:
    return {key: tree_cpu_seconds(pid) for key, pid in pids.items()}


def quota_mb(info: DynoInfo) -> float:
    size = SIZES.get(info.size.lower()) or get_size("standard-1x")
    return float(size.memory_mb)


def _mark_for(typed: object, ts: float) -> Mark | None:
    if isinstance(typed, ReleaseCreated) and typed.status == "succeeded":
        return Mark(ts, "deploy", f"v{typed.version} {typed.description}", typed.version)
    if isinstance(typed, FormationChanged):
        return Mark(ts, "scale", f"Scaled to {typed.type}={typed.quantity}:{typed.size}")
    if isinstance(typed, ConfigChanged):
        keys = ", ".join(typed.keys[:5]) + (" ..." if len(typed.keys) > 5 else "")
        return Mark(ts, "config", f"v{typed.version} Config vars changed: {keys}", typed.version)
    return None
