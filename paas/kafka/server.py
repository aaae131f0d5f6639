"""Listeners and the per-connection loop: read a frame, let the broker handle it, answer.

Requests on one connection are handled one at a time, in order, as Kafka does (a long-poll
Fetch holds that connection only). Anything that cannot be framed or parsed closes the
connection (Kafka's behaviour for malformed requests and unknown API keys) after a log line;
other connections and the logs are unaffected. Throttling (quotas) is applied by not reading
the next request until the throttle time has passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import struct
from collections.abc import Callable

from . import protocol as P
from .auth import Principal
from .broker import Broker, Reply, Session

log = logging.getLogger("paas.kafka")

MAX_FRAME_BYTES = 16 << 20  # well above every client's max request size (1 MB defaults)
IDLE_TIMEOUT = 600.0  # connections.max.idle.ms
WRITE_HIGH_WATER = 4 << 20
_SIZE = struct.Struct(">i")


class Listener:
    def __init__(
        self,
        broker: Broker,
        name: str,
        max_connections: int,
        ssl_context: ssl.SSLContext | None = None,
        identify: Callable[[ssl.SSLObject | None], Principal | None] | None = None,
    ):
        self.broker = broker
        self.name = name
        self.ssl_context = ssl_context
        self.identify = identify
        self.max_connections = max_connections
        self.server: asyncio.Server | None = None
        self.port = 0
        self.connections: set[asyncio.Task[None]] = set()
        self.writers: dict[asyncio.StreamWriter, Session] = {}

    async def start(self, host: str, port: int) -> int:
        self.server = await asyncio.start_server(
            self._serve, host, port, ssl=self.ssl_context, limit=1 << 20, backlog=512
        )
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for w in list(self.writers):
            w.close()
        for task in list(self.connections):
            task.cancel()
        for task in list(self.connections):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self.connections) >= self.max_connections:
            self.broker.stats.connections_refused += 1
            writer.close()
            return
        self.connections.add(task)
        peer = writer.get_extra_info("peername")
        session = Session(self.name, self.port, peer[0] if peer else "?")
        self.writers[writer] = session
        if self.identify is not None:
            principal = self.identify(writer.get_extra_info("ssl_object"))
            if principal is None:  # TLS without a usable client certificate
                log.warning("kafka: TLS client %s presented no usable client certificate", session.peer)
                self._drop(task, writer)
                return
            session.principal = principal
        try:
            await self._loop(session, reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError, ssl.SSLError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:  # never let one connection take the broker down
            log.exception("kafka: connection from %s failed", session.peer)
        finally:
            self._drop(task, writer)

    def _drop(self, task: asyncio.Task[None], writer: asyncio.StreamWriter) -> None:
        self.connections.discard(task)
        self.writers.pop(writer, None)
        with contextlib.suppress(Exception):
            writer.close()

    async def _read_frame(self, session: Session, reader: asyncio.StreamReader) -> bytes | None:
        async with asyncio.timeout(IDLE_TIMEOUT):
            head = await reader.readexactly(4)
        (size,) = _SIZE.unpack(head)
        if size <= 0 or size > MAX_FRAME_BYTES:
            self.broker.stats.bad_frames += 1
            log.warning("kafka: %s sent a frame of %d bytes; closing the connection", session.peer, size)
            return None
        async with asyncio.timeout(IDLE_TIMEOUT):
            return await reader.readexactly(size)

    def _raw_sasl(self, session: Session, payload: bytes, writer: asyncio.StreamWriter) -> bool:
        """SaslHandshake v0: a raw token, answered raw; False when authentication failed."""
        reply, failure = self.broker.raw_token(session, payload)
        if failure is not None or reply is None:
            return False
        writer.write(_SIZE.pack(len(reply)) + reply)
        return True

    async def _loop(
        self, session: Session, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        loop = asyncio.get_running_loop()
        muted_until = 0.0
        while True:
            if muted_until:
                delay = muted_until - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                muted_until = 0.0
            payload = await self._read_frame(session, reader)
            if payload is None:
                return
            if session.sasl_stage == "v0_token":
                if not self._raw_sasl(session, payload, writer):
                    return
                continue
            reply = await self._answer(session, payload, writer)
            if reply is None or reply.close:
                await writer.drain()
                return
            if reply.throttle_ms:
                muted_until = loop.time() + reply.throttle_ms / 1000

    async def _answer(self, session: Session, payload: bytes, writer: asyncio.StreamWriter) -> Reply | None:
        try:
            req = P.decode_request(payload)
        except P.FrameError as exc:
            self.broker.stats.bad_frames += 1
            log.warning("kafka: bad request from %s: %s; closing the connection", session.peer, exc)
            return None
        reply = await self.broker.handle(session, req)
        if reply.response is not None:
            writer.write(P.encode_response(req.correlation_id, reply.response))
            if writer.transport.get_write_buffer_size() > WRITE_HIGH_WATER:
                await writer.drain()
        return reply
