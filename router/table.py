"""The routing table: which app a Host means and which web dynos may take its requests.

The daemon owns the truth (formation, dyno states, maintenance, domains) and pushes it here
with `update()` whenever a `dyno.state` / `app.updated` event arrives; the router only reads.
`update()` also wakes the requests held while an app's dynos boot, so a held request is
dispatched the moment a dyno reaches `up`, not at the next poll.

A dyno being stopped must get no new requests from the moment it is signalled: the daemon
calls `update()` without it (or `remove_backend()`) before sending SIGTERM. Requests already
in flight to it finish normally.

All methods must be called on the event loop's thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import NamedTuple

LOCAL_SUFFIX = ".localhost"
_HOST_CACHE_MAX = 4096


class Backend(NamedTuple):
    """One web dyno the router may connect to (always a loopback address).

    A tuple: it keys the router's quarantine and pool dicts on every request, and a tuple
    hashes and compares in C (a frozen dataclass runs Python code for both).
    """

    dyno: str  # "web.1"
    host: str  # "127.0.0.1"
    port: int


@dataclass
class AppRoute:
    """What the router knows about one app.

    released=False means nothing was ever deployed (H81 blank app); web_quantity=0 means
    `web` is scaled to zero (H14); no backends with booting>0 holds requests up to the hold
    timeout (H20); no backends, nothing booting and crashed>0 is H10. keepalive=True is the
    app feature `http-routing-2-dot-0`: connections to dynos are reused (Router 2.0).
    """

    name: str
    maintenance: bool = False
    released: bool = False
    web_quantity: int = 0
    backends: list[Backend] = field(default_factory=list)
    booting: int = 0
    crashed: int = 0
    keepalive: bool = False


class RouteTable:
    def __init__(self) -> None:
        self._apps: dict[str, AppRoute] = {}
        self._domains: dict[str, str] = {}
        self._host_cache: dict[str, str | None] = {}
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._listeners: list[Callable[[str], None]] = []
        self._domain_listeners: list[Callable[[dict[str, str]], None]] = []

    # --- writes (the daemon) -------------------------------------------------------------
    def update(self, route: AppRoute) -> None:
        """Replace an app's entry and wake every request held for it."""
        self._apps[route.name] = route
        self._changed(route.name)

    def remove(self, name: str) -> None:
        """Forget an app (destroyed): its hostname becomes "no such app"."""
        self._apps.pop(name, None)
        self._changed(name)

    def remove_backend(self, name: str, dyno: str) -> None:
        """Stop routing to one dyno now (call before signalling it)."""
        route = self._apps.get(name)
        if route is None:
            return
        kept = [b for b in route.backends if b.dyno != dyno]
        if len(kept) != len(route.backends):
            self.update(replace(route, backends=kept))

    def set_domains(self, domains: dict[str, str]) -> None:
        """Replace the custom-domain map: hostname (no port) → app name."""
        self._domains = {host.lower().rstrip("."): app for host, app in domains.items()}
        self._host_cache.clear()
        for listener in list(self._domain_listeners):
            listener(self._domains)

    def domains(self) -> dict[str, str]:
        return dict(self._domains)

    def on_domains(self, listener: Callable[[dict[str, str]], None]) -> None:
        """Call `listener(domains)` after every `set_domains` (router processes get them)."""
        self._domain_listeners.append(listener)

    # --- reads (the router) --------------------------------------------------------------
    def get(self, name: str) -> AppRoute | None:
        return self._apps.get(name)

    def apps(self) -> list[str]:
        return list(self._apps)

    def backends(self, name: str) -> list[Backend]:
        """The dynos an app routes to now (none for an unknown app)."""
        route = self._apps.get(name)
        return route.backends if route is not None else []

    def waiting(self, name: str) -> int:
        """How many requests are held for this app's route to change (dynos booting)."""
        return len(self._waiters.get(name, ()))

    def resolve(self, host_header: str) -> AppRoute | None:
        """`<app>.localhost[:port]` or a custom domain (port ignored, case-insensitive)."""
        name = self._host_cache.get(host_header)
        if name is None and host_header not in self._host_cache:
            name = self._app_name_for(host_header)
            if len(self._host_cache) >= _HOST_CACHE_MAX:
                self._host_cache.clear()
            self._host_cache[host_header] = name
        return self._apps.get(name) if name is not None else None

    def _app_name_for(self, host_header: str) -> str | None:
        host = host_header.strip().lower()
        if host.startswith("["):  # IPv6 literal: never an app
            return None
        host = host.rsplit(":", 1)[0] if ":" in host else host
        host = host.rstrip(".")
        if host in self._domains:
            return self._domains[host]
        if host.endswith(LOCAL_SUFFIX):
            name = host[: -len(LOCAL_SUFFIX)]
            if name and "." not in name:
                return name
        return None

    # --- change notification ---------------------------------------------------------------
    def changed(self, name: str) -> asyncio.Future[None]:
        """A future resolved at the next update/remove of `name` (for held requests).

        The caller must `discard_waiter()` it if it stops waiting before that happens.
        """
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(name, set()).add(fut)
        return fut

    def discard_waiter(self, name: str, fut: asyncio.Future[None]) -> None:
        waiters = self._waiters.get(name)
        if waiters is not None:
            waiters.discard(fut)
            if not waiters:
                del self._waiters[name]

    def add_listener(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Call `listener(app_name)` after every change; returns a function that unregisters."""
        self._listeners.append(listener)

        def unlisten() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unlisten

    def _changed(self, name: str) -> None:
        waiters = self._waiters.pop(name, None)
        if waiters:
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)
        for listener in list(self._listeners):
            listener(name)
