"""The relay of one faulted router↔dyno connection: bytes go through the toxics, both ways.

A `FaultedConnection` owns two sockets (the router's end of a loopback pair, and the real
connection to the dyno) and one `Link` per direction: a reader task fills a bounded queue
(`QUEUE_CHUNKS` chunks read ahead, so latency is applied per chunk, not summed), a writer task
passes each chunk through the link's toxics in order. A close is passed on as a FIN (after
draining what the peer still sends, so it does not turn into a RST), a reset as a RST.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from router.faults.toxic import DOWNSTREAM, UPSTREAM, Fault

if TYPE_CHECKING:
    from router.faults.registry import FaultRegistry

CHUNK = 32 * 1024
QUEUE_CHUNKS = 16  # chunks read ahead per direction


class Link:
    """One direction of a faulted connection: src socket → toxics → dst socket."""

    def __init__(self, conn: FaultedConnection, src: socket.socket, dst: socket.socket, faults: list[Fault]):
        self.conn = conn
        self.loop = conn.loop
        self.src = src
        self.dst = dst
        self.faults = faults
        self.queue: asyncio.Queue[tuple[float, bytes | BaseException | None]] = asyncio.Queue(QUEUE_CHUNKS)

    async def until(self, due: float) -> None:
        """Wait until the loop's clock reaches `due`. A timer may fire up to a rounding step
        early by that clock (uvloop counts whole milliseconds): a delay must never be short,
        or `service=` in the router's line could read less than the latency asked for."""
        loop = self.loop
        wait = due - loop.time()
        while wait > 0:
            await asyncio.sleep(wait)
            wait = due - loop.time()

    async def read(self) -> None:
        while True:
            try:
                data = await self.loop.sock_recv(self.src, CHUNK)
            except (ConnectionResetError, BrokenPipeError) as exc:
                await self.queue.put((self.loop.time(), exc))
                return
            except OSError as exc:
                await self.queue.put((self.loop.time(), exc))
                return
            await self.queue.put((self.loop.time(), data or None))
            if not data:
                return

    async def write(self) -> None:
        while True:
            arrived, item = await self.queue.get()
            if isinstance(item, BaseException):
                self.conn.reset()  # a reset on one side is passed on as a reset
                return
            if item is None:
                for fault in self.faults:
                    await fault.on_eof(self)
                self.conn.close()
                return
            async for piece in self._through(0, item, arrived):
                await self.loop.sock_sendall(self.dst, piece)
            if self.conn.closing_after_flush:
                self.conn.close()
                return

    async def _through(self, i: int, data: bytes, arrived: float) -> AsyncIterator[bytes]:
        if i == len(self.faults):
            yield data
            return
        async for piece in self.faults[i].pipe(data, arrived, self):
            async for out in self._through(i + 1, piece, arrived):
                yield out


class FaultedConnection:
    """Relays one router↔dyno connection through its faults; `close()` = FIN, `reset()` = RST."""

    def __init__(
        self,
        registry: FaultRegistry,
        router_side: socket.socket,
        dyno_side: socket.socket,
        faults: list[Fault],
    ):
        self.registry = registry
        self.loop = asyncio.get_running_loop()
        self.router_side = router_side
        self.dyno_side = dyno_side
        self.closed = asyncio.Event()
        self.closing_after_flush = False
        self._timers: list[asyncio.TimerHandle] = []
        self._tasks: list[asyncio.Task[None]] = []
        down = [f for f in faults if f.stream == DOWNSTREAM]
        up = [f for f in faults if f.stream == UPSTREAM]
        self.links = (Link(self, dyno_side, router_side, down), Link(self, router_side, dyno_side, up))

    def start(self) -> None:
        self.registry.connections += 1
        self.registry.active += 1
        for link in self.links:
            for fault in link.faults:
                fault.on_open(link)
            self._tasks.append(self.loop.create_task(link.read()))
            self._tasks.append(self.loop.create_task(link.write()))

    def later(self, delay: float, action: Callable[[], None]) -> None:
        self._timers.append(self.loop.call_later(delay, action))

    def close_after_flush(self) -> None:
        self.closing_after_flush = True

    def close(self) -> None:
        self._finish(reset=False)

    def reset(self) -> None:
        self._finish(reset=True)

    def _finish(self, reset: bool) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        self.registry.active -= 1
        for timer in self._timers:
            timer.cancel()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        for sock in (self.router_side, self.dyno_side):
            if reset:  # linger 0: close() sends RST
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.loop.call_soon(_close_socket, sock)
            else:
                # FIN now; keep reading (and discarding) until the peer closes too, because
                # closing with unread data would turn our clean close into a RST
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
                self.loop.call_soon(_linger_close, self.loop, sock)


_LINGER_SECONDS = 2.0
_lingering: set[asyncio.Task[None]] = set()


def _close_socket(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()


def _linger_close(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    async def drain() -> None:
        try:
            async with asyncio.timeout(_LINGER_SECONDS):
                while await loop.sock_recv(sock, CHUNK):
                    pass
        except (OSError, TimeoutError):
            pass
        finally:
            _close_socket(sock)

    task = loop.create_task(drain())
    _lingering.add(task)
    task.add_done_callback(_lingering.discard)


async def loopback_pair(loop: asyncio.AbstractEventLoop) -> tuple[socket.socket, socket.socket]:
    """A connected TCP pair on 127.0.0.1 (real TCP, so RST and FIN behave as on any connection)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    a = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        a.setblocking(False)
        a.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _, (b, _addr) = await asyncio.gather(
            loop.sock_connect(a, listener.getsockname()), loop.sock_accept(listener)
        )
        while b.getpeername() != a.getsockname():  # someone else raced us to the port: drop them
            b.close()
            b, _addr = await loop.sock_accept(listener)
        b.setblocking(False)
        b.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return a, b
    except BaseException:
        a.close()
        raise
    finally:
        listener.close()
