"""A dyno that records every request it parses, to check what really reaches an app.

    async with RecorderDyno() as dyno:             # listens on 127.0.0.1, any free port
        harness.add_app("demo", [dyno.backend])
        ...
        await dyno.wait_closed()                   # every connection it accepted has ended
        dyno.requests                              # [Seen(method, target, headers, body, complete)]
        dyno.garbage                               # bytes it could not parse as a request

It parses with h11, a strict HTTP/1.1 implementation independent of the router's llhttp, and
answers each request `200 ok` (or, with `answer=False`, never) (keeping the connection when the request allows it, as Router
2.0 wants). Bytes that do not parse as a request (a second request hidden in a body the router
framed differently, bytes after `Connection: close`) end up in `garbage`, never silently.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from types import TracebackType

import h11

from router.table import Backend


@dataclass
class Seen:
    connection: int
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    complete: bool = False

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        key = name.lower()
        return [v for k, v in self.headers if k == key]


@dataclass
class Garbage:
    connection: int
    data: bytes
    error: str


@dataclass
class RecorderDyno:
    dyno: str = "web.1"
    answer: bool = True  # False: a dyno that thinks forever (records, never answers)
    requests: list[Seen] = field(default_factory=list)
    garbage: list[Garbage] = field(default_factory=list)
    connections: int = 0
    port: int = 0

    def __post_init__(self) -> None:
        self._open = 0
        self._changed = asyncio.Event()
        self._ids = itertools.count(1)
        self._server: asyncio.Server | None = None

    @property
    def backend(self) -> Backend:
        return Backend(self.dyno, "127.0.0.1", self.port)

    async def start(self) -> RecorderDyno:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> RecorderDyno:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def wait_requests(self, count: int, timeout: float = 10.0) -> None:
        """Until `count` request heads have been parsed."""
        await self._wait(lambda: len(self.requests) >= count, timeout)

    async def wait_closed(self, timeout: float = 10.0) -> None:
        """Until every connection accepted so far has ended (so every byte sent was parsed)."""
        await self._wait(lambda: self._open == 0, timeout)

    async def _wait(self, done: object, timeout: float) -> None:
        assert callable(done)
        async with asyncio.timeout(timeout):
            while not done():
                self._changed.clear()
                await self._changed.wait()

    def _note(self) -> None:
        self._changed.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn_id = next(self._ids)
        self.connections += 1
        self._open += 1
        self._note()
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=1 << 20)
        try:
            await self._converse(conn_id, conn, reader, writer)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            self._open -= 1
            self._note()

    async def _converse(
        self, conn_id: int, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        current: list[Seen] = []  # the request being read, if any
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                self._garbage(conn_id, conn, str(exc))
                return
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                if not data:
                    self._ended(conn_id, conn, current[-1] if current else None)
                    return
                conn.receive_data(data)
            elif (
                event is h11.PAUSED
                or isinstance(event, h11.ConnectionClosed)
                or not await self._on_event(conn_id, conn, event, current, writer)
            ):
                await self._drain(conn_id, conn, reader)
                return

    async def _on_event(
        self,
        conn_id: int,
        conn: h11.Connection,
        event: object,
        current: list[Seen],
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Record one parsed event; False when nothing more may come on this connection."""
        if isinstance(event, h11.Request):
            seen = Seen(
                conn_id,
                event.method.decode("latin-1"),
                event.target.decode("latin-1"),
                [(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers],
            )
            current[:] = [seen]
            self.requests.append(seen)
            self._note()
        elif isinstance(event, h11.Data) and current:
            current[-1].body += bytes(event.data)
        elif isinstance(event, h11.EndOfMessage) and current:
            current[-1].complete = True
            current.clear()
            self._note()
            return self.answer and await self._answer(conn, writer)
        return True

    def _ended(self, conn_id: int, conn: h11.Connection, current: Seen | None) -> None:
        """The router closed: a request cut short stays recorded as incomplete; bytes that
        never made a request head are garbage."""
        if current is not None and not current.complete:
            return
        data, _closed = conn.trailing_data
        if data:
            self._garbage(conn_id, conn, "a partial request head before the close")

    async def _drain(self, conn_id: int, conn: h11.Connection, reader: asyncio.StreamReader) -> None:
        """After the last request a connection may carry: anything more is garbage."""
        data, _closed = conn.trailing_data
        rest = bytes(data)
        while chunk := await reader.read(65536):
            rest += chunk
        if rest:
            self.garbage.append(Garbage(conn_id, rest, "bytes after the last request"))
            self._note()

    async def _answer(self, conn: h11.Connection, writer: asyncio.StreamWriter) -> bool:
        """200 ok; False when the connection must close after it."""
        out = conn.send(h11.Response(status_code=200, headers=[("Content-Length", "3")]))
        out = (
            (out or b"") + (conn.send(h11.Data(data=b"ok\n")) or b"") + (conn.send(h11.EndOfMessage()) or b"")
        )
        writer.write(out)
        await writer.drain()
        if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
            return False
        conn.start_next_cycle()
        return True

    def _garbage(self, conn_id: int, conn: h11.Connection, error: str) -> None:
        data, _closed = conn.trailing_data
        self.garbage.append(Garbage(conn_id, bytes(data), error))
        self._note()
