"""The router's side of a client connection: parses requests, keeps order, applies back-pressure.

`ClientConnection` is an asyncio Protocol around httptools' request parser (the shape of
uvicorn's httptools protocol). Requests on one keep-alive connection are served one at a
time; pipelined requests wait in a queue (reading pauses meanwhile, so the queue holds at
most one read's worth of bytes). Reading also pauses while a request body waits for its dyno
connection, and while the dyno is not reading (upload back-pressure); writing pauses the
dyno's side when the client is slow (download back-pressure). Memory per connection is
bounded by the transport buffers, not by body size.

A client that goes quiet: between requests, closed after `router_keepalive_timeout`
(silently, as Heroku closes idle pre-opened connections); in the middle of a request head,
closed after `router_idle_timeout` (H28 when the Host is already known).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING

import httptools

from router import codes
from router.closedtransport import CLOSED
from router.exchange import Exchange
from router.headers import MAX_REQUEST_HEAD
from router.pages import error_response

if TYPE_CHECKING:
    from router.server import Router
    from router.upstream import DynoConnection

log = logging.getLogger("router")


# what a lost connection's parser becomes: one that references no protocol (no cycle)
_SPENT_PARSER = httptools.HttpRequestParser(object())


class ClientConnection(asyncio.Protocol):
    PAUSE_BODY = 1  # a request body waits for its dyno connection
    PAUSE_QUEUE = 2  # pipelined requests wait their turn
    PAUSE_UPLOAD = 4  # the dyno is not reading fast enough
    PAUSE_UPGRADE = 8  # an Upgrade request waits for the dyno's answer

    __slots__ = (
        "active",
        "closed",
        "head_bytes",
        "in_head",
        "last_io",
        "last_parsed",
        "over_limit",
        "parser",
        "parsing",
        "paused",
        "peer_ip",
        "queue",
        "router",
        "timer",
        "transport",
        "tunnel",
        "writing_paused",
    )

    def __init__(self, router: Router) -> None:
        self.router = router
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set in connection_made
        self.parser = httptools.HttpRequestParser(self)
        self.parser.set_dangerous_leniencies(lenient_chunked_length=True)  # chunked wins over CL
        self.peer_ip = b"127.0.0.1"
        self.active: Exchange | None = None
        self.parsing: Exchange | None = None
        self.last_parsed: Exchange | None = None
        self.queue: deque[Exchange] = deque()
        self.paused = 0
        self.writing_paused = False
        self.closed = False
        self.over_limit = False
        self.in_head = True
        self.head_bytes = 0
        self.tunnel: DynoConnection | None = None
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
        router.client_opened(self)
        self.last_io = router.loop.time()
        self.timer = router.loop.call_later(router.client_timer_step, self._on_timer)

    def data_received(self, data: bytes) -> None:
        tunnel = self.tunnel
        if tunnel is not None:
            self.last_io = self.router.loop.time()
            active = self.active
            if active is not None:
                active.last_io = self.last_io
            if not tunnel.closed:
                tunnel.transport.write(data)
            return
        self.last_io = self.router.loop.time()
        if self.in_head:
            self.head_bytes += len(data)
            if self.head_bytes > MAX_REQUEST_HEAD:
                self._head_too_big()
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._upgrade_requested(data[exc.args[0] :] if exc.args else b"")
        except httptools.HttpParserError as exc:
            self._parse_error(exc)
        except Exception:
            log.exception("router: internal error reading a request")
            self.router.internal_errors += 1
            ex = self.active or self.parsing
            if ex is not None and not ex.finished:
                ex.fail("H99")
            self.close()

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
            active.stop_timers()
        if active is not None and not active.finished:
            try:
                active.client_gone()
            except Exception:
                self.router.internal_error(active, "client lost")
        self.queue.clear()

    def _dyno_side(self) -> DynoConnection | None:
        active = self.active
        conn = active.upstream if active is not None and active.upstream is not None else self.tunnel
        return conn if conn is not None and not conn.closed else None

    def pause_writing(self) -> None:
        self.writing_paused = True
        conn = self._dyno_side()
        if conn is not None:
            conn.transport.pause_reading()  # the client is slow: stop reading from the dyno

    def resume_writing(self) -> None:
        self.writing_paused = False
        conn = self._dyno_side()
        if conn is not None:
            conn.transport.resume_reading()

    # ------------------------------------------------------------------ parser callbacks
    def on_message_begin(self) -> None:
        self.parsing = Exchange(self)

    def on_url(self, url: bytes) -> None:
        ex = self.parsing
        if ex is not None:
            ex.add_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        ex = self.parsing
        if ex is not None:
            ex.add_header(name, value)

    def on_headers_complete(self) -> None:
        ex = self.parsing
        if ex is None:
            return
        parser = self.parser
        ex.head_complete(
            parser.get_method(),
            parser.get_http_version() != "1.0",
            parser.should_keep_alive(),
            parser.should_upgrade(),
        )
        self.in_head = False
        self.head_bytes = 0
        if self.active is None:
            self.active = ex
            ex.start()
        else:
            self.queue.append(ex)
            self.pause(self.PAUSE_QUEUE)

    def on_body(self, body: bytes) -> None:
        ex = self.parsing
        if ex is not None:
            ex.on_client_body(body)

    def on_message_complete(self) -> None:
        ex = self.parsing
        self.parsing = None
        self.in_head = True
        if ex is not None:
            self.last_parsed = ex
            ex.on_client_complete()
            if ex.finished and ex is self.active and not self.closed and ex.client_keepalive:
                # answered before the body was read (error page): the connection can go on
                self._next()

    # ------------------------------------------------------------------ exchange hand-offs
    def write(self, data: bytes) -> None:
        if not self.closed:
            self.transport.write(data)

    def send_and_close(self, data: bytes) -> None:
        if not self.closed:
            self.transport.write(data)
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.close()

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
        if not keep or ex.is_upgrade or not ex.client_keepalive:
            self.close()
            return
        if not ex.request_done:
            return  # wait for the rest of the body to go by (on_message_complete calls _next)
        self._next()

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
        ex = self.last_parsed
        if ex is None or ex.finished:
            self.close()
            return
        ex.upgrade_tail = tail
        self.pause(self.PAUSE_UPGRADE)

    def start_tunnel(self, ex: Exchange, conn: DynoConnection) -> None:
        """The dyno switched protocols: from now on bytes pass through untouched."""
        self.tunnel = conn
        conn.tunnel = True
        tail = ex.upgrade_tail
        if tail and not conn.closed:
            conn.transport.write(tail)
        self.resume(self.PAUSE_UPGRADE | self.PAUSE_BODY)

    def close_tunnel(self) -> None:
        tunnel = self.tunnel
        self.tunnel = None
        if tunnel is not None:
            tunnel.close()
        self.close()

    # ------------------------------------------------------------------ errors and timers
    def _head_too_big(self) -> None:
        ex = self.parsing
        if ex is not None and ex.host is not None and self.active is None:
            self.active = ex
            ex.parse_failure = codes.CAUSE_BAD_HEADER
            ex.head_complete(self.parser.get_method() or b"GET", True, False, False)
            ex.start()
        else:
            self.router.unrouted += 1
            self.send_and_close(error_response("bad-request", 400, False))
        self.close()

    def _parse_error(self, exc: Exception) -> None:
        """The parser gave up: H26 for the request it was reading."""
        ex = self.parsing
        message = str(exc)
        if ex is None:
            self.router.unrouted += 1
            self.send_and_close(error_response("bad-request", 400, False))
            return
        if not self.in_head:  # in the body
            cause = codes.CAUSE_BAD_CHUNK if ex.chunked else codes.CAUSE_BAD_HEADER
            ex.client_keepalive = False
            if not ex.finished:
                if ex.upstream is None and ex.task is None and ex.app is None:
                    ex.parse_failure = cause  # not started yet (queued)
                else:
                    ex.fail("H26", cause=cause)
            self.pause(self.PAUSE_QUEUE)
            if ex.finished and ex is self.active:
                self.close()
            return
        cause = codes.CAUSE_BAD_HEADER if "header" in message.lower() else codes.CAUSE_BAD_REQUEST_LINE
        if "Content-Length" in message or "Transfer-Encoding" in message:
            cause = codes.CAUSE_BAD_HEADER
        ex.parse_failure = cause
        ex.client_keepalive = False
        self.pause(self.PAUSE_QUEUE)
        if self.active is None:
            self.active = ex
            ex.head_complete(self.parser.get_method() or b"GET", True, False, False)
            ex.start()
        else:
            self.queue.append(ex)
            ex.head_complete(self.parser.get_method() or b"GET", True, False, False)

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
        ex = self.parsing
        limit = router.idle_timeout if ex is not None else router.keepalive_timeout
        if quiet < limit:
            self.timer = router.loop.call_later(limit - quiet, self._on_timer)
            return
        if ex is not None and ex.host is not None:
            # the client stopped in the middle of its request head
            self.active = ex
            ex.head_complete(self.parser.get_method() or b"GET", True, False, False)
            ex.received = self.last_io
            route = router.table.resolve(ex.host.decode("latin-1"))
            if route is not None:
                ex.attribute(route)
                ex.fail("H28")
        self.close()
