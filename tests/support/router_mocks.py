"""Drive the router's protocols without sockets (the shape of uvicorn's protocol tests).

    bench = MockRouter()                                   # a Router bound to the running loop
    client, out = bench.client()                           # a ClientConnection on a MockTransport
    client.data_received(b"GET / HTTP/1.1\\r\\nHost: demo.localhost\\r\\n\\r\\n")
    await bench.settle()                                   # let the dispatch task connect
    dyno = bench.dyno()                                    # what the router sent: dyno.transport.buffer
    dyno.respond(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")
    out.buffer                                             # what the client got

`ManualClock` replaces the loop's clock and timers, so the router's timers (H12, H15, H28, the
keep-alive close) fire when a test advances time, never by waiting.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from common.config import Settings
from router.client import ClientConnection
from router.connector import ProtocolFactory
from router.server import Router
from router.table import AppRoute, Backend, RouteTable
from router.upstream import DynoConnection

BACKEND = Backend("web.1", "127.0.0.1", 5001)


class MockTransport(asyncio.Transport):
    """Records what is written; closing it tells its protocol, on the next loop turn."""

    def __init__(self, peer: tuple[str, int] = ("127.0.0.1", 50000)) -> None:
        super().__init__()
        self.buffer = bytearray()
        self.closed = False
        self.aborted = False
        self.reading = True
        self.peer = peer
        self.protocol: asyncio.Protocol | None = None
        self._lost = False

    def connect(self, protocol: asyncio.Protocol) -> None:
        self.protocol = protocol
        protocol.connection_made(self)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": self.peer}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self.closed:
            self.buffer += data

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def close(self) -> None:
        self._end(aborted=False)

    def abort(self) -> None:
        self._end(aborted=True)

    def _end(self, aborted: bool) -> None:
        if self.closed:
            return
        self.closed = True
        self.aborted = aborted
        asyncio.get_running_loop().call_soon(self.lose)

    def lose(self, exc: Exception | None = None) -> None:
        """The connection is gone (the peer closed it, or we did): tell the protocol once."""
        self.closed = True
        if not self._lost and self.protocol is not None:
            self._lost = True
            self.protocol.connection_lost(exc)

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def take(self) -> bytes:
        out = bytes(self.buffer)
        self.buffer.clear()
        return out


@dataclass
class MockDyno:
    """One router→dyno connection."""

    app: str
    backend: Backend
    transport: MockTransport
    protocol: DynoConnection

    def respond(self, data: bytes) -> None:
        self.protocol.data_received(data)

    def hang_up(self) -> None:
        self.transport.lose()


@dataclass
class MockDynos:
    """A Connector whose connections are MockTransports; `refuse` makes connects fail (H21)."""

    connections: list[MockDyno] = field(default_factory=list)
    refuse: bool = False

    async def connect(
        self, app: str, backend: Backend, factory: ProtocolFactory
    ) -> tuple[asyncio.BaseTransport, asyncio.Protocol]:
        if self.refuse:
            raise ConnectionRefusedError(111, "refused")
        protocol = factory()
        assert isinstance(protocol, DynoConnection)
        transport = MockTransport(("127.0.0.1", backend.port))
        transport.connect(protocol)
        self.connections.append(MockDyno(app, backend, transport, protocol))
        return transport, protocol


class _Timer:
    __slots__ = ("args", "callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """The loop the router sees: the real one, except for time, call_later and call_at."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.now = 1000.0
        self._timers: list[tuple[float, int, _Timer]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> _Timer:
        timer = _Timer(self.now + delay, callback, args)
        heapq.heappush(self._timers, (timer.when, next(self._order), timer))
        return timer

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> _Timer:
        return self.call_later(when - self.now, callback, *args)

    def create_task(self, coro: Any) -> asyncio.Task[Any]:
        return self.loop.create_task(coro)

    def create_future(self) -> asyncio.Future[Any]:
        return self.loop.create_future()

    def advance(self, seconds: float) -> None:
        """Move the clock on, firing every timer that falls due, in order."""
        end = self.now + seconds
        while self._timers and self._timers[0][0] <= end:
            when, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self.now = max(self.now, when)
            timer.callback(*timer.args)
        self.now = end

    def pending(self) -> int:
        return sum(1 for _, _, t in self._timers if not t.cancelled)


class MockRouter:
    """A Router with one app, `demo` (web.1), reached through MockDynos; lines and records kept."""

    def __init__(
        self, settings: Settings | None = None, keepalive: bool = False, clock: bool = False
    ) -> None:
        self.table = RouteTable()
        self.table.update(
            AppRoute("demo", released=True, web_quantity=1, backends=[BACKEND], keepalive=keepalive)
        )
        self.dynos = MockDynos()
        self.lines: list[tuple[str, str]] = []
        self.router = Router(
            self.table, settings or Settings(), log=self._log, connector=self.dynos, on_request=None
        )
        loop = asyncio.get_running_loop()
        self.clock = ManualClock(loop) if clock else None
        self.router.bind(cast(asyncio.AbstractEventLoop, self.clock or loop), port=5000)

    def _log(self, app: str, text: str) -> None:
        self.lines.append((app, text))

    def client(self, peer: tuple[str, int] = ("127.0.0.1", 50000)) -> tuple[ClientConnection, MockTransport]:
        """A new client connection and its transport (what the router wrote to the client)."""
        client = self.router.connection()
        transport = MockTransport(peer)
        transport.connect(client)
        return client, transport

    def dyno(self, index: int = -1) -> MockDyno:
        return self.dynos.connections[index]

    @staticmethod
    async def settle(turns: int = 10) -> None:
        """Let the loop run the router's tasks and callbacks (connects, closes)."""
        for _ in range(turns):
            await asyncio.sleep(0)
