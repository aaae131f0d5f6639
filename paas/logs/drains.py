"""Log drains: the drains each app has (state database) and the live senders behind them.

Lines reach a drain from the bus: one `log.line` listener per app that has drains (an app
without one costs its publishers nothing: the hub asks `bus.wants` first, which answers per
app), appending each line to every drain's bounded buffer, and one sender task per drain that
empties its buffer towards the receiver, backing off (doubling from `drain_retry_base` up
to 30 s) while the receiver is away. A stalled or dead receiver only ever fills its own
buffer: lines are dropped, counted, and reported with Heroku's L10 line.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from common.ca import LocalCA
from common.config import Settings
from common.errors import PaasError, invalid, not_found
from common.events import Event, EventBus
from common.loghub import LogHub, LogLine
from paas.control.store import Store
from paas.logs.buffer import DrainBuffer
from paas.logs.models import LogDrain
from paas.logs.target import DrainTarget, parse_target
from paas.logs.transports import DrainFailed, HttpTransport, SyslogTransport, Transport
from paas.state.models import App

MAX_DRAINS_PER_APP = 10
BACKOFF_MAX = 30.0
L10_COUNT = re.compile(r"Error L10 \(output buffer overflow\): (\d+) ")
REPORT_EVERY = 1.0  # at most one L10 line a second per drain
LINGER = 0.05  # seconds a sender waits after the first new line, for more to batch with it


@dataclass(frozen=True)
class DrainInfo:
    id: str
    app: str
    app_id: str
    url: str
    token: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class DrainStatus:
    """A live drain's figures (for `paas drains --json` and metrics)."""

    buffered: int
    sent: int
    dropped: int
    failures: int
    last_error: str | None


class LiveDrain:
    """One drain's buffer and the task that sends it."""

    def __init__(
        self, info: DrainInfo, transport: Transport, retry_base: float, say_l10: Callable[[str], None]
    ):
        self.info = info
        self.buffer = DrainBuffer()
        self.transport = transport
        self.retry_base = max(retry_base, 0.01)
        self.failures = 0
        self.last_error: str | None = None
        self._say_l10 = say_l10
        self._report: asyncio.TimerHandle | None = None
        self._task = asyncio.get_running_loop().create_task(self._send_loop(), name=f"drain {info.token}")

    def offer(self, line: LogLine) -> None:
        if self.buffer.offer(line, report=line.dyno != "logplex"):
            self._schedule_report()

    def _schedule_report(self) -> None:
        if self._report is None:
            self._report = asyncio.get_running_loop().call_later(REPORT_EVERY, self._emit_report)

    def _emit_report(self) -> None:
        self._report = None
        text = self.buffer.take_report()
        if text is not None:
            self._say_l10(text)

    async def _send_loop(self) -> None:
        delay = self.retry_base
        while True:
            if not self.transport.pending:
                await self.buffer.ready.wait()
                # let lines gather: a write (or a POST) per batch, not per line, keeps a busy
                # app's drain from costing a system call per request
                await asyncio.sleep(LINGER)
            dropped_before = self.buffer.dropped
            try:
                await self.transport.send(self.buffer)
            except Exception as exc:  # DrainFailed; anything else must not end the drain either
                self.failures += 1
                self.last_error = str(exc) if isinstance(exc, DrainFailed) else f"internal: {exc!r}"
                if self.buffer.dropped > dropped_before:
                    self._schedule_report()
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            delay = self.retry_base

    def status(self) -> DrainStatus:
        b = self.buffer
        return DrainStatus(len(b.lines), b.sent, b.dropped, self.failures, self.last_error)

    async def close(self) -> None:
        if self._report is not None:
            self._report.cancel()
            self._emit_report()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.transport.close()


class AppPump:
    """An app's `log.line` listener: each line is appended to every drain's buffer, in the
    publisher's own call (a deque append; no queue, no task switch per line)."""

    def __init__(self, bus: EventBus, app: str):
        self.drains: dict[str, LiveDrain] = {}
        self._unlisten = bus.listen(["log.line"], self._on_line, app=app)

    def _on_line(self, event: Event) -> None:
        line: LogLine = event.data["line"]  # the hub's `log.line` always carries one
        for drain in self.drains.values():
            drain.offer(line)

    async def close(self) -> None:
        self._unlisten()
        for drain in list(self.drains.values()):
            await drain.close()
        self.drains.clear()


def _info(row: LogDrain, app: App) -> DrainInfo:
    return DrainInfo(row.id, app.name, app.id, row.url, row.token, row.created_at, row.updated_at)


class DrainService:
    def __init__(self, store: Store, bus: EventBus, logs: LogHub, ca: LocalCA, settings: Settings) -> None:
        self.store = store
        self.bus = bus
        self.logs = logs
        self.ca = ca
        self.settings = settings
        self._pumps: dict[str, AppPump] = {}  # by app name
        self._unlisten: Callable[[], None] | None = None
        self._tls: ssl.SSLContext | None = None

    # ---- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Start a sender for every drain kept in the state database."""
        self._unlisten = self.bus.listen(["app.destroyed", "app.created"], self._on_app)
        with self.store.session() as s:
            rows = s.execute(select(LogDrain, App).join(App, App.id == LogDrain.app_id)).all()
            infos = [_info(row, app) for row, app in rows]
        for info in infos:
            self._run(info)

    async def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        pumps, self._pumps = list(self._pumps.values()), {}
        for pump in pumps:
            await pump.close()

    def _on_app(self, event: Event) -> None:
        """A destroyed app's drains stop; a renamed app (destroyed under its old name, created
        under the new one) keeps its drains, now fed by the new name's lines."""
        name = event.app or ""
        if event.kind == "app.destroyed":
            pump = self._pumps.pop(name, None)
            if pump is not None:
                asyncio.get_running_loop().create_task(pump.close())
            return
        with contextlib.suppress(PaasError):
            for info in self.of_app(name):
                self._run(info)

    # ---- the drains of an app ------------------------------------------------------------
    def of_app(self, app: str) -> list[DrainInfo]:
        with self.store.session() as s:
            row = self.store.app(s, app)
            drains = s.scalars(
                select(LogDrain).where(LogDrain.app_id == row.id).order_by(LogDrain.created_at)
            )
            return [_info(d, row) for d in drains]

    def get(self, app: str, ident: str) -> DrainInfo:
        for info in self.of_app(app):
            if ident in (info.id, info.url, info.token):
                return info
        raise not_found("log drain")

    def add(self, app: str, url: str) -> DrainInfo:
        target = parse_target(url.strip())
        with self.store.session() as s:
            row = self.store.app(s, app)
            existing = list(s.scalars(select(LogDrain).where(LogDrain.app_id == row.id)))
            if any(d.url == target.url for d in existing):
                raise invalid("Url has already been taken")
            if len(existing) >= MAX_DRAINS_PER_APP:
                raise PaasError(
                    422, "invalid_params", f"An app can have at most {MAX_DRAINS_PER_APP} log drains."
                )
            drain = LogDrain(app_id=row.id, url=target.url, token=f"d.{uuid.uuid4()}")
            s.add(drain)
            s.flush()
            info = _info(drain, row)
        self._run(info)
        return info

    async def remove(self, app: str, ident: str) -> DrainInfo:
        """Remove by id, URL or token (Heroku's drain identity); its sender stops."""
        info = self.get(app, ident.strip())
        with self.store.session() as s:
            row = s.get(LogDrain, info.id)
            if row is not None:
                s.delete(row)
        pump = self._pumps.get(info.app)
        if pump is not None:
            drain = pump.drains.pop(info.id, None)
            if not pump.drains:
                self._pumps.pop(info.app, None)
                await pump.close()
            if drain is not None:
                await drain.close()
        return info

    def status(self, drain_id: str) -> DrainStatus | None:
        for pump in self._pumps.values():
            drain = pump.drains.get(drain_id)
            if drain is not None:
                return drain.status()
        return None

    def statuses(self) -> dict[str, tuple[str, DrainStatus]]:
        """Every live drain's figures by token, with its app (for metrics)."""
        return {
            d.info.token: (app, d.status()) for app, pump in self._pumps.items() for d in pump.drains.values()
        }

    # ---- senders -------------------------------------------------------------------------
    def _client_tls(self) -> ssl.SSLContext:
        """The public roots plus the local CA (a receiver in a test or on this machine)."""
        if self._tls is None:
            ctx = self.ca.client_context()
            ctx.load_default_certs()
            self._tls = ctx
        return self._tls

    def _transport(self, target: DrainTarget, token: str) -> Transport:
        tls = self._client_tls() if target.tls else None
        if target.is_syslog:
            return SyslogTransport(target, token, tls)
        return HttpTransport(target, token, tls)

    def _run(self, info: DrainInfo) -> None:
        target = parse_target(info.url)
        pump = self._pumps.get(info.app)
        if pump is None:
            pump = self._pumps[info.app] = AppPump(self.bus, info.app)

        def say_l10(text: str) -> None:
            self.logs.heroku_line(info.app, "logplex", text)
            dropped = L10_COUNT.match(text)
            if dropped is not None:  # for the metrics (`paas_log_drain_dropped_lines_total`)
                self.bus.emit("log.dropped", info.app, sink="drain", drain=info.id, count=int(dropped[1]))

        drain = LiveDrain(info, self._transport(target, info.token), self.settings.drain_retry_base, say_l10)
        pump.drains[info.id] = drain
