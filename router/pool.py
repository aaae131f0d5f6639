"""What the router remembers about dynos between requests: quarantines and kept-alive connections.

`Quarantine`: a dyno that refused or did not accept in time gets no requests from this router
for `router_quarantine` seconds (Heroku: per router, up to 5 s).

`DynoPool` (Router 2.0, app feature http-routing-2-dot-0): idle connections to each dyno, reused
by later requests; at most `MAX_IDLE` per dyno, closed after `router_pool_idle_timeout` idle (one
sweep timer for all), and dropped at once when their dyno leaves the route table (a stopping
dyno gets nothing new).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from router.table import Backend, RouteTable

if TYPE_CHECKING:
    from router.upstream import DynoConnection

MAX_IDLE = 64  # idle kept-alive connections per dyno


class Quarantine:
    __slots__ = ("seconds", "until")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.until: dict[Backend, float] = {}

    def add(self, backend: Backend, now: float) -> None:
        self.until[backend] = now + self.seconds

    def holds(self, backend: Backend, now: float) -> bool:
        until = self.until
        if not until:
            return False
        end = until.get(backend)
        if end is None:
            return False
        if end <= now:
            del until[backend]
            return False
        return True

    def time_left(self, backends: list[Backend], now: float) -> float:
        """Seconds until the first of these dynos leaves quarantine (0 when none is in it)."""
        ends = [self.until[b] for b in backends if b in self.until]
        return max(0.0, min(ends) - now) if ends else 0.0

    def names(self, now: float) -> list[str]:
        return sorted(f"{b.dyno}@{b.port}" for b, end in self.until.items() if end > now)


class DynoPool:
    __slots__ = ("_idle", "_live", "_open", "_sweep_every", "_sweeper", "idle_timeout", "loop", "table")

    def __init__(self, table: RouteTable, idle_timeout: float) -> None:
        self.table = table
        self.idle_timeout = idle_timeout
        self.loop: asyncio.AbstractEventLoop | None = None
        self._idle: dict[Backend, list[DynoConnection]] = {}
        self._live: set[Backend] | None = None  # every routed dyno, rebuilt after table changes
        self._sweeper: asyncio.TimerHandle | None = None
        self._sweep_every = max(0.05, idle_timeout / 4)
        self._open = False

    def open(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._open = True

    def take(self, backend: Backend) -> DynoConnection | None:
        pool = self._idle.get(backend)
        while pool:
            conn = pool.pop()
            if conn.usable():
                return conn
        return None

    def put(self, conn: DynoConnection) -> bool:
        """Keep an idle connection for reuse; False when it should be closed instead."""
        loop = self.loop
        if loop is None or not self._open or not self._backend_live(conn.backend):
            return False
        pool = self._idle.setdefault(conn.backend, [])
        if len(pool) >= MAX_IDLE:
            return False
        conn.idle_since = loop.time()
        pool.append(conn)
        if self._sweeper is None:
            self._sweeper = loop.call_later(self._sweep_every, self._sweep)
        return True

    def discard(self, conn: DynoConnection) -> None:
        pool = self._idle.get(conn.backend)
        if pool and conn in pool:
            pool.remove(conn)

    def size(self) -> int:
        return sum(len(p) for p in self._idle.values())

    def route_changed(self, name: str) -> None:
        """A dyno may have left the route (stopping, crashed): close its idle connections."""
        self._live = None
        for backend in [b for b in self._idle if not self._backend_live(b)]:
            for conn in self._idle.pop(backend):
                conn.close()

    def close(self) -> None:
        """Abort every idle connection; nothing is kept from now on."""
        self._open = False
        for pool in self._idle.values():
            for conn in pool:
                conn.abort()
        self._idle.clear()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    def _sweep(self) -> None:
        """Close connections idle longer than the timeout (they may live up to a quarter of the
        timeout longer than asked: one timer for all pools, not one per connection)."""
        self._sweeper = None
        loop = self.loop
        if loop is None:
            return
        oldest_allowed = loop.time() - self.idle_timeout
        for backend, pool in list(self._idle.items()):
            stale = [c for c in pool if c.idle_since <= oldest_allowed]
            for conn in stale:
                pool.remove(conn)
                conn.close()
            if not pool:
                del self._idle[backend]
        if self._idle and self._open:
            self._sweeper = loop.call_later(self._sweep_every, self._sweep)

    def _backend_live(self, backend: Backend) -> bool:
        """Whether some app still routes to this dyno."""
        live = self._live
        if live is None:
            table = self.table
            live = self._live = {b for name in table.apps() for b in table.backends(name)}
        return backend in live
