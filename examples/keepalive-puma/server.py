"""A Puma-like app server with a fixed pool of threads, for the keep-alive lesson.

Heroku's post "Pumas, Routers & Keepalives—Oh my!" (2025): with Router 2.0 keeping connections
to dynos open, Puma 6 showed a long latency tail and H12s the legacy router never produced.
Puma 6, after answering a request on a keep-alive connection, waits a moment (up to 0.2 s,
FAST_TRACK_KA_TIMEOUT) for that same connection's next request and serves it inline, ahead of
requests that are already waiting on other connections; it hands the connection back only
after `max_fast_inline` (10) requests and only if the thread pool has a backlog. A router that
reuses connections sends the next request on that connection at once, so one connection keeps
a thread while the others wait. Puma 7 made keep-alive fair: a connection with a new request
goes to the back of the same queue as everybody else.

    PUMA_MODE=6        greedy keep-alive (Puma 6); PUMA_MODE=7 fair (Puma 7)
    PUMA_THREADS=1     threads (each serves one request at a time)
    SERVICE_MS=50      how long a request keeps its thread (the app's work)
    MAX_FAST_INLINE=10 Puma's max_fast_inline
    FAST_TRACK_KA_TIMEOUT=0.2

The "threads" are coroutines and the work is a sleep: what is modelled is the scheduling,
which is all the lesson is about. Standard library only. GET /?... answers 200 with a line
saying which mode served it and how long the request waited for a thread.
"""

from __future__ import annotations

import asyncio
import collections
import os
import sys
import time

MODE = os.environ.get("PUMA_MODE", "6")
THREADS = int(os.environ.get("PUMA_THREADS", "1"))
SERVICE = float(os.environ.get("SERVICE_MS", "50")) / 1000
MAX_FAST_INLINE = int(os.environ.get("MAX_FAST_INLINE", "10"))
FAST_TRACK_KA_TIMEOUT = float(os.environ.get("FAST_TRACK_KA_TIMEOUT", "0.2"))
MAX_HEAD = 64 * 1024


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.requests: asyncio.Queue[tuple[bool, float]] = asyncio.Queue()  # (keep-alive, arrived)
        self.held = False  # a thread is serving it (or waiting inline for its next request)
        self.closed = False


class Server:
    def __init__(self) -> None:
        self.ready: collections.deque[Conn] = collections.deque()  # connections with a request waiting
        self.wakeup = asyncio.Condition()
        self.served = 0

    # ---- reading: one task per connection parses requests as they come ---------------------
    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Conn(reader, writer)
        try:
            while not conn.closed:
                head = await reader.readuntil(b"\r\n\r\n")
                if len(head) > MAX_HEAD:
                    break
                await self._skip_body(reader, head)
                keep = b"connection: close" not in head.lower()
                await self.arrived(conn, keep)
                if not keep:
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        conn.closed = True

    async def _skip_body(self, reader: asyncio.StreamReader, head: bytes) -> None:
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                await reader.readexactly(int(value.strip()))

    async def arrived(self, conn: Conn, keep: bool) -> None:
        conn.requests.put_nowait((keep, time.monotonic()))
        if conn.held:
            return  # the thread holding it will take it (Puma 6's inline wait)
        async with self.wakeup:
            self.ready.append(conn)
            self.wakeup.notify()

    # ---- threads ---------------------------------------------------------------------------
    async def thread(self) -> None:
        while True:
            async with self.wakeup:
                await self.wakeup.wait_for(lambda: bool(self.ready))
                conn = self.ready.popleft()
            conn.held = True
            try:
                await self.serve(conn)
            finally:
                conn.held = False
            if not conn.requests.empty() and not conn.closed:
                async with self.wakeup:  # a request came meanwhile: back of the queue
                    self.ready.append(conn)
                    self.wakeup.notify()

    async def serve(self, conn: Conn) -> None:
        inline = 0
        keep, arrived = conn.requests.get_nowait()
        while True:
            await self.answer(conn, keep, arrived)
            inline += 1
            if not keep or conn.closed or MODE != "6":
                return  # Puma 7: the connection waits its turn like everyone else
            if inline >= MAX_FAST_INLINE and self.ready:
                return  # Puma 6 gives the connection back only when others are waiting
            try:  # Puma 6: wait a moment for this connection's next request, and serve it first
                keep, arrived = await asyncio.wait_for(conn.requests.get(), FAST_TRACK_KA_TIMEOUT)
            except TimeoutError:
                return

    async def answer(self, conn: Conn, keep: bool, arrived: float) -> None:
        waited = time.monotonic() - arrived
        await asyncio.sleep(SERVICE)  # the app's work, holding this thread
        self.served += 1
        body = f"puma-{MODE} waited {waited * 1000:.0f}ms for a thread\n".encode()
        head = f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
        head += "Connection: keep-alive\r\n\r\n" if keep else "Connection: close\r\n\r\n"
        try:
            conn.writer.write(head.encode() + body)
            await conn.writer.drain()
            if not keep:
                conn.writer.close()
                conn.closed = True
        except ConnectionError:
            conn.closed = True


async def main() -> None:
    server = Server()
    listener = await asyncio.start_server(server.connection, "127.0.0.1", int(os.environ.get("PORT", "5000")))
    threads = [asyncio.create_task(server.thread()) for _ in range(THREADS)]
    print(f"puma-{MODE}-like server: {THREADS} thread(s), {SERVICE * 1000:.0f} ms per request", flush=True)
    async with listener:
        await listener.serve_forever()
    for t in threads:
        t.cancel()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
