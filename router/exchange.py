"""One request's journey through the router: the stages, the proxying, the verdict.

An `Exchange` is created when a client starts a request. Once its head is complete and it is
the connection's turn, `start()` runs the chain of stages (router.stages) — validate → look
up the app → maintenance/blank/no-web checks → backlog → 100-continue → pick a dyno — and then
proxies: the request head (rewritten, see router.headers) and body stream to the dyno, the
response streams back. Every way it can end goes through `finish()`, which builds the one log
line and the structured record. Every failure goes through `fail(code)`, which also decides
what the client sees (an error page if nothing was sent yet, otherwise a cut connection).

Timers (all from Settings, fractions allowed):
  first byte  `router_timeout` after the whole request reached the dyno → H12
  idle        `router_idle_timeout` without a byte once bytes flow: dyno silent → H15,
              client silent before finishing its request → H28
The idle timer is re-armed lazily (one timer, checked against `last_io`) so a streaming body
costs no timer operations per chunk.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from router import codes, stages
from router.codes import CATALOG, HCode
from router.headers import (
    H_CONNECTION,
    H_CONTENT_LENGTH,
    H_EXPECT,
    H_FORWARDED_FOR,
    H_HOST,
    H_REQUEST_ID,
    H_TRANSFER_ENCODING,
    H_UPGRADE,
    H_VIA,
    MAX_HEADER_NAME,
    MAX_HEADER_VALUE,
    MAX_HEADERS,
    MAX_REQUEST_LINE,
    REQUEST_SPECIAL,
    has_token,
    new_request_id,
    valid_request_id,
)
from router.logline import format_record
from router.metrics import RequestRecord
from router.pages import error_response
from router.table import AppRoute

if TYPE_CHECKING:
    from router.client import ClientConnection
    from router.server import Router
    from router.upstream import DynoConnection

log = logging.getLogger("router")

_TIMER_NONE = 0
_TIMER_FIRST_BYTE = 1
_TIMER_IDLE = 2


class Exchange:
    __slots__ = (
        "app",
        "body_buf",
        "body_buffered",
        "cause",
        "chunked",
        "client",
        "client_keepalive",
        "connect_ms",
        "connect_timed_out",
        "content_length",
        "counted",
        "dyno",
        "expect",
        "finished",
        "head_forwarded",
        "holding",
        "host",
        "http11",
        "is_upgrade",
        "last_io",
        "lines",
        "method",
        "nbytes",
        "nheaders",
        "parse_failure",
        "received",
        "request_done",
        "request_id",
        "response_started",
        "route",
        "router",
        "router2",
        "service_start",
        "start_ms",
        "status",
        "task",
        "timer",
        "timer_kind",
        "upgrade",
        "upgrade_tail",
        "upstream",
        "url",
        "via",
        "violation",
        "xff",
    )

    def __init__(self, client: ClientConnection) -> None:
        self.client = client
        self.router: Router = client.router
        self.method = b""
        self.url = b""
        self.lines: list[bytes] = []  # forwarded header lines, as name, ": ", value, CRLF pieces
        self.nheaders = 0
        self.host: bytes | None = None
        self.content_length: bytes | None = None
        self.chunked = False
        self.expect: bytes | None = None
        self.upgrade: bytes | None = None
        self.request_id: bytes | None = None
        self.xff: bytes | None = None
        self.via: bytes | None = None
        self.violation: str | None = None  # H26 cause found while reading the head
        self.parse_failure: str | None = None  # H26 cause: the parser gave up on this request
        self.http11 = True
        self.client_keepalive = True
        self.is_upgrade = False
        self.upgrade_tail: bytes | None = None
        self.received = 0.0
        self.start_ms = 0
        self.app: str | None = None
        self.route: AppRoute | None = None
        self.router2 = False
        self.counted = False
        self.body_buf: list[bytes] = []
        self.body_buffered = 0
        self.request_done = False
        self.upstream: DynoConnection | None = None
        self.task: asyncio.Task[None] | None = None
        self.holding = False
        self.dyno: str | None = None
        self.connect_ms: float | None = None
        self.connect_timed_out = False
        self.service_start = 0.0
        self.response_started = False
        self.head_forwarded = False
        self.status: int | None = None
        self.nbytes = 0
        self.cause: str | None = None
        self.finished = False
        self.timer: asyncio.TimerHandle | None = None
        self.timer_kind = _TIMER_NONE
        self.last_io = 0.0

    # ------------------------------------------------------------------ reading the head
    def add_url(self, url: bytes) -> None:
        if len(self.url) + len(url) > MAX_REQUEST_LINE - 16:
            self.violation = self.violation or codes.CAUSE_BAD_REQUEST_LINE
            return
        self.url += url

    def add_header(self, name: bytes, value: bytes) -> None:
        self.nheaders += 1
        lname = name.lower()
        kind = REQUEST_SPECIAL.get(lname, -1)
        if kind == H_HOST:
            if self.host is not None:
                self.violation = self.violation or codes.CAUSE_BAD_HEADER
            self.host = value
        if (len(value) > MAX_HEADER_NAME or self.nheaders > MAX_HEADERS or len(name) > MAX_HEADER_NAME) and (
            len(name) > MAX_HEADER_NAME or len(value) > MAX_HEADER_VALUE or self.nheaders > MAX_HEADERS
        ):
            self.violation = self.violation or codes.CAUSE_BAD_HEADER
            return
        if kind < 0 or kind == H_HOST:
            self.lines += (name, b": ", value, b"\r\n")
        elif kind == H_CONTENT_LENGTH:
            self.content_length = value.strip()
        elif kind == H_TRANSFER_ENCODING:
            if has_token(value, b"chunked"):
                self.chunked = True
        elif kind == H_CONNECTION:
            pass  # keep-alive / upgrade decided by the parser
        elif kind == H_EXPECT:
            self.expect = value.strip().lower() or None
        elif kind == H_UPGRADE:
            self.upgrade = value
        elif kind == H_REQUEST_ID:
            self.request_id = value.strip()
        elif kind == H_FORWARDED_FOR:
            self.xff = value if self.xff is None else self.xff + b", " + value
        elif kind == H_VIA:
            self.via = value if self.via is None else self.via + b", " + value
        # H_DROP: hop-by-hop or untrusted, replaced by the router's own

    def head_complete(self, method: bytes, http11: bool, keepalive: bool, upgrade: bool) -> None:
        self.method = method
        self.http11 = http11
        self.client_keepalive = keepalive
        self.is_upgrade = upgrade
        self.received = self.last_io = self.router.loop.time()
        self.start_ms = int(time.time() * 1000)

    # ------------------------------------------------------------------ the chain of stages
    def start(self) -> None:
        """Run the synchronous stages, then dispatch to a dyno (called when it is our turn)."""
        try:
            self._start()
        except Exception:
            log.exception("router: internal error starting a request")
            self.router.internal_errors += 1
            self.fail("H99")

    def _start(self) -> None:
        router = self.router
        if self.parse_failure is not None and self.host is None:
            self.reject_unrouted()
            return
        problem = stages.validate(self)
        if problem is stages.NO_HOST:
            self.reject_unrouted()
            return
        route = router.table.resolve(self.host.decode("latin-1")) if self.host is not None else None
        if route is None:
            if problem is not None or self.parse_failure is not None:
                self.reject_unrouted()
            else:
                self.no_such_app()
            return
        self.attribute(route)
        if self.parse_failure is not None:
            self.fail("H26", cause=self.parse_failure)
            return
        if problem is not None:
            hcode, cause = problem
            self.fail_with(hcode, cause=cause)
            return
        if self.client.over_limit:
            self.fail("H22")
            return
        code = stages.check_app(route)
        if code is not None:
            self.fail(code)
            return
        if not stages.admit(self, route):
            self.fail("H11")
            return
        if self.expect is not None and self.http11:
            # vegur answers 100 Continue itself and does not forward the expectation
            self.client.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        conn = stages.pick_pooled(self, route) if route.keepalive else None
        if conn is not None:
            self.attach(conn)
        else:
            self.task = router.loop.create_task(self._dispatch(route))

    def attribute(self, route: AppRoute) -> None:
        """The request belongs to this app: from now on it is logged, with a request id."""
        self.app = route.name
        self.route = route
        self.router2 = route.keepalive
        if self.request_id is None or not valid_request_id(self.request_id):
            self.request_id = new_request_id()

    def has_body(self) -> bool:
        return self.chunked or (self.content_length is not None and self.content_length != b"0")

    async def _dispatch(self, route: AppRoute) -> None:
        try:
            conn, code = await stages.pick_and_connect(self, route)
        except asyncio.CancelledError:
            return  # the client left while the request was held; already logged as H27
        except Exception:
            log.exception("router: internal error picking a dyno")
            self.router.internal_errors += 1
            self.fail("H99")
            return
        self.task = None
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
            self.router.internal_error(self, "sending to the dyno")

    # ------------------------------------------------------------------ proxying
    def attach(self, conn: DynoConnection) -> None:
        """Send the head and any buffered body to the dyno; stream the rest as it comes."""
        router = self.router
        self.upstream = conn
        conn.begin(self)
        self.dyno = conn.backend.dyno
        now = router.loop.time()
        if self.connect_ms is None:
            self.connect_ms = 0.0
        if conn.closed:  # accepted, then closed before the request could be sent
            self.service_start = now
            self.fail("H13")
            return
        self.service_start = self.last_io = now
        head = self._upstream_head(now)
        if self.body_buf:
            conn.transport.writelines([head, *self.body_buf])
            self.body_buf = []
            self.body_buffered = 0
        else:
            conn.transport.write(head)
        client = self.client
        if client.writing_paused:
            conn.transport.pause_reading()
        if self.request_done or not self.has_body():
            # the whole request is at the dyno: from now on it has router_timeout to answer
            self._arm(_TIMER_FIRST_BYTE, router.timeout)
        else:
            self._arm(_TIMER_IDLE, router.idle_timeout)
            client.resume(client.PAUSE_BODY)
        if self.upgrade_tail is not None and not self.is_upgrade:
            self.upgrade_tail = None

    def _upstream_head(self, now: float) -> bytes:
        router = self.router
        client = self.client
        xff = client.peer_ip if self.xff is None else self.xff + b", " + client.peer_ip
        self.xff = xff
        via_self = b"1.1 heroku-router" if self.router2 else b"1.1 vegur"
        via = via_self if self.via is None else self.via + b", " + via_self
        parts = [self.method, b" ", self.url, b" HTTP/1.1\r\n"]
        parts += self.lines
        if self.chunked:
            parts.append(b"Transfer-Encoding: chunked\r\n")
        elif self.content_length is not None:
            parts += (b"Content-Length: ", self.content_length, b"\r\n")
        if self.is_upgrade and self.upgrade is not None:
            parts += (b"Connection: Upgrade\r\nUpgrade: ", self.upgrade, b"\r\n")
        elif self.router2:
            parts.append(b"Connection: keep-alive\r\n")
        else:
            parts.append(b"Connection: close\r\n")
        parts += (
            b"X-Request-Id: ",
            self.request_id or b"",
            b"\r\nX-Forwarded-For: ",
            xff,
            b"\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Port: ",
            router.port_bytes,
            b"\r\nX-Request-Start: ",
            b"%d" % self.start_ms,
            b"\r\nVia: ",
            via,
            b"\r\n",
        )
        if not self.router2:
            parts += (
                b"Connect-Time: %d\r\nTotal-Route-Time: %d\r\n"
                % (self.connect_ms or 0, int((now - self.received) * 1000)),
            )
        parts.append(b"\r\n")
        return b"".join(parts)

    def on_client_body(self, body: bytes) -> None:
        if self.finished:
            return  # answered already (error page); the rest of the body is discarded
        self.last_io = self.router.loop.time()
        if self.chunked:
            framed: tuple[bytes, ...] = (b"%x\r\n" % len(body), body, b"\r\n")
        else:
            framed = (body,)
        conn = self.upstream
        if conn is not None:
            conn.transport.writelines(framed)
            return
        self.body_buf += framed
        self.body_buffered += len(body)
        if self.body_buffered >= self.router.body_buffer_limit:
            self.client.pause(self.client.PAUSE_BODY)

    def on_client_complete(self) -> None:
        self.request_done = True
        if self.finished:
            return
        if self.chunked:
            if self.upstream is not None:
                self.upstream.transport.write(b"0\r\n\r\n")
            else:
                self.body_buf.append(b"0\r\n\r\n")
        if self.upstream is not None and not self.response_started and self.timer_kind != _TIMER_FIRST_BYTE:
            self._arm(_TIMER_FIRST_BYTE, self.router.timeout)

    def on_response_start(self) -> None:
        """The dyno sent its first byte: the first-byte timer no longer applies."""
        self.response_started = True
        if self.timer_kind == _TIMER_FIRST_BYTE:
            self._disarm()

    def ensure_idle_timer(self) -> None:
        if self.timer_kind != _TIMER_IDLE and not self.finished:
            self._arm(_TIMER_IDLE, self.router.idle_timeout)

    def response_complete(self) -> None:
        """The dyno's response has been passed on whole."""
        conn = self.upstream
        self.finish()
        self.upstream = None
        if conn is not None:
            conn.release(reusable=self.router2 and self.request_done)
        self.client.exchange_done(self, keep=self.request_done or not self.has_body())

    def begin_tunnel(self) -> None:
        """101 Switching Protocols: log the request now, then pipe bytes both ways."""
        conn = self.upstream
        if conn is None:
            return
        self.finish()
        self.client.start_tunnel(self, conn)
        self.upgrade_tail = None
        self._arm(_TIMER_IDLE, self.router.idle_timeout)

    # ------------------------------------------------------------------ timers
    def _arm(self, kind: int, delay: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer_kind = kind
        self.timer = self.router.loop.call_later(delay, self._on_timer)

    def stop_timers(self) -> None:
        self._disarm()

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.timer_kind = _TIMER_NONE

    def _on_timer(self) -> None:
        self.timer = None
        kind = self.timer_kind
        self.timer_kind = _TIMER_NONE
        try:
            if kind == _TIMER_FIRST_BYTE:
                if not self.response_started and not self.finished:
                    self.fail("H12")
                return
            idle = self.router.idle_timeout
            quiet = self.router.loop.time() - self.last_io
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
            elif not self.response_started:
                self._arm(_TIMER_FIRST_BYTE, max(0.0, self.router.timeout - quiet))
        except Exception:
            log.exception("router: internal error in a timer")
            self.router.internal_errors += 1
            self.fail("H99")

    # ------------------------------------------------------------------ endings
    def client_gone(self) -> None:
        """The client closed its connection before the exchange was over → H27."""
        if self.finished:
            return
        task = self.task
        if task is not None and self.holding:
            task.cancel()
        self.fail("H27")

    def reject_unrouted(self) -> None:
        """A request too broken to know its app: 400, no app log line (counted)."""
        self.router.unrouted += 1
        self.finished = True
        self._disarm()
        self.client.send_and_close(error_response("bad-request", 400, False))

    def no_such_app(self) -> None:
        self.router.unrouted += 1
        self.finished = True
        self._disarm()
        keep = self.client_keepalive and (self.request_done or not self.has_body())
        self.client.write(error_response("no-such-app", 404, keep))
        self.client.exchange_done(self, keep=keep)

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
            self.client_keepalive
            and (self.request_done or not self.has_body())
            and hcode.code not in ("H22", "H26")
        )
        client.write(error_response(hcode.page, hcode.status, keep))
        client.exchange_done(self, keep=keep)

    def finish(
        self, hcode: HCode | None = None, *, cause: str | None = None, desc: str | None = None
    ) -> None:
        """Write the one log line and the record; release the backlog slot and timers."""
        if self.finished:
            return
        self.finished = True
        timer = self.timer
        if timer is not None:
            timer.cancel()
            self.timer = None
        self.timer_kind = _TIMER_NONE
        router = self.router
        app = self.app
        if self.counted and app is not None:
            self.counted = False
            router.inflight[app] -= 1
        if app is None:
            return
        now = router.loop.time()
        if self.upstream is not None or self.service_start > 0.0:  # a dyno was reached
            service_ms: int | None = int((now - self.service_start) * 1000)
            nbytes: int | None = self.nbytes
        else:
            service_ms = nbytes = None
        if hcode is None:
            status, level, code, text_desc, sock = self.status, "info", None, None, None
        else:
            status, level, code, sock = hcode.status, hcode.level, hcode.code, hcode.sock
            text_desc = desc or hcode.desc
        connect_ms = self.connect_ms
        host = self.host
        request_id = self.request_id
        record = RequestRecord(
            app, self.dyno, code, status, None if connect_ms is None else int(connect_ms), service_ms,
            nbytes, self.method.decode("latin-1"), self.url.decode("latin-1"),
            "" if host is None else host.decode("latin-1"),
            "" if request_id is None else request_id.decode("latin-1"),
            level, int((now - self.received) * 1000), time.time(),
        )  # fmt: skip
        fwd = (self.xff if self.xff is not None else self.client.peer_ip).decode("latin-1")
        router.record(app, format_record(record, text_desc, cause, sock, fwd, self.router2), record)
