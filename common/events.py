"""The in-process event bus: every state change is published once, every part subscribes.

Push, not poll: the router table, the log stream, the API's event stream and the TUI all
learn about changes from here. Subscribers get a bounded queue; when a slow subscriber's
queue is full the newest event is dropped and counted (`Subscription.dropped`), the
publisher never blocks.

Event kinds used across the code base (data keys in brackets):
  app.created / app.updated / app.destroyed      [app]
  config.changed                                  [keys, version]
  release.created                                 [version, description, status]
  release.updated                                 [version, status]
  formation.changed                               [type, quantity, size]
  dyno.state                                      [dyno, type, state, previous, port, host, release]
  router.request                                  [dyno, code, status, connect_ms, service_ms, bytes, method, path, at]
  log.line                                        [line] (a common.loghub.LogLine)
  build.updated                                   [id, status]
  addon.updated                                   [name, service, plan, state]
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Listener = Callable[["Event"], None]


@dataclass(slots=True)  # not frozen: a frozen __init__ costs 2x, and this runs per request
class Event:
    kind: str
    app: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    ts: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.data.items() if not hasattr(v, "to_json")}
        for k, v in self.data.items():
            if hasattr(v, "to_json"):
                data[k] = v.to_json()
        return {"kind": self.kind, "app": self.app, "ts": self.ts, "data": data}


class Subscription:
    """A bounded async iterator over matching events."""

    def __init__(self, bus: EventBus, kinds: frozenset[str] | None, app: str | None, maxsize: int):
        self._bus = bus
        self.kinds = kinds
        self.app = app
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize)
        self.dropped = 0
        self.closed = False

    def matches(self, event: Event) -> bool:
        return self.matches_kind(event.kind, event.app)

    def matches_kind(self, kind: str, app: str | None) -> bool:
        if self.app is not None and app != self.app:
            return False
        kinds = self.kinds
        if kinds is None or kind in kinds:
            return True
        return kind.split(".", 1)[0] + ".*" in kinds

    def offer(self, event: Event) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._bus.unsubscribe(self)
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(None)

    async def get(self, timeout: float | None = None) -> Event | None:
        """Next event, or None on timeout or close."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        event = await self.queue.get()
        if event is None:
            raise StopAsyncIteration
        return event

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._listeners: list[tuple[frozenset[str] | None, Listener]] = []
        # immutable copies, rebuilt on (un)subscribe: publishing (once per routed request)
        # iterates them without copying, and a callback may (un)subscribe safely meanwhile
        self._subs_now: tuple[Subscription, ...] = ()
        self._listeners_now: tuple[tuple[frozenset[str] | None, Listener], ...] = ()
        self._wanted: dict[tuple[str, str | None], bool] = {}  # wants() answers, until a change
        self._loop: asyncio.AbstractEventLoop | None = None
        self.published = 0

    def _changed(self) -> None:
        self._subs_now = tuple(self._subs)
        self._listeners_now = tuple(self._listeners)
        self._wanted.clear()

    def wants(self, kind: str, app: str | None = None) -> bool:
        """Whether publishing this kind would reach anyone (lets hot paths skip building events)."""
        key = (kind, app)
        wanted = self._wanted.get(key)
        if wanted is None:
            wanted = any(kinds is None or kind in kinds for kinds, _ in self._listeners_now) or any(
                sub.matches_kind(kind, app) for sub in self._subs_now
            )
            if len(self._wanted) > 4096:  # bounded: apps come and go
                self._wanted.clear()
            self._wanted[key] = wanted
        return wanted

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def publish(self, event: Event) -> None:
        """Deliver to listeners (synchronously) and subscriptions (queued). Loop thread only."""
        self.published += 1
        for kinds, listener in self._listeners_now:
            if kinds is None or event.kind in kinds:
                listener(event)
        for sub in self._subs_now:
            if sub.matches(event):
                sub.offer(event)

    def publish_threadsafe(self, event: Event) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self.publish, event)

    def emit(self, kind: str, app: str | None = None, **data: Any) -> Event:
        event = Event(kind, app, data)
        self.publish(event)
        return event

    def subscribe(
        self, kinds: Iterable[str] | None = None, app: str | None = None, maxsize: int = 10_000
    ) -> Subscription:
        """kinds may contain exact kinds or `prefix.*`; None means everything."""
        sub = Subscription(self, frozenset(kinds) if kinds is not None else None, app, maxsize)
        self._subs.append(sub)
        self._changed()
        return sub

    def listen(self, kinds: Iterable[str] | None, listener: Listener) -> Callable[[], None]:
        """Call `listener(event)` synchronously for each matching event; returns an unlisten function."""
        entry = (frozenset(kinds) if kinds is not None else None, listener)
        self._listeners.append(entry)
        self._changed()

        def unlisten() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(entry)
            self._changed()

        return unlisten

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop offering events to `sub` (its `close()` calls this)."""
        with contextlib.suppress(ValueError):
            self._subs.remove(sub)
        self._changed()

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)
