"""Picking a dyno and connecting to it (vegur's lookup_service middleware and its checkout).

`pooled()` is Router 2.0's fast path: a random `up` dyno that has an idle kept-alive connection.
`connect()` does the rest, as Heroku's router does: a random `up` dyno; one that refuses (H21) or
does not accept within the connect timeout (H19) is quarantined on this router and another is
tried, at most 10 attempts (fewer if fewer dynos), the last failure being the verdict. While no
dyno is `up` but some are booting, the request is held (woken by RouteTable.update) up to
`router_hold_timeout` → H20; none booting and some crashed → H10; web scaled to zero → H14. When
every `up` dyno is quarantined it keeps looking with a growing back-off, up to the same budget
→ H99.

`connect()` runs as the exchange's task and reports only through what it returns; the exchange
cancels the task when its client leaves.
"""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING

from router.table import AppRoute, Backend

if TYPE_CHECKING:
    from router.server import Router
    from router.upstream import DynoConnection

MAX_ATTEMPTS = 10
_BACKOFF_START = 0.05
_BACKOFF_MAX = 1.0

# (connection, None, dyno, connect ms) on success; (None, H-code, last dyno tried, its connect ms)
Picked = tuple["DynoConnection | None", "str | None", "str | None", "float | None"]


def pooled(router: Router, route: AppRoute) -> DynoConnection | None:
    backends = route.backends
    if not backends:
        return None
    backend = backends[0] if len(backends) == 1 else random.choice(backends)
    if router.quarantine.holds(backend, router.loop.time()):
        return None
    return router.pool.take(backend)


class _ConnectTimer:
    """Cancels the picking task when a connect takes longer than the connect timeout (cheaper
    than asyncio.timeout, which looks up the current task and loop on every use)."""

    __slots__ = ("fired", "task")

    def __init__(self, task: asyncio.Task[None]) -> None:
        self.task = task
        self.fired = False

    def fire(self) -> None:
        if not self.task.done():
            self.fired = True
            self.task.cancel()


async def connect(router: Router, route: AppRoute, received: float, task: asyncio.Task[None]) -> Picked:
    """A connected dyno, or the H-code explaining why there is none."""
    loop = router.loop
    table = router.table
    name = route.name
    deadline = received + router.hold_timeout
    tried: set[Backend] = set()
    attempts = 0
    backoff = _BACKOFF_START
    last: Picked = (None, None, None, None)
    while True:
        current = table.get(name)
        if current is None:
            return None, "H99", None, None  # the app went away while the request was held
        now = loop.time()
        remaining = deadline - now
        backends = current.backends
        if not backends:
            code = _without_dynos(current, remaining)
            if code is not None:
                return None, code, None, None
            await _hold(router, name, remaining)
            continue
        candidates = [b for b in backends if b not in tried and not router.quarantine.holds(b, now)]
        if not candidates:
            if _exhausted(last, backends, attempts, tried):
                return last
            if remaining <= 0:
                return None, "H99", None, None  # every up dyno is quarantined
            wait = min(backoff, remaining, max(0.001, router.quarantine.time_left(backends, now)))
            backoff = min(backoff * 2, _BACKOFF_MAX)
            await _hold(router, name, wait)
            continue
        backend = candidates[0] if len(candidates) == 1 else random.choice(candidates)
        picked = await _attempt(router, current, backend, task)
        if picked[0] is not None:
            return picked
        last = picked
        router.quarantine.add(backend, loop.time())
        tried.add(backend)
        attempts += 1
        if attempts >= min(MAX_ATTEMPTS, len(backends)) and not _dyno_left(
            table.get(name), backend, attempts, tried
        ):
            return last


def _exhausted(last: Picked, backends: list[Backend], attempts: int, tried: set[Backend]) -> bool:
    """An attempt failed, and every attempt this request may make is used up."""
    return last[1] is not None and (
        attempts >= min(MAX_ATTEMPTS, len(backends)) or all(b in tried for b in backends)
    )


def _without_dynos(route: AppRoute, remaining: float) -> str | None:
    """The verdict when no dyno is up, or None to hold the request a while longer."""
    if route.web_quantity <= 0:
        return "H14"
    if route.booting <= 0 and route.crashed > 0:
        return "H10"
    if remaining <= 0:
        return "H20"
    return None


def _dyno_left(latest: AppRoute | None, backend: Backend, attempts: int, tried: set[Backend]) -> bool:
    """The dyno left routing while we connected (a restart or scale-down): like Heroku, retry
    elsewhere or hold for the booting ones rather than blame a dyno that is gone."""
    return (
        latest is not None
        and attempts < MAX_ATTEMPTS
        and backend not in latest.backends
        and (latest.booting > 0 or any(b not in tried for b in latest.backends))
    )


async def _attempt(router: Router, route: AppRoute, backend: Backend, task: asyncio.Task[None]) -> Picked:
    """One dyno: an idle kept-alive connection (Router 2.0), or a connect that gives the
    connection, H19 (no accept in time) or H21 (refused)."""
    if route.keepalive:
        idle = router.pool.take(backend)
        if idle is not None:
            return idle, None, backend.dyno, 0.0
    loop = router.loop
    started = loop.time()
    timer = _ConnectTimer(task)
    handle = loop.call_later(router.connect_timeout, timer.fire)
    try:
        conn = await router.open_connection(route.name, backend)
    except asyncio.CancelledError:
        if not timer.fired or task.uncancel() > 0:
            raise  # the client left (or the router stops), not the connect timer
        code = "H19"
    except OSError:
        code = "H21"
    else:
        handle.cancel()
        return conn, None, backend.dyno, (loop.time() - started) * 1000
    handle.cancel()
    return None, code, backend.dyno, (loop.time() - started) * 1000


async def _hold(router: Router, name: str, timeout: float) -> None:
    """Wait for the app's route to change (a dyno came up) or `timeout`; cancellable."""
    table = router.table
    fut = table.changed(name)
    try:
        async with asyncio.timeout(timeout):
            await fut
    except TimeoutError:
        pass
    finally:
        table.discard_waiter(name, fut)
