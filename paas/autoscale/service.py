"""Autoscaling: the router's `router.request` events feed per-app samples; every interval each
active monitor is judged (`paas.autoscale.policy`) and a step goes through the control plane's
formation change (`ControlPlane.scale`: one transaction, its `Scaled to` line, the
`formation.changed` event the dyno manager and router follow), plus one `app[api]` line saying
why. The formation is read and written with no await in between, so a `ps:scale` from the API
(same loop) cannot slip between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from common.config import Settings
from common.errors import PaasError, invalid
from common.events import Event, EventBus
from common.loghub import LogHub
from paas.autoscale.models import AutoscaleMonitor
from paas.autoscale.policy import Goal, Step, decide, p95
from paas.control import ControlPlane
from paas.control.plane import MAX_QUANTITY
from paas.control.values import FormationChange

USER = "autoscaling"  # who the formation change's `Scaled to ... by user` line names
MAX_SAMPLES = 20_000  # per app: the window's service times (overflow counted in `dropped`)
MAX_DECISIONS = 20  # per app, newest last


@dataclass(frozen=True)
class Decision:
    at: float  # epoch seconds
    from_quantity: int
    to_quantity: int
    reason: str


@dataclass(frozen=True)
class MonitorInfo:
    id: str
    app: str
    min_quantity: int
    max_quantity: int
    p95_ms: int
    is_active: bool
    notifications: bool
    current_p95_ms: int | None  # over the samples the next decision would use
    samples: int
    decisions: tuple[Decision, ...]


@dataclass
class _AppState:
    samples: deque[tuple[float, int]]
    last_step: float
    dropped: int = 0


class AutoscaleService:
    def __init__(
        self,
        settings: Settings,
        control: ControlPlane,
        bus: EventBus,
        logs: LogHub,
        report: Callable[[BaseException], None],
    ):
        self.window = settings.autoscale_window
        self.interval = settings.autoscale_interval
        self.cooldown = settings.autoscale_cooldown
        self.control = control
        self.store = control.store
        self.bus = bus
        self.logs = logs
        self.report = report
        self._apps: dict[str, _AppState] = {}  # apps with an active monitor
        self._decisions: dict[str, deque[Decision]] = {}  # kept after a disable, for ps:autoscale
        self._unlisten: Callable[[], None] | None = None
        self._task: asyncio.Task[None] | None = None

    # ---- daemon lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        for monitor in self._monitors():
            if monitor.is_active:
                self._track(monitor.app)
        self._unlisten = self.bus.listen(["router.request", "app.destroyed"], self._on_event)
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def _track(self, app: str) -> _AppState:
        state = self._apps.get(app)
        if state is None:
            state = self._apps[app] = _AppState(deque(maxlen=MAX_SAMPLES), time.time())
        return state

    def _on_event(self, event: Event) -> None:
        if event.kind == "app.destroyed":
            self._apps.pop(event.app or "", None)
            self._decisions.pop(event.app or "", None)
            return
        state = self._apps.get(event.app or "")
        service_ms = event.data.get("service_ms")
        if state is None or not isinstance(service_ms, int):
            return
        if len(state.samples) == MAX_SAMPLES:
            state.dropped += 1
        state.samples.append((float(event.data.get("ts") or time.time()), service_ms))

    # ---- settings ---------------------------------------------------------------------------
    def _monitors(self, app: str | None = None) -> list[MonitorInfo]:
        with self.store.session() as s:
            query = select(AutoscaleMonitor)
            names: dict[str, str] = {}
            if app is not None:
                row = self.store.app(s, app)
                names[row.id] = row.name
                query = query.where(AutoscaleMonitor.app_id == row.id)
            else:
                names = {a.id: a.name for a in self.control.list_apps()}
            monitors = list(s.scalars(query))
        return [self._info(m, names.get(m.app_id, m.app_id)) for m in monitors]

    def _info(self, m: AutoscaleMonitor, app: str) -> MonitorInfo:
        state = self._apps.get(app)
        values = self._window(state, time.time()) if state is not None and m.is_active else []
        return MonitorInfo(
            id=m.id,
            app=app,
            min_quantity=m.min_quantity,
            max_quantity=m.max_quantity,
            p95_ms=m.p95_ms,
            is_active=m.is_active,
            notifications=m.notifications,
            current_p95_ms=p95(values) if values else None,
            samples=len(values),
            decisions=tuple(self._decisions.get(app, ())),
        )

    def monitors(self, app: str, process_type: str) -> list[MonitorInfo]:
        _web_only(process_type)
        return self._monitors(app)

    def monitor(self, app: str, process_type: str, monitor_id: str) -> MonitorInfo:
        for m in self.monitors(app, process_type):
            if m.id == monitor_id:
                return m
        raise PaasError(404, "not_found", "Couldn't find that monitor.")

    def enable(
        self,
        app: str,
        process_type: str,
        min_q: int | None,
        max_q: int | None,
        p95_ms: int | None,
        notify: bool,
    ) -> MonitorInfo:
        """Create or update the app's monitor (values not given keep the current ones; Heroku's
        default goal is 1000 ms) and make it active."""
        _web_only(process_type)
        if "web" not in {f.type for f in self.control.list_formation(app)}:
            raise invalid(f"{app} does not have any web dynos to scale")
        with self.store.session() as s:
            row = self.store.app(s, app)
            name = row.name
            monitor = s.scalar(select(AutoscaleMonitor).where(AutoscaleMonitor.app_id == row.id))
            if monitor is None:
                monitor = AutoscaleMonitor(app_id=row.id, process_type="web")
                s.add(monitor)
            goal = _goal(
                min_q if min_q is not None else monitor.min_quantity,
                max_q if max_q is not None else monitor.max_quantity,
                p95_ms if p95_ms is not None else monitor.p95_ms or 1000,
            )
            monitor.min_quantity, monitor.max_quantity, monitor.p95_ms = (
                goal.min_quantity,
                goal.max_quantity,
                goal.p95_ms,
            )
            monitor.is_active, monitor.notifications = True, notify
        self._track(name)
        self._judge(name, goal)  # "the current dyno count immediately adjusts to the range"
        self._announce(name)
        return self._monitors(name)[0]

    def disable(self, app: str, process_type: str) -> MonitorInfo:
        _web_only(process_type)
        with self.store.session() as s:
            row = self.store.app(s, app)
            monitor = s.scalar(select(AutoscaleMonitor).where(AutoscaleMonitor.app_id == row.id))
            if monitor is None or not monitor.is_active:
                raise PaasError(404, "not_found", f"{row.name} does not have autoscale enabled")
            monitor.is_active = False
            name = row.name
        self._apps.pop(name, None)  # its decisions stay visible in `ps:autoscale`
        self._announce(name)
        return self._monitors(name)[0]

    # ---- decisions --------------------------------------------------------------------------
    def _window(self, state: _AppState, now: float) -> list[int]:
        start = max(now - self.window, state.last_step)
        while state.samples and state.samples[0][0] < now - self.window:
            state.samples.popleft()
        return [ms for ts, ms in state.samples if ts >= start]

    def _judge(self, app: str, goal: Goal) -> None:
        """One decision for one app; reads and writes the formation with no await between."""
        state = self._apps.get(app)
        if state is None:
            return
        web = [f for f in self.control.list_formation(app) if f.type == "web"]
        if not web:
            return
        now = time.time()
        step = decide(goal, web[0].quantity, self._window(state, now), now - state.last_step, self.cooldown)
        if step is not None:
            self._apply(app, web[0].quantity, step, state, now)

    def _apply(self, app: str, quantity: int, step: Step, state: _AppState, now: float) -> None:
        self.control.scale(app, [FormationChange("web", quantity=step.quantity)], user=USER)
        self.logs.api_line(app, f"Scale to web={step.quantity} by autoscaling ({step.reason})")
        state.last_step = now
        decisions = self._decisions.setdefault(app, deque(maxlen=MAX_DECISIONS))
        decisions.append(Decision(now, quantity, step.quantity, step.reason))
        self._announce(app)

    def _announce(self, app: str) -> None:
        """`autoscale.changed` on the bus: what the TUI's formation line shows."""
        monitor = self._monitors(app)[0]
        last = monitor.decisions[-1] if monitor.decisions else None
        self.bus.emit(
            "autoscale.changed",
            app,
            active=monitor.is_active,
            min_quantity=monitor.min_quantity,
            max_quantity=monitor.max_quantity,
            p95_ms=monitor.p95_ms,
            last=f"web {last.from_quantity} → {last.to_quantity} ({last.reason})" if last else None,
        )

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self._round()
            except Exception as exc:
                self.report(exc)

    def _round(self) -> None:
        for monitor in self._monitors():
            if not monitor.is_active:
                continue
            self._track(monitor.app)  # tracked from now on: a renamed app, a restart
            try:
                self._judge(monitor.app, Goal(monitor.min_quantity, monitor.max_quantity, monitor.p95_ms))
            except PaasError:
                continue  # the app went, or has no web process any more


def _web_only(process_type: str) -> None:
    if process_type != "web":
        raise invalid("Autoscaling is only available for web dynos.")


def _goal(min_q: int | None, max_q: int | None, p95_ms: int) -> Goal:
    if min_q is None or max_q is None:
        raise invalid("Provide --min and --max (the range of web dynos autoscaling may use).")
    if min_q < 1:
        raise invalid("The minimum number of dynos can't be less than 1.")
    if max_q < min_q:
        raise invalid("The maximum number of dynos must be at least the minimum.")
    if max_q > MAX_QUANTITY:
        raise invalid(f"The maximum number of dynos can't be more than {MAX_QUANTITY}.")
    if not 1 <= p95_ms <= 30_000:
        raise invalid("The desired p95 response time must be between 1 and 30000 ms.")
    return Goal(min_q, max_q, p95_ms)
