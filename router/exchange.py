"""One request's journey through the router: the chain, the proxying, the verdict.

An `Exchange` is made when a request head is complete (router.head). When it is the request's
turn on its connection, `start()` runs the chain (router.chain: lookup → validate → limits →
app state → backlog), answers `100 Continue` if asked, picks a dyno (router.pick) and proxies:
the request head (rewritten, see router.headers) and body stream to the dyno, framed by the
router (router.framing), and the response streams back through this object, which is the
dyno connection's `ResponseSink`. Every way it can end goes through `finish()`, which writes
the one log line and the structured record and gives back the backlog place; every failure
goes through `fail_with()`, which also decides what the client sees (an error page if nothing
was sent yet, otherwise a cut connection). Only this module writes an exchange's state.

Timers (all from Settings, fractions allowed):
  first byte  `router_timeout` after the whole request reached the dyno → H12
  idle        `router_idle_timeout` without a byte once bytes flow: dyno silent → H15,
              client silent before finishing its request → H28
The idle timer is re-armed lazily (one timer, checked against `last_io`) so a streaming body
costs no timer operations per chunk. Both timers of the usual delays go through the router's
fixed-delay queues (router.deadlines): arming is an append, cancelling a new `timer_ticket`;
only a re-arm for the rest of a delay takes a loop timer of its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from router import codes, framing, pick
from router.codes import CATALOG, HCode
from router.head import RequestHead
from router.headers import new_request_id, valid_request_id
from router.logline import format_record, protocol_field
from router.metrics import RequestRecord
from router.pages import error_response
from router.stages import Verdict
from router.table import AppRoute

if TYPE_CHECKING:
    from router.client import ClientConnection
    from router.server import Router
    from router.upstream import DynoConnection

log = logging.getLogger("router")

_TIMER_NONE = 0
_TIMER_FIRST_BYTE = 1
_TIMER_IDLE = 2
_CHUNK_END = b"0\r\n\r\n"


def _ms(seconds: float) -> int:
    """Whole milliseconds, as the log line counts them (truncated). The nudge absorbs float
    noise: 0.4 s measured between two loop times can come out as 399.99999 ms, which must
    read 400 (a 400 ms latency fault shows as service=400ms, never 399ms)."""
    return int(seconds * 1000 + 1e-6)


class Exchange:
    __slots__ = (
        "admitted",
        "body_buf",
        "body_buffered",
        "body_failure",
        "body_seen",
        "client",
        "connect_ms",
        "dyno",
        "finished",
        "head",
        "head_forwarded",
        "keepalive",
        "last_io",
        "nbytes",
        "request_done",
        "request_id",
        "response_started",
        "route",
        "router",
        "service_start",
        "status",
        "task",
        "timer",
        "timer_kind",
        "timer_ticket",
        "upstream",
    )

    def __init__(self, client: ClientConnection, head: RequestHead) -> None:
        self.client = client
        self.router: Router = client.router
        self.head = head
        self.keepalive = head.keepalive  # the client's connection stays open after this one
        self.route: AppRoute | None = None
        self.request_id: bytes | None = None
        self.admitted = False
        self.body_buf: list[bytes] = []
        self.body_buffered = 0
        self.body_seen = 0
        self.body_failure: str | None = None
        self.request_done = False
        self.upstream: DynoConnection | None = None
        self.task: asyncio.Task[None] | None = None
        self.dyno: str | None = None
        self.connect_ms: float | None = None
        self.service_start = 0.0
        self.response_started = False
        self.head_forwarded = False
        self.status: int | None = None
        self.nbytes = 0
        self.finished = False
        self.timer: asyncio.TimerHandle | None = None  # only for a delay the queues do not serve
        self.timer_kind = _TIMER_NONE
        self.timer_ticket = 0  # changed by every arm and disarm: older queue entries are stale
        self.last_io = head.received

    # ------------------------------------------------------------------ the chain
    def start(self) -> None:
        """Run the chain, then proxy (called when it is this request's turn on its connection)."""
        try:
            self._start()
        except Exception:
            self.internal_error("starting a request")

    def _start(self) -> None:
        router = self.router
        route, verdict = router.chain.route(self.head)
        if route is None:
            self._unrouted(verdict)
            return
        self._attribute(route)
        if self.body_failure is not None:
            self.fail("H26", cause=self.body_failure)
            return
        if verdict is not None:
            self._reject(verdict)
            return
        self.admitted = True
        if self.head.expect_continue:
            # vegur answers 100 Continue itself and does not forward the expectation
            self.client.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        conn = pick.pooled(router, route) if route.keepalive else None
        if conn is not None:
            self.dyno = conn.backend.dyno
            self.connect_ms = 0.0
            self.attach(conn)
        else:
            self.task = router.loop.create_task(self._dispatch(route))

    def _attribute(self, route: AppRoute) -> None:
        """The request belongs to this app: from now on it is logged, with a request id."""
        self.route = route
        request_id = self.head.request_id
        self.request_id = request_id if request_id is not None and valid_request_id(request_id) else None
        if self.request_id is None:
            self.request_id = new_request_id()

    async def _dispatch(self, route: AppRoute) -> None:
        task = self.task
        assert task is not None
        try:
            conn, code, dyno, connect_ms = await pick.connect(self.router, route, self.head.received, task)
        except asyncio.CancelledError:
            return  # the client left (logged as H27), the request failed meanwhile, or the router stops
        except Exception:
            self.task = None
            self.internal_error("picking a dyno")
            return
        self.task = None
        self.dyno = dyno
        self.connect_ms = connect_ms
        if self.finished:
            if conn is not None:
                conn.close()
            return
        try:
            if code is not None:
                self.fail(code)
            elif conn is not None:
                self.attach(conn)
        except Exception:
            self.internal_error("sending to the dyno")

    # ------------------------------------------------------------------ proxying the request
    def attach(self, conn: DynoConnection) -> None:
        """Send the head and any buffered body to the dyno; stream the rest as it comes."""
        router = self.router
        head = self.head
        route = self.route
        router2 = route is not None and route.keepalive
        self.upstream = conn
        conn.begin(self, head.method == b"HEAD", head.http11, self.keepalive, head.is_upgrade, router2)
        now = router.loop.time()
        if conn.closed:  # accepted, then closed before the request could be sent
            self.service_start = now
            self.fail("H13")
            return
        self.service_start = self.last_io = now
        upstream_head = self._upstream_head(now, router2)
        body = self.body_buf
        if body:
            body.insert(0, upstream_head)
            conn.send_many(body)
            self.body_buf = []
            self.body_buffered = 0
        else:
            conn.send(upstream_head)
        client = self.client
        if client.writing_paused:
            conn.pause_reading()
        if self.request_done or not head.has_body():
            # the whole request is at the dyno: from now on it has router_timeout to answer
            self._arm(_TIMER_FIRST_BYTE, router.timeout)
        else:
            self._arm(_TIMER_IDLE, router.idle_timeout)
            client.resume(client.PAUSE_BODY)

    def _upstream_head(self, now: float, router2: bool) -> bytes:
        """The head the dyno gets: the client's, with the router's framing and headers."""
        client = self.client
        head = self.head
        peer_ip = head.peer_ip
        xff = peer_ip if head.xff is None else head.xff + b", " + peer_ip
        via_self = b"1.1 heroku-router" if router2 else b"1.1 vegur"
        via = via_self if head.via is None else head.via + b", " + via_self
        parts = [head.method, b" ", head.target, b" HTTP/1.1\r\nHost: ", head.host or b"", b"\r\n"]
        parts += head.lines
        if head.framing == framing.CHUNKED:
            parts.append(b"Transfer-Encoding: chunked\r\n")
        elif head.framing == framing.LENGTH:
            parts.append(b"Content-Length: %d\r\n" % head.length)
        if head.is_upgrade and head.upgrade is not None:
            parts += (b"Connection: Upgrade\r\nUpgrade: ", head.upgrade, b"\r\n")
        elif router2:
            parts.append(b"Connection: keep-alive\r\n")
        else:
            parts.append(b"Connection: close\r\n")
        parts += (
            b"X-Request-Id: ",
            self.request_id or b"",
            b"\r\nX-Forwarded-For: ",
            xff,
            b"\r\nX-Forwarded-Proto: ",
            client.proto,
            b"\r\nX-Forwarded-Port: ",
            client.port_bytes,
            b"\r\nX-Request-Start: ",
            b"%d" % head.start_ms,
            b"\r\nVia: ",
            via,
            b"\r\n",
        )
        if not router2:
            parts.append(
                b"Connect-Time: %d\r\nTotal-Route-Time: %d\r\n"
                % (self.connect_ms or 0, _ms(now - head.received))
            )
        parts.append(b"\r\n")
        return b"".join(parts)

    def client_body(self, body: bytes) -> None:
        """A piece of the request body, as the router's framing delimits it."""
        if self.finished:
            return  # answered already (error page); the rest of the body is discarded
        self.last_io = self.router.loop.time()
        head = self.head
        self.body_seen += len(body)
        if head.framing == framing.CHUNKED:
            framed = [b"%x\r\n" % len(body), body, b"\r\n"]
        elif head.framing == framing.LENGTH and self.body_seen <= head.length:
            framed = [body]
        else:  # the parser read a body the router's framing does not have: never pass it on
            self.keepalive = False
            self.fail_with(CATALOG["H26"], cause=codes.CAUSE_BAD_HEADER)
            return
        conn = self.upstream
        if conn is not None:
            conn.send_many(framed)
            return
        self.body_buf += framed
        self.body_buffered += len(body)
        if self.body_buffered >= self.router.body_buffer_limit:
            self.client.pause(self.client.PAUSE_BODY)

    def client_complete(self) -> None:
        """The request has been read whole."""
        self.request_done = True
        if self.finished:
            return
        head = self.head
        if head.framing == framing.LENGTH and self.body_seen != head.length:
            self.keepalive = False  # cannot happen with llhttp; never forward a short body as whole
            self.fail_with(CATALOG["H26"], cause=codes.CAUSE_BAD_HEADER)
            return
        conn = self.upstream
        if head.framing == framing.CHUNKED:
            if conn is not None:
                conn.send(_CHUNK_END)
            else:
                self.body_buf.append(_CHUNK_END)
        if conn is not None and not self.response_started and self.timer_kind != _TIMER_FIRST_BYTE:
            self._arm(_TIMER_FIRST_BYTE, self.router.timeout)

    def client_body_failed(self, cause: str) -> None:
        """The client's body broke the framing (a bad chunk): H26, and the connection goes."""
        self.keepalive = False
        if self.finished:
            return
        if self.route is None and self.upstream is None and self.task is None:
            self.body_failure = cause  # not started yet (queued): it fails when its turn comes
            return
        self.fail("H26", cause=cause)

    # ------------------------------------------------------------------ the dyno's answer (ResponseSink)
    def from_dyno(self, nbytes: int) -> None:
        self.last_io = self.router.loop.time()
        self.nbytes += nbytes
        if not self.response_started:
            # the dyno sent its first byte: the first-byte timer no longer applies
            self.response_started = True
            if self.timer_kind == _TIMER_FIRST_BYTE:
                self._disarm()

    def response_head(self, status: int, keepalive: bool) -> None:
        self.status = status
        self.keepalive = keepalive
        self.head_forwarded = True

    def pass_on(self, chunks: list[bytes], complete: bool) -> None:
        if chunks:
            self.client.writelines(chunks)
        if complete:
            self._response_complete()
        elif self.timer_kind != _TIMER_IDLE and not self.finished:
            self._arm(_TIMER_IDLE, self.router.idle_timeout)

    def _response_complete(self) -> None:
        """The dyno's response has been passed on whole."""
        conn = self.upstream
        self.finish()
        self.upstream = None
        route = self.route
        if conn is not None:
            conn.release(reusable=route is not None and route.keepalive and self.request_done)
        self.client.exchange_done(self, keep=self.request_done or not self.head.has_body())

    def switched_protocols(self, tail: bytes) -> None:
        """101 Switching Protocols: log the request now, then pipe bytes both ways."""
        conn = self.upstream
        if conn is None or self.finished:
            return
        self.finish()
        self.client.start_tunnel(conn)
        if tail:
            self.client.write(tail)
        self._arm(_TIMER_IDLE, self.router.idle_timeout)

    def dyno_failed(self, code: str, detail: str | None) -> None:
        if code == "H25":
            self.fail_with(CATALOG["H25"], desc=codes.h25_desc(detail or ""))
        else:
            self.fail(code)

    def dyno_backpressure(self, paused: bool) -> None:
        client = self.client
        if paused:
            client.pause(client.PAUSE_UPLOAD)
        else:
            client.resume(client.PAUSE_UPLOAD)

    def tunnel_closed(self) -> None:
        self.client.close_tunnel()

    def tunnel_activity(self) -> None:
        """Bytes went through the tunnel from the client."""
        self.last_io = self.router.loop.time()

    def internal_error(self, where: str) -> None:
        """An exception escaped request handling: H99 for this request, the router goes on."""
        log.exception("router: internal error (%s)", where)
        self.router.internal_errors += 1
        try:
            if not self.finished:
                self.fail("H99")
            else:
                self.client.close()
        except Exception:
            log.exception("router: could not report H99")
            self.client.close()

    # ------------------------------------------------------------------ the client's side
    def client_write_paused(self, paused: bool) -> None:
        """The client reads slowly (or again): stop (or resume) reading from the dyno."""
        conn = self.upstream
        if conn is not None and not conn.closed:
            if paused:
                conn.pause_reading()
            else:
                conn.resume_reading()

    def client_gone(self) -> None:
        """The client closed its connection before the exchange was over → H27."""
        self._disarm()
        if self.finished:
            return
        self.fail("H27")

    def abandoned(self) -> None:
        """The client stopped in the middle of its request head (H28 when its app is known)."""
        route = self.router.chain.lookup(self.head)
        if route is not None:
            self._attribute(route)
            self.fail("H28")
        else:
            self.finished = True

    def stop(self) -> None:
        """The router stops: drop the dyno side without a log line."""
        self._disarm()
        task = self.task
        if task is not None:
            task.cancel()
        conn = self.upstream
        if conn is not None:
            conn.abort()

    # ------------------------------------------------------------------ timers
    def _arm(self, kind: int, delay: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        ticket = self.timer_ticket + 1
        self.timer_ticket = ticket
        self.timer_kind = kind
        router = self.router
        queue = router.first_byte_timers if kind == _TIMER_FIRST_BYTE else router.idle_timers
        if delay == queue.delay:
            queue.arm(self, ticket)
        else:
            self.timer = router.loop.call_later(delay, self._on_timer)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.timer_ticket += 1
        self.timer_kind = _TIMER_NONE

    def deadline_passed(self) -> None:
        """A fixed-delay queue's entry for this exchange came due (router.deadlines)."""
        self._on_timer()

    def _on_timer(self) -> None:
        self.timer = None
        self.timer_ticket += 1
        kind = self.timer_kind
        self.timer_kind = _TIMER_NONE
        try:
            if kind == _TIMER_FIRST_BYTE:
                if not self.response_started and not self.finished:
                    self.fail("H12")
                return
            self._idle_check()
        except Exception:
            self.internal_error("a timer")

    def _idle_check(self) -> None:
        router = self.router
        idle = router.idle_timeout
        quiet = router.loop.time() - self.last_io
        if quiet < idle:
            self._arm(_TIMER_IDLE, idle - quiet)
            return
        if self.finished:  # a WebSocket tunnel went quiet: close it, nothing to log
            self.client.close_tunnel()
            return
        if self.response_started:
            self.fail("H15")
        elif not self.request_done:
            # no bytes from the client; but if the dyno stopped reading, it is the dyno's
            conn = self.upstream
            self.fail("H15" if conn is not None and conn.writing_paused else "H28")
        else:
            self._arm(_TIMER_FIRST_BYTE, max(0.0, router.timeout - quiet))

    # ------------------------------------------------------------------ endings
    def _unrouted(self, verdict: Verdict | None) -> None:
        """No app to log for: 404 "no such app" (the connection may go on) or a 400 (it goes)."""
        self.router.unrouted += 1
        self.finished = True
        client = self.client
        if verdict is None or verdict.status != 404 or self.body_failure is not None:
            client.send_and_close(error_response("bad-request", 400, False))
            return
        keep = self.keepalive and (self.request_done or not self.head.has_body())
        client.write(error_response(verdict.page, verdict.status, keep))
        client.exchange_done(self, keep=keep)

    def _reject(self, verdict: Verdict) -> None:
        hcode = verdict.hcode
        if hcode is None:  # a stage that names no H-code for a routed request is a bug
            self.fail("H99")
            return
        self.fail_with(hcode, cause=verdict.cause)

    def fail(self, code: str, cause: str | None = None) -> None:
        self.fail_with(CATALOG[code], cause=cause)

    def fail_with(self, hcode: HCode, *, cause: str | None = None, desc: str | None = None) -> None:
        """End the exchange with an H-code: log it, tell the client, drop the dyno connection."""
        if self.finished:
            return
        self.finish(hcode, cause=cause, desc=desc)
        conn = self.upstream
        self.upstream = None
        if conn is not None:
            conn.abort()
        client = self.client
        if client.closed:
            return
        if self.head_forwarded or not hcode.page:
            client.close()  # the response was cut (or the client is the problem): hang up
            return
        keep = (
            self.keepalive
            and (self.request_done or not self.head.has_body())
            and hcode.code not in ("H22", "H26")
        )
        client.write(error_response(hcode.page, hcode.status, keep))
        client.exchange_done(self, keep=keep)

    def finish(
        self, hcode: HCode | None = None, *, cause: str | None = None, desc: str | None = None
    ) -> None:
        """Write the one log line and the record; give back the backlog place; stop the timers."""
        if self.finished:
            return
        self.finished = True
        self._disarm()
        task = self.task
        if task is not None:  # still picking a dyno: no connection is wanted any more
            self.task = None
            task.cancel()
        route = self.route
        if route is None:
            return
        router = self.router
        app = route.name
        if self.admitted:
            self.admitted = False
            router.backlog.leave(app)
        now = router.loop.time()
        if self.upstream is not None or self.service_start > 0.0:  # a dyno was reached
            service_ms: int | None = _ms(now - self.service_start)
            nbytes: int | None = self.nbytes
        else:
            service_ms = nbytes = None
        if hcode is None:
            status, level, code, text_desc, sock = self.status, "info", None, None, None
        else:
            status, level, code, sock = hcode.status, hcode.level, hcode.code, hcode.sock
            text_desc = desc or hcode.desc
        head = self.head
        connect_ms = self.connect_ms
        host = head.host
        request_id = self.request_id
        record = RequestRecord(
            app, self.dyno, code, status, None if connect_ms is None else _ms(connect_ms / 1000), service_ms,
            nbytes, head.method.decode("latin-1"), head.target.decode("latin-1"),
            "" if host is None else host.decode("latin-1"),
            "" if request_id is None else request_id.decode("latin-1"),
            level, _ms(now - head.received), time.time(),
        )  # fmt: skip
        xff = head.xff
        fwd = (head.peer_ip if xff is None else xff + b", " + head.peer_ip).decode("latin-1")
        client = self.client
        protocol = protocol_field(route.keepalive, client.tls_version, client.http2)
        router.record(
            app, format_record(record, text_desc, cause, sock, fwd, route.keepalive, protocol), record
        )
