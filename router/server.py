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

Everything here runs on the event loop that called `start()` (a router process's loop, see
router.fleet; the daemon's own with PAAS_ROUTER_WORKERS=0): the table, the pools, the counters. What it needs comes in at construction: the route table, the
settings, where lines and records go, and the `connector` that reaches dynos (router.connector;
the daemon passes a router.faults.FaultConnector, the fault seam). The chain a request goes
through is declared in router.chain. Errors inside the router are caught per request (H99) and
counted; the router keeps serving.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Callable
from typing import Any

from common.accel import is_compiled
from common.config import Settings
from router.backlog import Backlog
from router.chain import Chain, routing_chain
from router.client import ClientConnection
from router.connector import Connector, TcpConnector
from router.deadlines import Deadlines
from router.failures import FailureCounter
from router.metrics import Metrics, RequestRecord
from router.pool import DynoPool, Quarantine
from router.table import Backend, RouteTable
from router.upstream import DynoConnection

LogFunction = Callable[[str, str], None]
RecordFunction = Callable[[RequestRecord], None]

_BODY_BUFFER_LIMIT = 64 * 1024  # request body held while its dyno connection opens


class Router:
    def __init__(
        self,
        table: RouteTable,
        settings: Settings,
        log: LogFunction,
        on_request: RecordFunction | None = None,
        connector: Connector | None = None,
        keep_metrics: bool = True,
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
        self.keepalive_timeout = settings.router_keepalive_timeout
        self.max_connections = settings.router_max_connections
        self.client_timer_step = min(self.idle_timeout, self.keepalive_timeout) or 1.0
        self.body_buffer_limit = _BODY_BUFFER_LIMIT
        self.backlog = Backlog(settings.router_max_inflight)
        self.chain: Chain = routing_chain(table, self.backlog)
        self.quarantine = Quarantine(settings.router_quarantine)
        self.pool = DynoPool(table, settings.router_pool_idle_timeout)
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set by bind()
        # the exchanges' first-byte and idle timers (router.deadlines); made for the loop by bind()
        self.first_byte_timers: Deadlines = None  # type: ignore[assignment]
        self.idle_timers: Deadlines = None  # type: ignore[assignment]
        self.port = 0
        self.port_bytes = b"0"
        self.metrics_store = Metrics()
        # a router process's records are counted where they are merged (the daemon's
        # RouterFleet.store): counting them here too would be work nobody reads
        self._keep_metrics = keep_metrics
        self._server: Any = None  # uvloop gives `sockets` as a list, typeshed says tuple
        self._clients: set[ClientConnection] = set()
        self._unlisten: Callable[[], None] | None = None
        # router-wide counters (what cannot be attributed to an app)
        self.connections_total = 0
        self.connections_refused = 0  # over router_max_connections (H22)
        self.unrouted = 0  # no such app, or a request too broken to attribute
        self.internal_errors = 0
        self.log_failures = FailureCounter("router")

    # ------------------------------------------------------------------ lifecycle
    def bind(self, loop: asyncio.AbstractEventLoop, port: int = 0) -> None:
        """Run on `loop` (start() does it; tests that drive connections by hand call it)."""
        self.loop = loop
        self.port = port
        self.port_bytes = b"%d" % port
        self.first_byte_timers = Deadlines(loop, self.timeout)
        self.idle_timers = Deadlines(loop, self.idle_timeout)
        connector = self.connector
        if isinstance(connector, TcpConnector) and connector.loop is None:
            connector.loop = loop
        self.pool.open(loop)
        if self._unlisten is None:
            self._unlisten = self.table.add_listener(self.pool.route_changed)

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
        one port: router.fleet hands each its own SO_REUSEPORT socket as `sock`).
        """
        loop = asyncio.get_running_loop()
        factory = self.connection
        if sock is not None:
            self._server = await loop.create_server(factory, sock=sock, backlog=2048)
        else:
            self._server = await loop.create_server(
                factory, host, port, backlog=2048, reuse_port=reuse_port or None
            )
        self.bind(loop, self._server.sockets[0].getsockname()[1])
        return self.port

    async def start_on_socket(self, sock: socket.socket) -> int:
        return await self.start(sock=sock)

    def connection(self) -> ClientConnection:
        """A protocol for one client connection (the server's protocol factory)."""
        return ClientConnection(self)

    async def drain(self, timeout: float) -> None:
        """Stop taking connections and wait (up to `timeout`) for requests in flight to finish."""
        server = self._server
        if server is not None:
            server.close()
        deadline = self.loop.time() + timeout
        while self.backlog.counts and self.loop.time() < deadline:
            await asyncio.sleep(0.05)

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
            client.abort()
        self._clients.clear()
        self.pool.close()
        if self.first_byte_timers is not None:
            self.first_byte_timers.close()
            self.idle_timers.close()
        if server is not None:
            await server.wait_closed()

    # ------------------------------------------------------------------ clients
    def client_opened(self, client: ClientConnection) -> bool:
        """Count a new client connection; False when it is over router_max_connections (H22)."""
        self.connections_total += 1
        self._clients.add(client)
        if len(self._clients) > self.max_connections:
            self.connections_refused += 1
            return False
        return True

    def client_closed(self, client: ClientConnection) -> None:
        self._clients.discard(client)

    # ------------------------------------------------------------------ dynos
    async def open_connection(self, app: str, backend: Backend) -> DynoConnection:
        """A new connection to one of `app`'s dynos, through the connector (the fault seam)."""
        pool = self.pool
        _transport, protocol = await self.connector.connect(
            app, backend, lambda: DynoConnection(pool, backend)
        )
        assert isinstance(protocol, DynoConnection)
        return protocol

    # ------------------------------------------------------------------ results
    def record(self, app: str, line: str, record: RequestRecord) -> None:
        """The single place a finished request is reported: log line, metrics, callback."""
        try:
            self._log(app, line)
        except Exception:
            self.log_failures.failed("log function")
        if self._keep_metrics:
            self.metrics_store.add(record)
        if self._on_request is not None:
            try:
                self._on_request(record)
            except Exception:
                self.log_failures.failed("on_request callback")

    def metrics(self, app: str | None = None) -> dict[str, Any]:
        """Live figures: per app (and its dynos) request counts, rates, codes, latency p50/p95/p99.

        With `app`, only that app: {"apps": {app: {...}}, "router": {...}}.
        """
        return {"apps": self.metrics_store.snapshot(app), "router": self.figures()}

    def figures(self) -> dict[str, Any]:
        """This router's own counters (what cannot be attributed to an app)."""
        loop = self.loop
        return {
            "port": self.port,
            "compiled": is_compiled(sys.modules[__name__]),
            "connections_open": len(self._clients),
            "connections_total": self.connections_total,
            "connections_refused": self.connections_refused,
            "unrouted": self.unrouted,
            "internal_errors": self.internal_errors,
            "log_failures": self.log_failures.count,
            "inflight": self.backlog.inflight(),
            "quarantined": self.quarantine.names(loop.time()) if loop is not None else [],
            "pooled_connections": self.pool.size(),
        }
