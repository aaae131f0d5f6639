"""The routing decisions, one small stage each (after vegur's middlewares).

    validate      limits, Host, Expect, CONNECT                   → 400/417 H26
    lookup        Host → app (RouteTable.resolve)                → 404 "no such app"
    check_app     maintenance, blank app, web scaled to zero      → H80, H81, H14
    admit         this router's per-app backlog                   → H11
    pick          random `up` dyno, quarantine, retries, hold     → H10, H19, H20, H21, H99

The exchange (router.exchange) calls them in that order and does the proxying after. Picking:
a dyno that refuses or does not accept within the connect timeout is quarantined on this
router for `router_quarantine` seconds and another one is tried, at most 10 attempts (fewer
if fewer dynos); when every attempt fails the last failure is the verdict (H19 or H21). While
no dyno is `up` but some are booting, the request is held (woken by RouteTable.update) up to
`router_hold_timeout` → H20. When every `up` dyno is quarantined the router keeps looking,
with a growing back-off, up to the same budget → H99.
"""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING

from router import codes
from router.codes import CATALOG, H26_EXPECT, HCode
from router.table import AppRoute, Backend

if TYPE_CHECKING:
    from router.exchange import Exchange
    from router.upstream import DynoConnection

MAX_ATTEMPTS = 10
_BACKOFF_START = 0.05
_BACKOFF_MAX = 1.0

NO_HOST: tuple[HCode, str] = (CATALOG["H26"], "no host")


def validate(ex: Exchange) -> tuple[HCode, str] | None:
    """Header validation (vegur_validate_headers + the continue middleware's check)."""
    if not ex.host or not ex.host.strip():
        return NO_HOST
    if ex.violation is not None:
        return CATALOG["H26"], ex.violation
    if ex.method == b"CONNECT":
        return CATALOG["H26"], codes.CAUSE_BAD_REQUEST_LINE
    if ex.content_length is not None and not ex.content_length.isdigit():
        return CATALOG["H26"], codes.CAUSE_BAD_HEADER
    if ex.expect is not None and ex.expect != b"100-continue":
        return H26_EXPECT, codes.CAUSE_EXPECT
    return None


def check_app(route: AppRoute) -> str | None:
    if route.maintenance:
        return "H80"
    if not route.released:
        return "H81"
    if route.web_quantity <= 0:
        return "H14"
    return None


def admit(ex: Exchange, route: AppRoute) -> bool:
    """Count the request against the app's backlog on this router (200 per web dyno)."""
    router = ex.router
    inflight = router.inflight.get(route.name, 0)
    if inflight >= router.max_inflight * max(1, len(route.backends)):
        return False
    router.inflight[route.name] = inflight + 1
    ex.counted = True
    return True


def pick_pooled(ex: Exchange, route: AppRoute) -> DynoConnection | None:
    """Router 2.0 fast path: a random up dyno that has an idle kept-alive connection."""
    router = ex.router
    backends = route.backends
    if not backends:
        return None
    now = router.loop.time()
    backend = backends[0] if len(backends) == 1 else random.choice(backends)
    if router.quarantined(backend, now):
        return None
    return router.pool_take(backend)


async def pick_and_connect(ex: Exchange, route: AppRoute) -> tuple[DynoConnection | None, str | None]:
    """A connected dyno, or the H-code explaining why there is none."""
    router = ex.router
    loop = router.loop
    table = router.table
    name = route.name
    deadline = ex.received + router.hold_timeout
    tried: set[Backend] = set()
    attempts = 0
    last_code: str | None = None
    backoff = _BACKOFF_START
    while True:
        current = table.get(name)
        if current is None:
            return None, "H99"  # the app went away while the request was held
        now = loop.time()
        remaining = deadline - now
        backends = current.backends
        if not backends:
            if current.web_quantity <= 0:
                return None, "H14"
            if current.booting <= 0 and current.crashed > 0:
                return None, "H10"
            if remaining <= 0:
                return None, "H20"
            await _hold(ex, name, remaining)
            continue
        candidates = [b for b in backends if b not in tried and not router.quarantined(b, now)]
        if not candidates:
            if last_code is not None and (
                attempts >= min(MAX_ATTEMPTS, len(backends)) or all(b in tried for b in backends)
            ):
                return None, last_code
            if remaining <= 0:
                return None, "H99"  # every up dyno is quarantined
            wait = min(backoff, remaining, max(0.001, router.quarantine_left(backends, now)))
            backoff = min(backoff * 2, _BACKOFF_MAX)
            await _hold(ex, name, wait)
            continue
        backend = candidates[0] if len(candidates) == 1 else random.choice(candidates)
        if current.keepalive:
            pooled = router.pool_take(backend)
            if pooled is not None:
                ex.connect_ms = 0.0
                return pooled, None
        ex.dyno = backend.dyno
        started = loop.time()
        task = ex.task
        # the connect timer cancels this task (cheaper than asyncio.timeout, which looks up
        # the current task and loop on every use)
        timer = loop.call_later(router.connect_timeout, _connect_timed_out, ex) if task is not None else None
        try:
            conn = await router.open_connection(backend)
        except asyncio.CancelledError:
            if not ex.connect_timed_out or task is None:
                raise
            task.uncancel()
            ex.connect_timed_out = False
            code = "H19"
        except OSError:
            code = "H21"
        else:
            if timer is not None:
                timer.cancel()
            ex.connect_ms = (loop.time() - started) * 1000
            return conn, None
        if timer is not None:
            timer.cancel()
        ex.connect_ms = (loop.time() - started) * 1000
        router.quarantine(backend, loop.time())
        tried.add(backend)
        attempts += 1
        last_code = code
        if ex.finished:
            return None, None
        if attempts >= min(MAX_ATTEMPTS, len(backends)):
            latest = table.get(name)
            # The dyno left routing while we connected (a restart or scale-down): like Heroku,
            # retry elsewhere or hold for the booting ones rather than blame a dyno that is gone.
            if (
                latest is not None
                and attempts < MAX_ATTEMPTS
                and backend not in latest.backends
                and (latest.booting > 0 or any(b not in tried for b in latest.backends))
            ):
                continue
            return None, last_code


def _connect_timed_out(ex: Exchange) -> None:
    task = ex.task
    if task is not None and not task.done():
        ex.connect_timed_out = True
        task.cancel()


async def _hold(ex: Exchange, name: str, timeout: float) -> None:
    """Wait for the app's route to change (a dyno came up) or `timeout`, cancellable."""
    table = ex.router.table
    fut = table.changed(name)
    ex.holding = True
    try:
        async with asyncio.timeout(timeout):
            await fut
    except TimeoutError:
        pass
    finally:
        ex.holding = False
        table.discard_waiter(name, fut)
