"""RouterFleet: the daemon's routers, as one: N router processes, plus the in-daemon Router.

    fleet = RouterFleet(table, settings, faults, log=hub.router_line, on_request=publish,
                        notice=print_to_daemon_log)
    await fleet.start(router_port, tls_port, certs)   # settings.router_workers processes
    ...
    figures = await fleet.metrics(app)                # one merged view
    await fleet.stop()                                # SIGTERM, drain, SIGKILL

The daemon keeps writing the RouteTable and the FaultRegistry as before; the fleet listens to
both and sends each change to every process as a numbered message (a new process gets a full
snapshot first, numbered with the latest change, so it misses nothing and sees nothing twice).
Records and log lines come back in batches and are delivered here, on the daemon's loop, as
the in-daemon router delivers its own: log line, merged metrics, `on_request`.

`local` is a Router in the daemon's loop. With router_workers=0 it serves the plain port (and
the TLS port) as before this module existed; otherwise it serves nothing and only its
counters (zero) join the merge.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable
from typing import Any

from common.config import LOOPBACK, Settings
from common.errors import StartupError
from router.certstore import CertPaths, CertStore
from router.connector import TcpConnector
from router.failures import FailureCounter
from router.faults import FaultConnector, FaultRegistry
from router.fleet import merge, sockets
from router.fleet.process import RouterProcess, describe_exit, spawn
from router.fleet.wire import (
    ChannelClosed,
    Message,
    certs_to_wire,
    encode,
    faults_to_wire,
    read_message,
    record_from_wire,
    route_to_wire,
    settings_to_wire,
)
from router.metrics import Metrics, RequestRecord
from router.server import LogFunction, RecordFunction, Router
from router.table import RouteTable
from router.tls import TlsListener, start_tls

QUERY_TIMEOUT = 2.0  # a process that does not answer a figures query in this time is left out
RESTART_DELAY_MAX = 5.0  # back-off for a process that keeps dying at start


class RouterFleet:
    def __init__(
        self,
        table: RouteTable,
        settings: Settings,
        faults: FaultRegistry,
        log: LogFunction,
        on_request: RecordFunction,
        notice: Callable[[str], None],
    ) -> None:
        self.table = table
        self.settings = settings
        self.faults = faults
        self.size = settings.router_workers
        self._log = log
        self._on_request = on_request
        self._notice = notice
        self.store = Metrics()  # every router's records, merged
        self.local = Router(table, settings, log, on_request, FaultConnector(TcpConnector(), faults))
        self.local.metrics_store = self.store
        self.local_tls: TlsListener | None = None
        self.certs: CertStore | None = None
        self.processes: dict[int, RouterProcess] = {}
        self.port = 0
        self.tls_port = 0
        self.seq = 0  # the number of the last change sent
        self.restarts = 0
        self.delivery_failures = FailureCounter("router fleet")
        self._reserved: list[socket.socket] = []
        self._retired: dict[str, int] = {}  # counters of processes that are gone
        self._crashes: dict[int, int] = {}  # quick deaths in a row, per slot (restart back-off)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        table.add_listener(self._route_changed)
        table.on_domains(self._domains_changed)
        faults.on_change(self._faults_changed)

    # ---- start ---------------------------------------------------------------------------
    async def start(
        self, sock: socket.socket, tls_sock: socket.socket | None, certs: CertStore | None
    ) -> None:
        """Serve the router port (and the TLS port with `certs`).

        With router_workers=0 `sock` and `tls_sock` are listening sockets this loop serves;
        otherwise they are the ports' reservations (`sockets.reserve_port`) and each process
        gets listening sockets of its own on the same ports."""
        self.certs = certs
        if self.size == 0:
            await self.local.start(sock=sock)
            self.port = self.local.port
            if tls_sock is not None and certs is not None:
                self.local_tls = await start_tls(self.local, certs, sock=tls_sock)
                self.tls_port = self.local_tls.port
            return
        self._reserved = [sock] + ([tls_sock] if tls_sock is not None else [])
        self.port = sock.getsockname()[1]
        if tls_sock is not None and certs is not None:
            self.tls_port = tls_sock.getsockname()[1]
        self.local.bind(asyncio.get_running_loop(), self.port)
        await asyncio.gather(*(self._spawn(i) for i in range(self.size)))
        if not await self.ready(timeout=30):
            raise StartupError("the router processes did not start (their errors are above)")

    async def ready(self, timeout: float) -> bool:
        """Whether every process has said it listens (within `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.processes) == self.size and all(p.ready for p in self.processes.values()):
                return True
            await asyncio.sleep(0.02)
        return False

    async def _spawn(self, index: int) -> None:
        listen = sockets.listener(LOOPBACK, self.port)
        tls = sockets.listener(LOOPBACK, self.tls_port) if self.tls_port else None
        process = await spawn(index, listen, tls)
        # from here to registering it, nothing awaits: no change can slip between the snapshot
        # and the first delta it will get
        process.send(encode(self._snapshot()))
        process.acked = self.seq
        self.processes[index] = process
        process.task = asyncio.create_task(self._read(process))

    def _snapshot(self) -> Message:
        table = self.table
        routes = [route_to_wire(r) for name in table.apps() if (r := table.get(name)) is not None]
        message: Message = {
            "op": "snapshot",
            "seq": self.seq,
            "settings": settings_to_wire(self.settings),
            "channel_buffer": self.settings.router_channel_buffer,
            "routes": routes,
            "domains": table.domains(),
            "faults": {app: faults_to_wire(self.faults, app) for app in self.faults.apps()},
        }
        if self.certs is not None:
            message["certs"] = {
                "default": certs_to_wire({"": self.certs.default_paths})[""],
                "hosts": certs_to_wire(self.certs.mapping()),
            }
        return message

    # ---- changes out -----------------------------------------------------------------------
    def _broadcast(self, message: Message) -> None:
        if not self.processes:
            return
        self.seq += 1
        message["seq"] = self.seq
        frame = encode(message)
        for process in self.processes.values():
            process.send(frame)

    def _route_changed(self, app: str) -> None:
        route = self.table.get(app)
        if route is None:
            self._broadcast({"op": "remove", "app": app})
        else:
            self._broadcast({"op": "route", "route": route_to_wire(route)})

    def _domains_changed(self, domains: dict[str, str]) -> None:
        self._broadcast({"op": "domains", "domains": domains})

    def _faults_changed(self, app: str) -> None:
        self._broadcast({"op": "faults", "app": app, "entries": faults_to_wire(self.faults, app)})

    def certs_changed(self, mapping: dict[str, CertPaths]) -> None:
        """The certificate files to serve by SNI changed (paths only cross the channel)."""
        if self.certs is not None:
            self.certs.update(mapping)
            self._broadcast({"op": "certs", "hosts": certs_to_wire(self.certs.mapping())})

    async def synced(self, timeout: float = 1.0) -> bool:
        """Wait until every process applied every change sent so far (True), or `timeout`."""
        seq = self.seq
        waits = [p.applied(seq) for p in self.processes.values() if p.acked < seq]
        if not waits:
            return True
        _done, pending = await asyncio.wait(waits, timeout=timeout)
        for fut in pending:
            fut.cancel()
        return not pending

    # ---- records in ------------------------------------------------------------------------
    async def _read(self, process: RouterProcess) -> None:
        try:
            while True:
                message = await read_message(process.reader)
                op = message.get("op")
                if op == "out":
                    self._deliver(message)
                elif op == "ack":
                    process.acknowledged(int(message["seq"]))
                elif op == "figures":
                    process.answered(message)
                elif op == "ready":
                    process.ready = True
        except ChannelClosed:
            pass
        finally:
            process.closed()
        code = await process.exited(grace=2.0)
        self._exited(process, code)

    def _deliver(self, message: Message) -> None:
        log_line, on_request, store = self._log, self._on_request, self.store
        for app, text in message["lines"]:
            try:
                log_line(app, text)
            except Exception:
                self.delivery_failures.failed("log function")
        for data in message["records"]:
            record: RequestRecord = record_from_wire(data)
            store.add(record)
            try:
                on_request(record)
            except Exception:
                self.delivery_failures.failed("on_request callback")

    # ---- deaths and restarts ---------------------------------------------------------------
    def _exited(self, process: RouterProcess, code: int) -> None:
        if self.processes.get(process.index) is process:
            del self.processes[process.index]
        merge.retire(self._retired, process.figures)
        if self._stopping:
            return
        quick = time.monotonic() - process.started < 2.0
        crashes = self._crashes[process.index] = self._crashes.get(process.index, 0) + 1 if quick else 0
        delay = min(RESTART_DELAY_MAX, 0.1 * 2**crashes) if crashes else 0.0
        self.restarts += 1
        self._notice(
            f"router process {process.index} (pid {process.pid}) exited with {describe_exit(code)}; "
            f"restarting it{f' in {delay:g}s' if delay else ''} ({self.restarts} restarts so far)"
        )
        task = asyncio.create_task(self._restart(process.index, delay))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _restart(self, index: int, delay: float) -> None:
        await asyncio.sleep(delay)
        if self._stopping:
            return
        try:
            await self._spawn(index)
        except OSError as exc:
            self._notice(f"router process {index} could not be started again: {exc}")

    # ---- one merged view -------------------------------------------------------------------
    async def refresh(self) -> None:
        """Ask every process for its figures; records it finished before are delivered first."""
        live = list(self.processes.values())
        if live:
            await asyncio.gather(*(p.query(QUERY_TIMEOUT) for p in live))

    async def metrics(self, app: str | None = None) -> dict[str, Any]:
        """Router.metrics's shape, over every router: apps from every record, router counters
        summed, plus the processes' own figures."""
        await self.refresh()
        return {"apps": self.store.snapshot(app), "router": self.figures()}

    def figures(self) -> dict[str, Any]:
        merged = merge.router_figures(self.local.figures(), self._retired, self.processes.values())
        merged.update(
            port=self.port,
            workers=self.size,
            workers_up=sum(1 for p in self.processes.values() if p.ready),
            worker_restarts=self.restarts,
            delivery_failures=self.delivery_failures.count,
        )
        return merged

    def tls_metrics(self) -> dict[str, Any]:
        """TlsListener.metrics's shape over every router's TLS port."""
        certs = self.certs
        base = {"port": self.tls_port, "certificates": len(certs.hostnames()) if certs is not None else 0}
        parts = [self.local_tls.metrics()] if self.local_tls is not None else []
        parts += [tls for p in self.processes.values() if (tls := (p.figures or {}).get("tls"))]
        return merge.tls_figures(base, parts)

    def fault_listing(self, app: str) -> dict[str, Any]:
        """The API's fault listing with every router's connection counts (after `refresh`)."""
        return merge.fault_listing(self.faults, app, self.processes.values())

    # ---- stop ------------------------------------------------------------------------------
    async def stop(self) -> None:
        """SIGTERM every process; each stops accepting and finishes what it has in flight;
        SIGKILL for one still there after its drain time."""
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()
        grace = min(10.0, self.settings.router_timeout) + 2.0
        readers = []
        for process in list(self.processes.values()):
            with contextlib.suppress(ProcessLookupError):
                process.proc.terminate()
            if process.task is not None:
                readers.append(process.task)
        if readers:
            _done, pending = await asyncio.wait(readers, timeout=grace)
            for process in list(self.processes.values()):
                if process.proc.poll() is None:
                    process.proc.kill()
            if pending:
                await asyncio.wait(pending, timeout=5)
        if self.local_tls is not None:
            await self.local_tls.stop()
        await self.local.stop()
        for sock in self._reserved:
            sock.close()
        self._reserved.clear()
