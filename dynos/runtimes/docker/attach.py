"""A container's attach stream: its output (and, for one-offs, its stdin) on one raw connection.

`attach()` sends `POST /containers/{id}/attach` with `Upgrade: tcp`, waits for the engine's
101 answer, then treats the rest of the connection as the dyno's streams. It is opened before
the container starts, so the first line is never lost, and read on the event loop, so no
thread is parked per dyno.
"""

from __future__ import annotations

import asyncio
import struct
from typing import cast
from urllib.parse import urlencode

from dynos.runtimes.base import OutputCallback
from dynos.runtimes.docker.engine import CONTROL_TIMEOUT, Engine, EngineError

MAX_ANSWER_HEAD = 65536


class AttachProtocol(asyncio.Protocol):
    """One container's attach connection.

    Without a TTY the engine frames output as [stream, 0, 0, 0, size (4 bytes, big-endian)] +
    data; with a TTY it is raw bytes. `merge` sends stdout and stderr both to "stdout" (log
    dynos).
    """

    def __init__(self, request: bytes, output: OutputCallback, *, multiplexed: bool, merge: bool):
        self.request = request
        self.output = output
        self.multiplexed = multiplexed
        self.merge = merge
        self.buffer = bytearray()
        self.head: bytearray | None = bytearray()  # None once the HTTP answer was read
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed = asyncio.Event()
        self.paused = False
        self.writable = asyncio.Event()  # cleared while the transport's write buffer is full
        self.writable.set()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self.head is not None:
            data = self._answer(data)
            if not data:
                return
        if self.multiplexed:
            self._frames(data)
        else:
            self.output("stdout", data)

    def _answer(self, data: bytes) -> bytes:
        """Collect the engine's HTTP answer; returns the stream bytes that followed it."""
        assert self.head is not None
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            if len(self.head) > MAX_ANSWER_HEAD:
                self._fail("attach answer has no end of headers")
            return b""
        status = bytes(self.head[: self.head.find(b"\r\n")]).decode(errors="replace")
        rest = bytes(self.head[end + 4 :])
        self.head = None
        if " 101 " not in status and " 200 " not in status:
            self._fail(status)
            return b""
        if not self.ready.done():
            self.ready.set_result(None)
        return rest

    def _frames(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= 8:
            kind, size = self.buffer[0], struct.unpack(">I", self.buffer[4:8])[0]
            if len(self.buffer) < 8 + size:
                break
            payload = bytes(self.buffer[8 : 8 + size])
            del self.buffer[: 8 + size]
            if payload:
                self.output("stderr" if kind == 2 and not self.merge else "stdout", payload)

    def _fail(self, why: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(EngineError(f"attach failed: {why}"))
        if self.transport is not None:
            self.transport.close()

    def eof_received(self) -> bool:
        self._end()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(EngineError(f"attach failed: connection lost ({exc!r})"))
        self._end()

    def _end(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        self.writable.set()  # nobody waits to write into a closed stream
        if self.head is not None:  # never attached: nothing was streamed
            return
        self.output("stdout", b"")
        if self.multiplexed and not self.merge:
            self.output("stderr", b"")

    # ---- what the dyno does with it --------------------------------------------------------
    def pause(self) -> None:
        if self.transport is not None and not self.paused and not self.closed.is_set():
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.transport is not None and self.paused and not self.closed.is_set():
            self.paused = False
            self.transport.resume_reading()

    async def write(self, data: bytes) -> None:
        """To the dyno's stdin; waits while the engine does not take it (bounded buffer)."""
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(data)
        await self.writable.wait()

    def write_eof(self, *, tty: bool) -> None:
        """End of the dyno's stdin: ^D for a terminal (it has no EOF), a half-close otherwise."""
        if self.transport is None or self.transport.is_closing():
            return
        if tty:
            self.transport.write(b"\x04")
        elif self.transport.can_write_eof():
            self.transport.write_eof()  # the engine closes the dyno's stdin

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self._end()


async def attach(
    engine: Engine,
    api_version: str,
    container_id: str,
    output: OutputCallback,
    *,
    stdin: bool,
    tty: bool,
    merge: bool,
) -> AttachProtocol:
    """Attach to a container's streams (before `start`, so no output is missed)."""
    query = urlencode({"stream": 1, "stdout": 1, "stderr": 1, "stdin": int(stdin), "logs": 0})
    request = (
        f"POST /v{api_version}/containers/{container_id}/attach?{query} HTTP/1.1\r\n"
        "Host: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    protocol = AttachProtocol(request, output, multiplexed=not tty, merge=merge)
    await engine.open_connection(lambda: protocol)
    try:
        await asyncio.wait_for(asyncio.shield(protocol.ready), CONTROL_TIMEOUT)
    except BaseException:
        protocol.close()
        raise
    return protocol
