"""The router's own per-request work, without sockets: CPU time per request of the Python path.

    .venv/bin/python bench/router_hotpath.py [--requests 50000] [--repeats 5] [--batch 64]

bench/router.py measures the router against nginx through real sockets, where the kernel's share
and the machine's other load move every figure. This drives the same protocol objects the router
runs (router.client.ClientConnection, router.exchange.Exchange, router.upstream.DynoConnection)
with in-memory transports on uvloop (as the router runs): a keep-alive client sends `GET /` with a Host header, the pooled dyno
connection (Router 2.0) answers as nginx does (five headers, a 2-byte body). What is timed is only
the router's Python (compiled with mypyc when built): parsing, the chain, the rewritten heads,
timers, the log line and the record, delivered as each shape delivers them:

  fleet   a router process as the daemon runs it: lines and records into its Outbox, one frame
          per `--batch` requests (the channel's bytes are dropped here)
  hub     the in-daemon router (PAAS_ROUTER_WORKERS=0): a real LogHub and `router.request` events
          on a bus with a listener

Prints the best of `--repeats` runs in µs per request (process CPU time, so other load on the
machine barely moves it). Compare two checkouts with `PYTHONPATH=<other checkout>`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.config import Settings
from common.events import Event, EventBus
from common.loghub import LogHub
from router import runs_compiled
from router.fleet.outbox import Outbox
from router.metrics import bus_publisher
from router.server import Router
from router.table import AppRoute, Backend, RouteTable
from router.upstream import DynoConnection

REQUEST = b"GET / HTTP/1.1\r\nHost: bench.localhost\r\n\r\n"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 06 Dec 2026 03:00:00 GMT\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"
)


class MemoryTransport:
    """Just enough of an asyncio transport: what is written is counted and dropped."""

    def __init__(self) -> None:
        self.written = 0
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def writelines(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.written += len(chunk)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class MemoryWriter:
    """An Outbox's writer: frames are counted and dropped."""

    def __init__(self) -> None:
        self.transport = MemoryTransport()

    def write(self, data: bytes) -> None:
        self.transport.write(data)


def _router(shape: str) -> tuple[Router, Callable[[], int]]:
    """The router, and how many records it has delivered so far."""
    table = RouteTable()
    backend = Backend("web.1", "127.0.0.1", 9)
    table.update(AppRoute("bench", released=True, web_quantity=1, backends=[backend], keepalive=True))
    if shape == "fleet":
        outbox = Outbox(MemoryWriter(), 4 * 1024 * 1024)  # type: ignore[arg-type]
        router = Router(table, Settings(), outbox.line, outbox.record, keep_metrics=False)
        return router, lambda: outbox.records_sent
    bus = EventBus()
    events: list[int] = [0]

    def count(event: Event) -> None:
        events[0] += 1

    bus.listen(["router.request"], count)
    return Router(table, Settings(), LogHub(bus).router_line, bus_publisher(bus)), lambda: events[0]


async def run(shape: str, requests: int, batch: int) -> float:
    """CPU seconds per request over `requests` requests on `batch` client connections."""
    router, delivered = _router(shape)
    router.bind(asyncio.get_running_loop(), 5000)
    backend = router.table.get("bench").backends[0]  # type: ignore[union-attr]
    clients, dynos = [], []
    for _ in range(batch):
        client = router.connection()
        client.connection_made(MemoryTransport())  # type: ignore[arg-type]
        dyno = DynoConnection(router.pool, backend)
        dyno.connection_made(MemoryTransport())  # type: ignore[arg-type]
        clients.append(client)
        dynos.append(dyno)
    rounds = requests // batch
    started = time.process_time()
    for _ in range(rounds):
        for dyno in dynos:
            router.pool.put(dyno)
        for client in clients:
            client.data_received(REQUEST)  # takes a pooled dyno connection, sends the head
        for dyno in dynos:
            dyno.data_received(RESPONSE)  # the answer: passed on, logged, recorded, released
        await asyncio.sleep(0)  # a loop turn, as 64 connections' requests would share one
    spent = time.process_time() - started
    await asyncio.sleep(0.01)  # the Outbox's last frame (it waits up to 2 ms for company)
    assert sum(c.transport.written for c in clients) >= rounds * batch * len(b"HTTP/1.1 200 OK")
    assert delivered() == rounds * batch, "every request's record is delivered"
    for client in clients:
        client.connection_lost(None)
    router.pool.close()
    return spent / (rounds * batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64, help="client connections (requests per loop turn)")
    parser.add_argument("--shape", choices=("fleet", "hub"), action="append", help="only these shapes")
    args = parser.parse_args()
    print(f"router hot path: {'compiled with mypyc' if runs_compiled() else 'interpreted'}")
    for shape in args.shape or ("fleet", "hub"):
        best = min(uvloop.run(run(shape, args.requests, args.batch)) for _ in range(args.repeats))
        print(f"  {shape:6} {best * 1e6:6.2f} µs per request (best of {args.repeats})")


if __name__ == "__main__":
    main()
