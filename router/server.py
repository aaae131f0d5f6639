"""The Router: Heroku's HTTP routing layer for the apps in a RouteTable.

    table = RouteTable()
    router = Router(table, settings, log=lambda app, text: hub.emit(app, "heroku", "router", text),
                    on_request=lambda rec: bus.emit("router.request", rec.app, **rec.to_json()))
    port = await router.start("127.0.0.1", settings.router_port)
    ...
    await router.stop()

It listens on one loopback port and routes by Host (`<app>.localhost[:port]` or a custom
domain from `table.set_domains`). Per request it writes exactly one `heroku[router]` line
through `log(app, text)` and hands a `RequestRecord` to `on_request`; `metrics()` returns
per-app and per-dyno rates, error counts by H-code and latency percentiles.

Everything here runs on the event loop that called `start()` (the daemon's loop): the table,
the pools, the counters. Faults between router and dynos plug in through `connector`
(router.connector). Errors inside the router are caught per request (H99) and counted; the
router keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from collections.abc import Callable
from typing import Any

from common.accel import is_compiled
from common.config import Settings
from router.client import ClientConnection
from router.connector import Connector, TcpConnector
from router.exchange import Exchange
from router.metrics import Metrics, RequestRecord
from router.table import Backend, RouteTable
from router.upstream import DynoConnection

log = logging.getLogger("router")

LogFunction = Callable[[str, str], None]
RecordFunction = Callable[[RequestRecord], None]

_POOL_MAX_IDLE = 64  # idle kept-alive connections per dyno (Router 2.0)
_BODY_BUFFER_LIMIT = 64 * 1024  # request body held while its dyno connection opens


class Router:
    def __init__(
        self,
        table: RouteTable,
        settings: Settings,
        log: LogFunction,
        on_request: RecordFunction | None = None,
        connector: Connector | None = None,
    ) -> None:
        self.table = table
        self.settings = settings
        self._log = log
        self._on_request = on_request
        self.connector: Connector = connector or TcpConnector()
        # timers, read once (a Settings object is frozen)
        self.connect_timeout = settings.router_connect_timeout
        self.timeout = settings.router_timeout
        self.idle_timeout = settings.router_idle_timeout
        self.hold_timeout = settings.router_hold_timeout
        self.max_inflight = settings.router_max_inflight
        self.quarantine_time = settings.router_quarantine
        self.keepalive_timeout = settings.router_keepalive_timeout
        self.pool_idle_timeout = settings.router_pool_idle_timeout
        self.max_connections = settings.router_max_connections
        self.client_timer_step = min(self.idle_timeout, self.keepalive_timeout) or 1.0
        self.body_buffer_limit = _BODY_BUFFER_LIMIT
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set in start()
        self.port = 0
        self.port_bytes = b"0"
        self.inflight: dict[str, int] = {}
        self.metrics_store = Metrics()
        self._server: Any = None  # uvloop gives `sockets` as a list, typeshed says tuple
        self._clients: set[ClientConnection] = set()
        self._quarantine: dict[Backend, float] = {}
        self._pools: dict[Backend, list[DynoConnection]] = {}
        self._unlisten: Callable[[], None] | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._live: set[Backend] | None = None  # every routed dyno, rebuilt after table changes
        self._sweep_every = max(0.05, self.pool_idle_timeout / 4)
        # router-wide counters (what cannot be attributed to an app)
        self.connections_total = 0
        self.connections_refused = 0  # over router_max_connections (H22)
        self.unrouted = 0  # no such app, or a request too broken to attribute
        self.internal_errors = 0
        self.log_failures = 0

    # ------------------------------------------------------------------ lifecycle
    async def start(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        sock: socket.socket | None = None,
        reuse_port: bool = False,
    ) -> int:
        """Listen on host:port (0 = any free port), or on an already-bound `sock`.

        Returns the bound port. `reuse_port` sets SO_REUSEPORT (several router processes on
        one port, a measured design option; the daemon runs a single router).
        """
        self.loop = asyncio.get_running_loop()
        if isinstance(self.connector, TcpConnector) and self.connector.loop is None:
            self.connector.loop = self.loop
        factory = self._client_factory
        if sock is not None:
            self._server = await self.loop.create_server(factory, sock=sock, backlog=2048)
        else:
            self._server = await self.loop.create_server(
                factory, host, port, backlog=2048, reuse_port=reuse_port or None
            )
        self.port = self._server.sockets[0].getsockname()[1]
        self.port_bytes = b"%d" % self.port
        self._unlisten = self.table.add_listener(self._route_changed)
        return self.port

    async def start_on_socket(self, sock: socket.socket) -> int:
        return await self.start(sock=sock)

    def _client_factory(self) -> ClientConnection:
        return ClientConnection(self)

    async def stop(self) -> None:
        """Stop listening, cut every client and dyno connection."""
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        server = self._server
        self._server = None
        if server is not None:
            server.close()
        for client in list(self._clients):
            if client.active is not None:
                client.active.stop_timers()
                if client.active.task is not None:
                    client.active.task.cancel()
                if client.active.upstream is not None:
                    client.active.upstream.abort()
            if client.tunnel is not None:
                client.tunnel.abort()
            client.closed = True
            client.transport.abort()
        self._clients.clear()
        for pool in self._pools.values():
            for conn in pool:
                conn.abort()
        self._pools.clear()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if server is not None:
            await server.wait_closed()

    # ------------------------------------------------------------------ clients
    def client_opened(self, client: ClientConnection) -> None:
        self.connections_total += 1
        self._clients.add(client)
        if len(self._clients) > self.max_connections:
            client.over_limit = True  # its request is answered with H22
            self.connections_refused += 1

    def client_closed(self, client: ClientConnection) -> None:
        self._clients.discard(client)

    # ------------------------------------------------------------------ dynos
    async def open_connection(self, backend: Backend) -> DynoConnection:
        """A new connection to a dyno, through the connector (the fault seam)."""
        _transport, protocol = await self.connector.connect(backend, lambda: DynoConnection(self, backend))
        assert isinstance(protocol, DynoConnection)
        return protocol

    def quarantine(self, backend: Backend, now: float) -> None:
        self._quarantine[backend] = now + self.quarantine_time

    def quarantined(self, backend: Backend, now: float) -> bool:
        if not self._quarantine:
            return False
        until = self._quarantine.get(backend)
        if until is None:
            return False
        if until <= now:
            del self._quarantine[backend]
            return False
        return True

    def quarantine_left(self, backends: list[Backend], now: float) -> float:
        """Seconds until the first of these dynos leaves quarantine."""
        ends = [self._quarantine[b] for b in backends if b in self._quarantine]
        return max(0.0, min(ends) - now) if ends else 0.0

    def pool_take(self, backend: Backend) -> DynoConnection | None:
        pool = self._pools.get(backend)
        while pool:
            conn = pool.pop()
            if not conn.closed and not conn.transport.is_closing():
                return conn
        return None

    def pool_put(self, conn: DynoConnection) -> None:
        pool = self._pools.setdefault(conn.backend, [])
        if len(pool) >= _POOL_MAX_IDLE or self._server is None or not self._backend_live(conn.backend):
            conn.close()
            return
        conn.idle_since = self.loop.time()
        pool.append(conn)
        if self._sweeper is None:
            self._sweeper = self.loop.call_later(self._sweep_every, self._sweep_pools)

    def _sweep_pools(self) -> None:
        """Close kept-alive dyno connections idle longer than router_pool_idle_timeout.

        One timer for all pools (not one per connection per request); a connection may live up
        to a quarter of the timeout longer than asked.
        """
        self._sweeper = None
        oldest_allowed = self.loop.time() - self.pool_idle_timeout
        for backend, pool in list(self._pools.items()):
            stale = [c for c in pool if c.idle_since <= oldest_allowed]
            for conn in stale:
                pool.remove(conn)
                conn.close()
            if not pool:
                del self._pools[backend]
        if self._pools and self._server is not None:
            self._sweeper = self.loop.call_later(self._sweep_every, self._sweep_pools)

    def pool_discard(self, conn: DynoConnection) -> None:
        pool = self._pools.get(conn.backend)
        if pool and conn in pool:
            pool.remove(conn)

    def _backend_live(self, backend: Backend) -> bool:
        """Whether some app still routes to this dyno (a stopping dyno gets nothing new)."""
        live = self._live
        if live is None:
            live = self._live = {
                b
                for name in self.table.apps()
                for b in (getattr(self.table.get(name), "backends", None) or ())
            }
        return backend in live

    def _route_changed(self, name: str) -> None:
        """A dyno left the route (stopping, crashed): close its idle pooled connections."""
        self._live = None
        for backend in [b for b in self._pools if not self._backend_live(b)]:
            for conn in self._pools.pop(backend):
                conn.close()

    # ------------------------------------------------------------------ results
    def record(self, app: str, line: str, record: RequestRecord) -> None:
        """The single place a finished request is reported: log line, metrics, callback."""
        try:
            self._log(app, line)
        except Exception:
            self._reporting_failed("log function")
        self.metrics_store.add(record)
        if self._on_request is not None:
            try:
                self._on_request(record)
            except Exception:
                self._reporting_failed("on_request callback")

    def _reporting_failed(self, what: str) -> None:
        # counted always, told sparingly: a broken sink must not flood stderr at line rate
        self.log_failures += 1
        if self.log_failures == 1 or self.log_failures % 1000 == 0:
            log.exception("router: %s failed (%d failures so far)", what, self.log_failures)

    def internal_error(self, ex: Exchange, where: str) -> None:
        """An exception escaped request handling: H99 for that request, the router goes on."""
        log.exception("router: internal error (%s)", where)
        self.internal_errors += 1
        try:
            if not ex.finished:
                ex.fail("H99")
            else:
                ex.client.close()
        except Exception:
            log.exception("router: could not report H99")
            ex.client.close()

    def metrics(self, app: str | None = None) -> dict[str, Any]:
        """Live figures: per app (and its dynos) request counts, rates, codes, latency p50/p95/p99.

        With `app`, only that app: {"apps": {app: {...}}, "router": {...}}.
        """
        return {
            "apps": self.metrics_store.snapshot(app),
            "router": {
                "port": self.port,
                "compiled": is_compiled(sys.modules[__name__]),
                "connections_open": len(self._clients),
                "connections_total": self.connections_total,
                "connections_refused": self.connections_refused,
                "unrouted": self.unrouted,
                "internal_errors": self.internal_errors,
                "log_failures": self.log_failures,
                "inflight": {k: v for k, v in self.inflight.items() if v},
                "quarantined": sorted(
                    b.dyno + f"@{b.port}" for b, t in self._quarantine.items() if t > self.loop.time()
                )
                if self.loop is not None
                else [],
                "pooled_connections": sum(len(p) for p in self._pools.values()),
            },
        }
