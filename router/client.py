"""The router's side of a client connection: reads requests, keeps order, applies back-pressure.

`ClientConnection` is an asyncio Protocol around httptools' request parser (the shape of
uvicorn's httptools protocol). Each request head is read into a `RequestHead` (router.head),
which decides its framing (router.framing); the complete head becomes an `Exchange`. Requests
on one keep-alive connection are served one at a time; pipelined requests wait in a queue
(reading pauses meanwhile, so the queue holds at most one read's worth of bytes). Reading also
pauses while a request body waits for its dyno connection, and while the dyno is not reading
(upload back-pressure); writing pauses the dyno's side when the client is slow (download
back-pressure). Memory per connection is bounded by the transport buffers, not by body size.

Nothing is read past a request whose body length is unknown (a refused Transfer-Encoding),
past a request after which the connection closes (`Connection: close`, HTTP/1.0, both
Content-Length and Transfer-Encoding), or past a parse error: those bytes can never become a
request, for the router or for a dyno. Trailers of a chunked body are read and dropped.

A client that goes quiet: between requests, closed after `router_keepalive_timeout`
(silently, as Heroku closes idle pre-opened connections); in the middle of a request head,
closed after `router_idle_timeout` (H28 when the Host is already known).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING

import httptools

from router import codes, framing
from router.closedtransport import CLOSED
from router.codes import HCode
from router.exchange import Exchange
from router.head import BAD_HEADER, BAD_REQUEST_LINE, RequestHead
from router.headers import MAX_REQUEST_HEAD

if TYPE_CHECKING:
    from router.server import Router
    from router.upstream import DynoConnection

log = logging.getLogger("router")


# what a lost connection's parser becomes: one that references no protocol (no cycle)
_SPENT_PARSER = httptools.HttpRequestParser(object())


class _Stop(Exception):
    """Raised inside a parser callback: nothing more is read on this connection."""


class ClientConnection(asyncio.Protocol):
    PAUSE_BODY = 1  # a request body waits for its dyno connection
    PAUSE_QUEUE = 2  # pipelined requests wait their turn
    PAUSE_UPLOAD = 4  # the dyno is not reading fast enough
    PAUSE_UPGRADE = 8  # an Upgrade request waits for the dyno's answer
    PAUSE_STOPPED = 16  # nothing more is read (see the module docstring)

    __slots__ = (
        "active",
        "closed",
        "head",
        "head_bytes",
        "http2",
        "in_head",
        "last_io",
        "over_limit",
        "parser",
        "paused",
        "peer_ip",
        "port_bytes",
        "proto",
        "queue",
        "reading",
        "router",
        "stopped",
        "timer",
        "tls_version",
        "transport",
        "tunnel",
        "upgrade_tail",
        "upgrading",
        "writing_paused",
    )

    def __init__(self, router: Router) -> None:
        self.router = router
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set in connection_made
        self.parser = httptools.HttpRequestParser(self)
        # chunked wins over Content-Length; this also lifts llhttp's check of other
        # Transfer-Encodings, which router.framing makes instead (and refuses them)
        self.parser.set_dangerous_leniencies(lenient_chunked_length=True)
        self.peer_ip = b"127.0.0.1"
        # how the client reached the router (X-Forwarded-Proto/Port, the line's protocol=):
        # the plain port's values; router.tls sets them for TLS connections and HTTP/2 streams
        self.proto = b"http"
        self.port_bytes = router.port_bytes
        self.tls_version = ""
        self.http2 = False
        self.head: RequestHead | None = None  # the head being read
        self.reading: Exchange | None = None  # the exchange whose body is being read
        self.active: Exchange | None = None  # the exchange being answered
        self.upgrading: Exchange | None = None
        self.queue: deque[Exchange] = deque()
        self.paused = 0
        self.writing_paused = False
        self.closed = False
        self.stopped = False
        self.over_limit = False
        self.in_head = True
        self.head_bytes = 0
        self.tunnel: DynoConnection | None = None
        self.upgrade_tail = b""
        self.timer: asyncio.TimerHandle | None = None
        self.last_io = 0.0

    # ------------------------------------------------------------------ transport events
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.set_write_buffer_limits(high=256 * 1024)
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer_ip = peer[0].encode()
        router = self.router
        self.over_limit = not router.client_opened(self)
        self.last_io = router.loop.time()
        self.timer = router.loop.call_later(router.client_timer_step, self._on_timer)

    def data_received(self, data: bytes) -> None:
        self.last_io = self.router.loop.time()
        tunnel = self.tunnel
        if tunnel is not None:
            self._through_tunnel(tunnel, data)
            return
        if self.stopped:
            return
        if self.in_head:
            self.head_bytes += len(data)
            if self.head_bytes > MAX_REQUEST_HEAD:
                self._failed_head(BAD_HEADER)
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._upgrade_requested(data[exc.args[0] :] if exc.args else b"")
        except httptools.HttpParserError as exc:
            if not self.stopped:  # else a callback stopped the parser on purpose
                self._parse_error(exc)
        except Exception:
            self._internal_error()

    def _through_tunnel(self, tunnel: DynoConnection, data: bytes) -> None:
        active = self.active
        if active is not None:
            active.tunnel_activity()
        if not tunnel.closed:
            tunnel.send(data)

    def eof_received(self) -> bool | None:
        # A client that hangs up before its response is complete interrupted it (H27), as
        # nginx's 499 treats it; half-closed keep-alive is not worth the ambiguity.
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        try:
            self._lost()
        finally:
            # break the protocol ↔ transport ↔ parser cycles: refcounting frees them now
            self.transport = CLOSED
            self.parser = _SPENT_PARSER

    def _lost(self) -> None:
        self.router.client_closed(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        tunnel = self.tunnel
        if tunnel is not None:
            self.tunnel = None
            tunnel.close()
        active = self.active
        if active is not None:
            try:
                active.client_gone()
            except Exception:
                active.internal_error("client lost")
        self.queue.clear()  # never started: nothing was logged or sent for them

    def pause_writing(self) -> None:
        self.writing_paused = True
        self._dyno_reading(False)  # the client is slow: stop reading from the dyno

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._dyno_reading(True)

    def _dyno_reading(self, reading: bool) -> None:
        tunnel = self.tunnel
        if tunnel is not None:
            if not tunnel.closed:
                if reading:
                    tunnel.resume_reading()
                else:
                    tunnel.pause_reading()
            return
        active = self.active
        if active is not None:
            active.client_write_paused(not reading)

    # ------------------------------------------------------------------ parser callbacks
    def on_message_begin(self) -> None:
        self.head = RequestHead(self.peer_ip, self.over_limit)

    def on_url(self, url: bytes) -> None:
        head = self.head
        if head is not None:
            head.add_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        head = self.head
        if head is not None:  # None for a chunked body's trailers: dropped
            head.add_header(name, value)

    def on_headers_complete(self) -> None:
        head = self.head
        if head is None:
            return
        self.head = None
        parser = self.parser
        head.complete(
            parser.get_method(),
            parser.get_http_version() != "1.0",
            parser.should_keep_alive(),
            parser.should_upgrade(),
            self.router.loop.time(),
            int(time.time() * 1000),
        )
        self.in_head = False
        self.head_bytes = 0
        ex = Exchange(self, head)
        self.reading = ex
        if head.is_upgrade:
            self.upgrading = ex
        self._enqueue(ex)
        if head.unframed:
            self._stop()

    def on_body(self, body: bytes) -> None:
        ex = self.reading
        if ex is not None:
            ex.client_body(body)

    def on_message_complete(self) -> None:
        ex = self.reading
        self.reading = None
        self.in_head = True
        if ex is None:
            return
        ex.client_complete()
        if not ex.head.keepalive:
            self._stop()  # the connection ends with this request: what follows is never read
        if ex.finished and ex is self.active and not self.closed and ex.keepalive:
            # answered before the body was read (error page): the connection can go on
            self._next()

    def _stop(self) -> None:
        self.stopped = True
        self.pause(self.PAUSE_STOPPED)
        raise _Stop

    # ------------------------------------------------------------------ exchange hand-offs
    def write(self, data: bytes) -> None:
        if not self.closed:
            self.transport.write(data)

    def writelines(self, chunks: list[bytes]) -> None:
        if not self.closed:
            self.transport.writelines(chunks)

    def send_and_close(self, data: bytes) -> None:
        if not self.closed:
            self.transport.write(data)
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.close()

    def abort(self) -> None:
        """Cut the connection now (the router stops)."""
        self.closed = True
        active = self.active
        if active is not None:
            active.stop()
        tunnel = self.tunnel
        if tunnel is not None:
            tunnel.abort()
        self.transport.abort()

    def pause(self, reason: int) -> None:
        if not self.paused and not self.closed:
            self.transport.pause_reading()
        self.paused |= reason

    def resume(self, reason: int) -> None:
        if self.paused & reason:
            self.paused &= ~reason
            if not self.paused and not self.closed:
                self.transport.resume_reading()

    def exchange_done(self, ex: Exchange, keep: bool) -> None:
        """The response for `ex` has been written: next request, or hang up."""
        if self.closed or ex is not self.active:
            return
        if not keep or ex.head.is_upgrade or not ex.keepalive:
            self.close()
            return
        if not ex.request_done:
            return  # wait for the rest of the body to go by (on_message_complete calls _next)
        self._next()

    def _enqueue(self, ex: Exchange) -> None:
        if self.active is None:
            self.active = ex
            ex.start()
        else:
            self.queue.append(ex)
            self.pause(self.PAUSE_QUEUE)

    def _next(self) -> None:
        self.active = None
        self.resume(self.PAUSE_BODY | self.PAUSE_UPLOAD)
        self.last_io = self.router.loop.time()
        while self.queue and not self.closed:
            ex = self.queue.popleft()
            if not self.queue:
                self.resume(self.PAUSE_QUEUE)
            self.active = ex
            ex.start()
            if self.active is ex:
                return  # in progress
        if self.timer is None and not self.closed:
            self.timer = self.router.loop.call_later(self.router.client_timer_step, self._on_timer)

    # ------------------------------------------------------------------ upgrades (WebSocket)
    def _upgrade_requested(self, tail: bytes) -> None:
        ex = self.upgrading
        self.upgrading = None
        if ex is None or ex.finished:
            self.close()
            return
        self.upgrade_tail = tail
        self.pause(self.PAUSE_UPGRADE)

    def start_tunnel(self, conn: DynoConnection) -> None:
        """The dyno switched protocols: from now on bytes pass through untouched."""
        self.tunnel = conn
        tail = self.upgrade_tail
        self.upgrade_tail = b""
        if tail and not conn.closed:
            conn.send(tail)
        self.resume(self.PAUSE_UPGRADE | self.PAUSE_BODY)

    def close_tunnel(self) -> None:
        tunnel = self.tunnel
        self.tunnel = None
        if tunnel is not None:
            tunnel.close()
        self.close()

    # ------------------------------------------------------------------ errors and timers
    def _parse_error(self, exc: Exception) -> None:
        """The parser gave up: H26 for the request it was reading; nothing more is read."""
        ex = self.reading
        if ex is not None:  # in the body
            self.reading = None
            self.stopped = True
            self.pause(self.PAUSE_STOPPED)
            chunked = ex.head.framing == framing.CHUNKED
            ex.client_body_failed(codes.CAUSE_BAD_CHUNK if chunked else codes.CAUSE_BAD_HEADER)
            if ex.finished and ex is self.active:
                self.close()
            return
        message = str(exc)
        header = "header" in message.lower() or "Content-Length" in message or "Transfer-Encoding" in message
        self._failed_head(BAD_HEADER if header else BAD_REQUEST_LINE)

    def _failed_head(self, problem: tuple[HCode, str]) -> None:
        """The head being read is broken (or too big): it ends in H26 (or a 400 when it names
        no app) when its turn comes, and nothing after it is read."""
        self.stopped = True
        self.pause(self.PAUSE_STOPPED)
        head = self.head or RequestHead(self.peer_ip, self.over_limit)
        self.head = None
        head.fail(self.parser.get_method(), problem, self.router.loop.time(), int(time.time() * 1000))
        self._enqueue(Exchange(self, head))

    def _internal_error(self) -> None:
        log.exception("router: internal error reading a request")
        ex = self.active or self.reading
        if ex is not None and not ex.finished:
            ex.internal_error("reading a request")
        else:
            self.router.internal_errors += 1
        self.close()

    def _on_timer(self) -> None:
        self.timer = None
        if self.closed:
            return
        router = self.router
        quiet = router.loop.time() - self.last_io
        if self.active is not None or self.tunnel is not None:
            # the exchange's own timers govern; look again later
            self.timer = router.loop.call_later(router.client_timer_step, self._on_timer)
            return
        head = self.head
        limit = router.idle_timeout if head is not None else router.keepalive_timeout
        if quiet < limit:
            self.timer = router.loop.call_later(limit - quiet, self._on_timer)
            return
        if head is not None and head.host is not None:
            # the client stopped in the middle of its request head
            self.head = None
            head.fail(self.parser.get_method(), None, self.last_io, int(time.time() * 1000))
            ex = Exchange(self, head)
            self.active = ex
            ex.abandoned()
        self.close()
