"""A small web dyno that misbehaves on request: the real conditions behind the H-codes.

Run it as a web process (`python -m tests.support.labdyno --port $PORT`) and ask for a path; each
path makes the dyno do one real thing at the socket, and the router's detection names it:

    /                      200 "ok"
    /echo                  200, JSON of the request as the dyno saw it (method, path, headers, body size)
    /sleep?s=2.5           answers after s seconds                              (H12 past router_timeout)
    /close                 reads the request, closes without a byte             (H13)
    /reset                 reads the request, resets the connection             (H13)
    /exit                  the process exits mid-request (Puma H13 story, step 1) (H13)
    /partial               Content-Length: 100, sends 10 bytes, closes          (H18)
    /stall                 sends the head and 10 of 100 bytes, then goes quiet  (H15)
    /noreason              "HTTP/1.1 200" without a reason phrase                (H17)
    /garbage               not HTTP at all                                        (H17)
    /conflicting-length    two different Content-Lengths                          (H25)
    /duplicate-length      two identical Content-Lengths (Heroku merges them)     (200)
    /big-cookie            a 9000-byte Set-Cookie                                 (H25)
    /big-header            a 600 KiB header line                                  (H25)
    /long-status           a 9000-byte status line                                (H25)
    /bytes?n=N             N bytes with Content-Length, streamed
    /chunked?n=N           N bytes, chunked
    /until-close?n=N       N bytes, no length, then close
    /sink                  reads the whole body, answers {"bytes": N}
    /ws                    WebSocket echo

Options reproduce dyno-level conditions:
    --no-accept            listen with a full accept queue and never accept      (H19)
    --keepalive-timeout T  close idle keep-alive connections after T s (Router 2.0 race)
    --close-on-reuse       close a kept-alive connection when its next request arrives (the race, every time)
    --on-sigterm naive     stop accepting but keep the socket open, exit after --grace s:
                           queued connections are reset                          (H13, as Puma < 4)
    --on-sigterm drain     close the listening socket first: new connections are refused,
                           the router retries another dyno                        (no error, Puma 4)

It prints `PORT <n>` on stdout once listening (so `--port 0` works in tests).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import signal
import socket
import struct
import sys
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_CHUNK = 1 << 20


class Request:
    def __init__(self, method: str, target: str, version: str, headers: list[tuple[str, str]]):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        split = urlsplit(target)
        self.path = split.path
        self.query = {k: v[0] for k, v in parse_qs(split.query).items()}

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    @property
    def keep_alive(self) -> bool:
        conn = (self.header("connection") or "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in conn
        return "close" not in conn


class LabDyno:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.dyno = args.dyno
        self.listener: socket.socket | None = None
        self.accepting = True
        self.tasks: set[asyncio.Task[None]] = set()
        self.watcher: asyncio.Task[None] | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((self.args.host, self.args.port))
        lsock.listen(0 if self.args.no_accept else self.args.backlog)
        lsock.setblocking(False)
        self.listener = lsock
        port = lsock.getsockname()[1]
        filler = None
        if self.args.no_accept:
            # fill the accept queue ourselves: the kernel now drops new SYNs, connects hang
            filler = socket.create_connection((self.args.host, port))
        print(f"PORT {port}", flush=True)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, lambda: self._sigterm(stop))
        loop.add_signal_handler(signal.SIGINT, stop.set)
        if self.args.die_with_parent:
            self.watcher = asyncio.create_task(_watch_parent(os.getppid()))
        if self.args.no_accept:
            await stop.wait()
            del filler
            return
        accept = asyncio.create_task(self._accept_loop(lsock))
        await stop.wait()
        accept.cancel()
        if self.args.on_sigterm == "naive":
            await asyncio.sleep(self.args.grace)
            os._exit(143)  # the socket closes with connections still queued: they are reset
        if self.listener is not None:
            self.listener.close()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=self.args.grace)

    def _sigterm(self, stop: asyncio.Event) -> None:
        self.accepting = False
        if self.args.on_sigterm == "drain" and self.listener is not None:
            self.listener.close()  # refuse new connections at once: the router retries elsewhere
            self.listener = None
        stop.set()

    async def _accept_loop(self, lsock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while self.accepting:
            try:
                conn, _ = await loop.sock_accept(lsock)
            except OSError:
                return
            task = asyncio.create_task(self._serve(conn))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader, writer = await asyncio.open_connection(sock=conn, limit=1 << 20)
        served = 0
        try:
            while True:
                timeout = self.args.keepalive_timeout if served else None
                try:
                    if served and self.args.close_on_reuse:
                        # the next request is arriving: hang up on it, as a server whose
                        # keep-alive timer fires at that instant does
                        await reader.readexactly(1)
                        _reset(writer)
                        return
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
                except (
                    TimeoutError,
                    asyncio.IncompleteReadError,
                    ConnectionError,
                    asyncio.LimitOverrunError,
                ):
                    return
                req = _parse_head(head)
                if req is None:
                    return
                keep = await self._handle(req, reader, writer)
                served += 1
                if not keep or not req.keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _handle(self, req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the connection must not be reused."""
        path = req.path
        if path == "/ws":
            await self._websocket(req, reader, writer)
            return False
        if path == "/sink":
            n = await _read_body(req, reader, count_only=True)
            await _respond(
                writer, 200, json.dumps({"bytes": n, "dyno": self.dyno}).encode(), "application/json"
            )
            return True
        body_len = await _read_body(req, reader, count_only=True)
        canned = _CANNED.get(path)
        if canned is not None:
            answer, keep = canned
            writer.write(answer)
            await writer.drain()
            return keep
        if path == "/echo":
            payload = {
                "method": req.method,
                "path": req.target,
                "version": req.version,
                "headers": req.headers,
                "body_bytes": body_len,
                "dyno": self.dyno,
            }
            await _respond(writer, 200, json.dumps(payload).encode(), "application/json")
            return True
        misbehaviour = _MISBEHAVIOURS.get(path)
        if misbehaviour is not None:
            return await misbehaviour(req, writer)
        await _respond(writer, 200, b"ok\n")
        return True

    async def _websocket(
        self, req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        key = (req.header("sec-websocket-key") or "").encode()
        accept = base64.b64encode(hashlib.sha1(key + _WS_GUID).digest())
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        await writer.drain()
        while True:
            b1, b2 = await reader.readexactly(2)
            opcode = b1 & 0x0F
            length = b2 & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await reader.readexactly(8))
            mask = await reader.readexactly(4) if b2 & 0x80 else b"\0\0\0\0"
            data = bytearray(await reader.readexactly(length))
            for i in range(length):
                data[i] ^= mask[i % 4]
            if opcode == 0x8:
                writer.write(_ws_frame(0x8, bytes(data[:2])))
                await writer.drain()
                return
            if opcode == 0x9:
                writer.write(_ws_frame(0xA, bytes(data)))
            elif opcode in (0x1, 0x2):
                writer.write(_ws_frame(opcode, bytes(data)))
            await writer.drain()


async def _watch_parent(ppid: int) -> None:
    """Exit when the process that started us is gone (a killed test run leaves no orphan)."""
    while os.getppid() == ppid:
        await asyncio.sleep(1.0)
    os._exit(0)


def _ws_frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return header + payload


def _parse_head(head: bytes) -> Request | None:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        return None
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return Request(parts[0], parts[1], parts[2], headers)


async def _read_body(req: Request, reader: asyncio.StreamReader, count_only: bool) -> int:
    if "chunked" in (req.header("transfer-encoding") or "").lower():
        total = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers
                return total
            left = size
            while left:
                chunk = await reader.read(min(left, _CHUNK))
                if not chunk:
                    raise asyncio.IncompleteReadError(b"", left)
                left -= len(chunk)
            total += size
            await reader.readexactly(2)
    length = int(req.header("content-length") or "0")
    left = length
    while left:
        chunk = await reader.read(min(left, _CHUNK))
        if not chunk:
            raise asyncio.IncompleteReadError(b"", left)
        left -= len(chunk)
    return length


async def _respond(writer: asyncio.StreamWriter, status: int, body: bytes, ctype: str = "text/plain") -> None:
    writer.write(
        b"HTTP/1.1 %d OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s"
        % (status, ctype.encode(), len(body), body)
    )
    await writer.drain()


async def _stream(writer: asyncio.StreamWriter, n: int) -> None:
    block = b"b" * min(_CHUNK, max(n, 1))
    left = n
    while left > 0:
        part = block if left >= len(block) else block[:left]
        writer.write(part)
        await writer.drain()
        left -= len(part)


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.labdyno", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "0")))
    parser.add_argument("--dyno", default=os.environ.get("DYNO", "web.1"))
    parser.add_argument("--backlog", type=int, default=1024)
    parser.add_argument("--no-accept", action="store_true")
    parser.add_argument("--keepalive-timeout", type=float, default=None)
    parser.add_argument("--close-on-reuse", action="store_true")
    parser.add_argument("--on-sigterm", choices=("naive", "drain"), default="drain")
    parser.add_argument("--grace", type=float, default=1.0)
    parser.add_argument("--die-with-parent", action="store_true", help="exit when the parent process exits")
    args = parser.parse_args(argv)
    try:
        asyncio.run(LabDyno(args).run())
    except KeyboardInterrupt:
        pass
    sys.exit(0)


# ---------------------------------------------------------------------------------- the paths
# misbehaviours that are one fixed answer: path → (what the dyno writes, connection reusable)
_CANNED: dict[str, tuple[bytes, bool]] = {
    "/noreason": (b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", False),
    "/garbage": (b"this is not http\r\n\r\n", False),
    "/conflicting-length": (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", False),
    "/duplicate-length": (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", True),
    "/big-cookie": (
        b"HTTP/1.1 200 OK\r\nSet-Cookie: a=" + b"c" * 9000 + b"\r\nContent-Length: 2\r\n\r\nok",
        False,
    ),
    "/big-header": (
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"h" * (600 * 1024) + b"\r\nContent-Length: 2\r\n\r\nok",
        False,
    ),
    "/long-status": (b"HTTP/1.1 200 " + b"O" * 9000 + b"\r\nContent-Length: 2\r\n\r\nok", False),
}


async def _sleep(req: Request, writer: asyncio.StreamWriter) -> bool:
    await asyncio.sleep(float(req.query.get("s", "1")))
    await _respond(writer, 200, b"slept\n")
    return True


async def _close(req: Request, writer: asyncio.StreamWriter) -> bool:
    writer.close()
    return False


async def _reset_it(req: Request, writer: asyncio.StreamWriter) -> bool:
    _reset(writer)
    return False


async def _exit(req: Request, writer: asyncio.StreamWriter) -> bool:
    os._exit(1)


async def _partial(req: Request, writer: asyncio.StreamWriter) -> bool:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.close()
    return False


async def _stall(req: Request, writer: asyncio.StreamWriter) -> bool:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
    await writer.drain()
    await asyncio.sleep(3600)
    return False


async def _bytes(req: Request, writer: asyncio.StreamWriter) -> bool:
    n = int(req.query.get("n", "0"))
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % n
    )
    await _stream(writer, n)
    return True


async def _chunked(req: Request, writer: asyncio.StreamWriter) -> bool:
    n = int(req.query.get("n", "0"))
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    left = n
    block = b"c" * min(_CHUNK, max(n, 1))
    while left > 0:
        part = block[: min(left, len(block))]
        writer.write(b"%x\r\n" % len(part) + part + b"\r\n")
        await writer.drain()
        left -= len(part)
    writer.write(b"0\r\n\r\n")
    await writer.drain()
    return True


async def _until_close(req: Request, writer: asyncio.StreamWriter) -> bool:
    n = int(req.query.get("n", "0"))
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
    await _stream(writer, n)
    writer.close()
    return False


# misbehaviours that take some doing: path → handler (returns whether the connection is reusable)
_MISBEHAVIOURS: dict[str, Callable[[Request, asyncio.StreamWriter], Awaitable[bool]]] = {
    "/sleep": _sleep,
    "/close": _close,
    "/reset": _reset_it,
    "/exit": _exit,
    "/partial": _partial,
    "/stall": _stall,
    "/bytes": _bytes,
    "/chunked": _chunked,
    "/until-close": _until_close,
}


if __name__ == "__main__":
    main()
