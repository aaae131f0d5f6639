"""Dyno faults: toxiproxy-style toxics on the router↔dyno byte streams, per dyno.

A fault is one small type with named attributes (the model is Shopify/toxiproxy's `toxics/`):

    latency     latency ms (± jitter ms) added to every chunk        → shows in `service=`
    timeout     data stops; the connection closes after `timeout` ms  → H12 (0 = hold forever),
                                                                          H13 when it closes first
    reset_peer  TCP RST `timeout` ms after the connection opens       → H13 (H18 if mid-response)
    slow_close  the close is passed on `delay` ms late                → `service=` of close-delimited
                                                                          responses grows
    bandwidth   at most `rate` KB/s                                    → `service=` grows with size
    limit_data  the connection closes after `bytes` bytes              → H18 (H13 when bytes=0)

Each fault acts on one direction (`stream`): "downstream" = dyno → router (the default, what
the router reads), "upstream" = router → dyno. `toxicity` is the chance (0..1) that a new
connection gets the fault.

How it plugs in: the router opens every dyno connection through its `connector`
(router/connector.py). `FaultConnector` wraps that connector; when the target dyno has
faults it connects to the dyno for real (so a refused connect is still a real H21), then
hands the router one end of a fresh loopback TCP pair and relays bytes between the other end
and the dyno through the toxics. The router therefore sees real sockets doing real things
(a RST is a RST, a close is a FIN) and its own detection decides the H-code. Without faults
for that dyno the wrapped connector is used untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import random
import socket
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from router.connector import Connector, ProtocolFactory
from router.table import Backend

DOWNSTREAM = "downstream"  # dyno → router
UPSTREAM = "upstream"  # router → dyno
STREAMS = (DOWNSTREAM, UPSTREAM)
CHUNK = 32 * 1024
QUEUE_CHUNKS = 16  # chunks read ahead per direction (latency is applied per chunk, not summed)
MAX_FAULTED_CONNECTIONS = 1024  # over this, new connections bypass faults (counted)
MAX_FAULTS_PER_DYNO = 16
_Bytes = bytes  # LimitData has an attribute named `bytes` (toxiproxy's name)


class FaultError(ValueError):
    """Bad fault input, worded for the person who typed it."""


# ---------------------------------------------------------------------------------- the types
@dataclass
class Fault:
    """Base: name, stream, toxicity. Subclasses add their named attributes (ints)."""

    type: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    name: str = ""
    stream: str = DOWNSTREAM
    toxicity: float = 1.0

    def attributes(self) -> dict[str, int]:
        base = {"name", "stream", "toxicity"}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.init and f.name not in base}

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": self.attributes(),
        }

    def describe(self) -> str:
        attrs = " ".join(f"{k}={v}" for k, v in self.attributes().items())
        extra = f" toxicity={self.toxicity:g}" if self.toxicity < 1 else ""
        return f"{self.type} {attrs} ({self.stream}{extra})".replace("  ", " ")

    # per-connection behaviour; a fresh copy of the fault runs on each connection
    def on_open(self, link: Link) -> None:
        """Called when the connection opens (timers start here)."""

    async def pipe(self, data: bytes, arrived: float, link: Link) -> AsyncIterator[bytes]:
        yield data

    async def on_eof(self, link: Link) -> None:
        """Called when the source closed, before the close is passed on."""


@dataclass
class Latency(Fault):
    type: ClassVar[str] = "latency"
    summary: ClassVar[str] = "add latency ± jitter ms to every chunk"
    latency: int = 0
    jitter: int = 0

    async def pipe(self, data: bytes, arrived: float, link: Link) -> AsyncIterator[bytes]:
        jitter = random.uniform(-self.jitter, self.jitter) if self.jitter else 0.0
        due = arrived + max(0.0, self.latency + jitter) / 1000
        wait = due - link.loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        yield data


@dataclass
class Timeout(Fault):
    type: ClassVar[str] = "timeout"
    summary: ClassVar[str] = "stop all data; close after timeout ms (0 = hold forever)"
    timeout: int = 0

    def on_open(self, link: Link) -> None:
        if self.timeout > 0:
            link.conn.later(self.timeout / 1000, link.conn.close)

    async def pipe(self, data: bytes, arrived: float, link: Link) -> AsyncIterator[bytes]:
        await link.conn.closed.wait()  # the data is swallowed; nothing ever comes out
        return
        yield data  # pragma: no cover  (makes this an async generator)


@dataclass
class ResetPeer(Fault):
    type: ClassVar[str] = "reset_peer"
    summary: ClassVar[str] = "TCP RST timeout ms after the connection opens"
    timeout: int = 0

    def on_open(self, link: Link) -> None:
        link.conn.later(self.timeout / 1000, link.conn.reset)


@dataclass
class SlowClose(Fault):
    type: ClassVar[str] = "slow_close"
    summary: ClassVar[str] = "pass the close on delay ms late"
    delay: int = 0

    async def on_eof(self, link: Link) -> None:
        await asyncio.sleep(self.delay / 1000)


@dataclass
class Bandwidth(Fault):
    type: ClassVar[str] = "bandwidth"
    summary: ClassVar[str] = "limit the stream to rate KB/s"
    rate: int = 0

    async def pipe(self, data: bytes, arrived: float, link: Link) -> AsyncIterator[bytes]:
        per_second = self.rate * 1024
        if per_second <= 0:  # rate 0: nothing gets through, like toxiproxy
            await link.conn.closed.wait()
            return
        step = max(1, per_second // 10)  # 100 ms worth at a time
        for i in range(0, len(data), step):
            piece = data[i : i + step]
            await asyncio.sleep(len(piece) / per_second)
            yield piece


@dataclass
class LimitData(Fault):
    type: ClassVar[str] = "limit_data"
    summary: ClassVar[str] = "close the connection after bytes bytes"
    bytes: int = 0
    _passed: int = field(default=0, init=False, repr=False, compare=False)

    def on_open(self, link: Link) -> None:
        if self.bytes <= 0:
            link.conn.later(0, link.conn.close)

    async def pipe(self, data: _Bytes, arrived: float, link: Link) -> AsyncIterator[_Bytes]:
        room = self.bytes - self._passed
        if room > 0:
            piece = data[:room]
            self._passed += len(piece)
            yield piece
        if self._passed >= self.bytes:
            link.conn.close_after_flush()


FAULT_TYPES: dict[str, type[Fault]] = {
    t.type: t for t in (Latency, Timeout, ResetPeer, SlowClose, Bandwidth, LimitData)
}


def make_fault(
    kind: str,
    attributes: dict[str, Any] | None = None,
    *,
    name: str | None = None,
    stream: str = DOWNSTREAM,
    toxicity: float = 1.0,
) -> Fault:
    """Build and validate a fault from API/CLI input; raises FaultError with a clear message."""
    cls = FAULT_TYPES.get(kind)
    if cls is None:
        raise FaultError(f"unknown fault type {kind!r}; choose one of: {', '.join(FAULT_TYPES)}")
    if stream not in STREAMS:
        raise FaultError(f"stream must be downstream or upstream, not {stream!r}")
    try:
        toxicity = float(toxicity)
    except (TypeError, ValueError):
        raise FaultError(f"toxicity must be a number between 0 and 1, not {toxicity!r}") from None
    if not 0.0 <= toxicity <= 1.0:
        raise FaultError(f"toxicity must be between 0 and 1, not {toxicity:g}")
    allowed = {f.name for f in fields(cls) if f.init} - {"name", "stream", "toxicity"}
    values: dict[str, int] = {}
    for key, raw in (attributes or {}).items():
        if key not in allowed:
            names = ", ".join(sorted(allowed)) or "none"
            raise FaultError(f"{kind} has no attribute {key!r} (attributes: {names})")
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise FaultError(f"{kind} {key} must be a whole number, not {raw!r}") from None
        if value < 0 or value > 10**9:
            raise FaultError(f"{kind} {key} must be between 0 and 1000000000, not {value}")
        values[key] = value
    if kind == "latency" and values.get("jitter", 0) > values.get("latency", 0) and "latency" in values:
        pass  # a jitter larger than the latency is allowed; delays are clamped at 0
    fault_name = name or kind
    if not fault_name or len(fault_name) > 64 or not all(c.isalnum() or c in "-_." for c in fault_name):
        raise FaultError(f"fault name {fault_name!r} must be 1-64 letters, digits, '-', '_' or '.'")
    return cls(name=fault_name, stream=stream, toxicity=toxicity, **values)


# ---------------------------------------------------------------------------------- the registry
@dataclass
class Entry:
    app: str
    target: str  # "web.1", or a process type ("web") meaning all its dynos
    fault: Fault
    connections: int = 0  # connections it was applied to

    def to_json(self) -> dict[str, Any]:
        return {"app": self.app, "dyno": self.target, **self.fault.to_json(), "connections": self.connections}


class FaultRegistry:
    """In-memory faults per (app, dyno). Lives on the daemon (`daemon.faults`); loop thread only."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, list[Entry]]] = {}  # app -> target -> entries
        self.connections = 0  # faulted connections opened
        self.active = 0  # faulted connections open now
        self.bypassed = 0  # connections that skipped faults because MAX_FAULTED_CONNECTIONS was reached

    def __bool__(self) -> bool:
        return bool(self._entries)

    def add(self, app: str, target: str, fault: Fault) -> Entry:
        entries = self._entries.setdefault(app, {}).setdefault(target, [])
        if any(e.fault.name == fault.name for e in entries):
            raise FaultError(
                f"{target} on {app} already has a fault named {fault.name}; remove it first or pass --name"
            )
        if len(entries) >= MAX_FAULTS_PER_DYNO:
            raise FaultError(f"{target} on {app} already has {MAX_FAULTS_PER_DYNO} faults")
        entry = Entry(app, target, fault)
        entries.append(entry)
        return entry

    def remove(self, app: str, target: str, name: str) -> Entry:
        entries = self._entries.get(app, {}).get(target, [])
        for entry in entries:
            if entry.fault.name == name:
                entries.remove(entry)
                self._prune(app, target)
                return entry
        raise KeyError(f"{target} on {app} has no fault named {name}")

    def clear(self, app: str, target: str | None = None) -> int:
        targets = self._entries.get(app, {})
        if target is None:
            count = sum(len(v) for v in targets.values())
            self._entries.pop(app, None)
            return count
        count = len(targets.pop(target, []))
        self._prune(app, target)
        return count

    def _prune(self, app: str, target: str) -> None:
        targets = self._entries.get(app)
        if targets is not None:
            if not targets.get(target, True):
                del targets[target]
            if not targets:
                del self._entries[app]

    def entries(self, app: str | None = None) -> list[Entry]:
        apps = [app] if app is not None else sorted(self._entries)
        out: list[Entry] = []
        for name in apps:
            for target in sorted(self._entries.get(name, {})):
                out += self._entries[name][target]
        return out

    def apps(self) -> list[str]:
        return list(self._entries)

    def pick(self, app: str, dyno: str) -> list[Fault]:
        """Fresh copies of the faults that apply to a new connection to this dyno (toxicity rolled)."""
        targets = self._entries.get(app)
        if not targets:
            return []
        ptype = dyno.split(".", 1)[0]
        chosen: list[Fault] = []
        for target in (ptype, dyno):
            for entry in targets.get(target, []):
                if entry.fault.toxicity >= 1.0 or random.random() < entry.fault.toxicity:
                    entry.connections += 1
                    chosen.append(copy.copy(entry.fault))
        return chosen

    def stats(self) -> dict[str, int]:
        return {
            "faults": len(self.entries()),
            "connections": self.connections,
            "active": self.active,
            "bypassed": self.bypassed,
        }


# ---------------------------------------------------------------------------------- the relay
class Link:
    """One direction of a faulted connection: src socket → toxics → dst socket."""

    def __init__(self, conn: FaultedConnection, src: socket.socket, dst: socket.socket, faults: list[Fault]):
        self.conn = conn
        self.loop = conn.loop
        self.src = src
        self.dst = dst
        self.faults = faults
        self.queue: asyncio.Queue[tuple[float, bytes | BaseException | None]] = asyncio.Queue(QUEUE_CHUNKS)

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


async def _loopback_pair(loop: asyncio.AbstractEventLoop) -> tuple[socket.socket, socket.socket]:
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


class FaultConnector:
    """A Connector that passes dyno connections through their faults (see the module docstring).

    `locate(backend)` names the app a backend belongs to (Backend carries only the dyno name
    and address); it is only called while some app has faults.
    """

    def __init__(self, inner: Connector, registry: FaultRegistry, locate: Callable[[Backend], str | None]):
        self.inner = inner
        self.registry = registry
        self.locate = locate

    async def connect(
        self, backend: Backend, factory: ProtocolFactory
    ) -> tuple[asyncio.BaseTransport, asyncio.Protocol]:
        registry = self.registry
        if not registry:
            return await self.inner.connect(backend, factory)
        app = self.locate(backend)
        faults = registry.pick(app, backend.dyno) if app else []
        if not faults:
            return await self.inner.connect(backend, factory)
        if registry.active >= MAX_FAULTED_CONNECTIONS:
            registry.bypassed += 1
            return await self.inner.connect(backend, factory)
        loop = asyncio.get_running_loop()
        dyno = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            dyno.setblocking(False)
            dyno.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await loop.sock_connect(dyno, (backend.host, backend.port))  # refused stays refused (H21)
            router_end, relay_end = await _loopback_pair(loop)
        except BaseException:
            dyno.close()
            raise
        try:
            transport, protocol = await loop.create_connection(factory, sock=router_end)
        except BaseException:
            for s in (router_end, relay_end, dyno):
                s.close()
            raise
        FaultedConnection(registry, relay_end, dyno, faults).start()
        return transport, protocol


def install(router: Any, registry: FaultRegistry, locate: Callable[[Backend], str | None]) -> FaultConnector:
    """Wrap a Router's connector once (idempotent); returns the FaultConnector in place."""
    current = router.connector
    if isinstance(current, FaultConnector):
        return current
    wrapper = FaultConnector(current, registry, locate)
    router.connector = wrapper
    return wrapper
