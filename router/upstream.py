"""The router's side of a connection to a dyno: sends one request, parses one response.

`DynoConnection` is an asyncio Protocol around httptools' response parser. It passes the
response on to the client as it arrives (re-framing the body when the client cannot take the
dyno's framing), and turns what the dyno does wrong into H-codes:

  closed with no byte written              → H13
  some bytes, then closed before the end   → H18 (sock=backend)
  unparseable / no reason phrase           → H17
  conflicting Content-Length, Set-Cookie > 8192 B, header line > 512 KiB,
  status line > 8192 B                     → H25 (502)

With Router 2.0 (app feature http-routing-2-dot-0) a connection goes back to the router's
pool after a clean response and is reused for a later request; a dyno that closes an idle
kept-alive connection just as a request is sent produces H13/H18 on that request — the
keep-alive race Heroku documents.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol

import httptools

from router import codes
from router.closedtransport import CLOSED
from router.headers import (
    MAX_COOKIE,
    MAX_RESPONSE_HEAD,
    MAX_RESPONSE_HEADER_LINE,
    MAX_STATUS_LINE,
    R_CONNECTION,
    R_CONTENT_LENGTH,
    R_SET_COOKIE,
    R_TRANSFER_ENCODING,
    R_UPGRADE,
    RESPONSE_SPECIAL,
    has_token,
)
from router.table import Backend

if TYPE_CHECKING:
    from router.pool import DynoPool

MODE_NONE = 0  # no body to pass on
MODE_RAW = 1  # body bytes passed as they are (Content-Length, or close-delimited to HTTP/1.0)
MODE_CHUNK = 2  # body re-chunked for the client


_COMMON_PLAIN = (
    b"Server",
    b"Date",
    b"Content-Type",
    b"Cache-Control",
    b"Etag",
    b"ETag",
    b"Last-Modified",
    b"Vary",
)
_RESPONSE_KIND: dict[bytes, int] = {
    **{name.title(): kind for name, kind in RESPONSE_SPECIAL.items()},
    **{name: -1 for name in _COMMON_PLAIN},
}
_RESPONSE_KIND[b"Set-Cookie"] = R_SET_COOKIE


# what a lost connection's parser becomes: one that references no protocol (no cycle)
_SPENT_PARSER = httptools.HttpResponseParser(object())


class _Stop(Exception):
    """Raised inside a parser callback to stop parsing (reason in DynoConnection.stop)."""


class ResponseSink(Protocol):
    """What a dyno connection tells the request it serves (router.exchange.Exchange), and all
    it tells it: the connection never reaches into the request or its client."""

    def from_dyno(self, nbytes: int) -> None:
        """Bytes arrived from the dyno (before they are parsed): the first ends the first-byte wait."""

    def response_head(self, status: int, keepalive: bool) -> None:
        """The response head is ready to pass on; `keepalive`: the client's connection stays open."""

    def pass_on(self, chunks: list[bytes], complete: bool) -> None:
        """Bytes for the client (the list is reused: write it, do not keep it); `complete`: the
        response has been passed on whole."""

    def switched_protocols(self, tail: bytes) -> None:
        """101: from now on bytes pass through both ways; `tail` came after the head."""

    def dyno_failed(self, code: str, detail: str | None) -> None:
        """The dyno broke the exchange: H13, H17, H18 or H25 (`detail` says which restriction)."""

    def dyno_backpressure(self, paused: bool) -> None:
        """The dyno stopped (or resumed) reading what the router sends it."""

    def tunnel_closed(self) -> None:
        """The dyno closed a WebSocket tunnel."""

    def internal_error(self, where: str) -> None:
        """An exception escaped while handling the dyno's bytes (H99)."""


class DynoConnection(asyncio.Protocol):
    __slots__ = (
        "backend",
        "closed",
        "complete",
        "conn_close",
        "content_length",
        "dup_cl",
        "head_chunks",
        "head_only",
        "head_parts",
        "head_size",
        "http11",
        "idle_since",
        "in_head",
        "informational",
        "keepalive",
        "mode",
        "nbytes",
        "out",
        "parser",
        "pool",
        "reason",
        "reason_seen",
        "resp_chunked",
        "router2",
        "sink",
        "status",
        "stop",
        "transport",
        "tunnel",
        "until_close",
        "upgrade",
        "upgrade_requested",
        "violation",
        "writing_paused",
    )

    def __init__(self, pool: DynoPool, backend: Backend) -> None:
        self.pool = pool
        self.backend = backend
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set in connection_made
        self.sink: ResponseSink | None = None
        self.closed = False
        self.writing_paused = False
        self.tunnel = False
        self.idle_since = 0.0  # when it went back to the pool (Router 2.0)
        self.out: list[bytes] = []
        self.parser = _response_parser(self)
        self.stop: str | None = None
        self.nbytes = 0
        # the request being answered (set by begin)
        self.head_only = False
        self.http11 = True
        self.keepalive = True
        self.upgrade_requested = False
        self.router2 = False
        self._reset_response()

    def _reset_response(self) -> None:
        self.reason = b""
        self.reason_seen = False
        self.content_length: bytes | None = None
        self.resp_chunked = False
        self.conn_close = False
        self.upgrade: bytes | None = None
        self.head_parts: list[bytes] = []
        self.in_head = True
        self.head_size = 0
        self.head_chunks: list[bytes] | None = []
        self.complete = False
        self.informational = False
        self.violation: tuple[str, str | None] | None = None
        self.until_close = False
        self.mode = MODE_NONE
        self.dup_cl = False
        self.status = 0

    # ------------------------------------------------------------------ lifecycle
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.set_write_buffer_limits(high=256 * 1024)

    def begin(
        self, sink: ResponseSink, head_only: bool, http11: bool, keepalive: bool, upgrade: bool, router2: bool
    ) -> None:
        """Take on a request (a fresh connection, or one taken from the pool): what its response
        head must say depends on the request (HEAD, HTTP/1.0, keep-alive, Upgrade, Router 2.0)."""
        if self.stop is not None:  # the last response ended by stopping the parser
            self.parser = _response_parser(self)
            self.stop = None
        self._reset_response()
        self.nbytes = 0  # from the dyno for this request (none: H13; some: H18)
        self.sink = sink
        self.head_only = head_only
        self.http11 = http11
        self.keepalive = keepalive
        self.upgrade_requested = upgrade
        self.router2 = router2

    def usable(self) -> bool:
        """Open and idle: it can take a request."""
        return not self.closed and not self.transport.is_closing()

    def send(self, data: bytes) -> None:
        self.transport.write(data)

    def send_many(self, chunks: list[bytes]) -> None:
        self.transport.writelines(chunks)

    def pause_reading(self) -> None:
        self.transport.pause_reading()

    def resume_reading(self) -> None:
        self.transport.resume_reading()

    def release(self, reusable: bool) -> None:
        """The exchange is over: back to the pool (Router 2.0) or closed."""
        self.sink = None
        if (
            reusable
            and not self.closed
            and not self.conn_close
            and not self.until_close
            and self.stop in (None, "done")
            and not self.transport.is_closing()
            and self.pool.put(self)
        ):
            return
        self.close()

    def close(self) -> None:
        self.sink = None
        if not self.closed:
            self.closed = True
            self.transport.close()

    def abort(self) -> None:
        self.sink = None
        if not self.closed:
            self.closed = True
            self.transport.abort()

    def pause_writing(self) -> None:
        self.writing_paused = True
        sink = self.sink
        if sink is not None:
            sink.dyno_backpressure(True)

    def resume_writing(self) -> None:
        self.writing_paused = False
        sink = self.sink
        if sink is not None:
            sink.dyno_backpressure(False)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        try:
            self._lost()
        finally:
            # break the protocol ↔ transport ↔ parser cycles: refcounting frees them now
            self.transport = CLOSED
            self.parser = _SPENT_PARSER

    def _lost(self) -> None:
        sink = self.sink
        if sink is None:
            self.pool.discard(self)
            return
        if self.tunnel:
            sink.tunnel_closed()
            return
        if self.complete:
            return
        try:
            if self.until_close and not self.in_head:
                # a close-delimited body ends here: that is success
                if self.mode == MODE_CHUNK:
                    self.out.append(b"0\r\n\r\n")
                self.complete = True
                self._flush(sink, True)
            elif self.nbytes == 0:
                sink.dyno_failed("H13", None)
            else:
                self._flush(sink, False)
                sink.dyno_failed("H18", None)
        except Exception:
            sink.internal_error("dyno connection lost")

    # ------------------------------------------------------------------ bytes from the dyno
    def data_received(self, data: bytes) -> None:
        sink = self.sink
        if sink is None:  # a pooled connection spoke unasked: not safe to reuse
            self.pool.discard(self)
            self.abort()
            return
        if self.tunnel:
            sink.from_dyno(len(data))
            self.out.append(data)
            self._flush(sink, False)
            return
        try:
            self.nbytes += len(data)
            sink.from_dyno(len(data))
            self._feed(sink, data)
        except Exception:
            sink.internal_error("dyno data")

    def _feed(self, sink: ResponseSink, data: bytes) -> None:
        if self.in_head:
            self.head_size += len(data)
            if self.head_chunks is not None:
                self.head_chunks.append(data)
            if self.head_size > MAX_RESPONSE_HEAD:
                sink.dyno_failed("H25", codes.H25_OVERSIZED_HEADER)
                return
            if self.dup_cl:
                self._repair_duplicate_length(sink)
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._upgraded(sink, data[exc.args[0] :] if exc.args else b"")
            return
        except httptools.HttpParserError as exc:
            if not self._parse_error(sink, exc):
                return
        # the last thing done with this response: passing it on may end the exchange and start
        # the next request on this very connection (Router 2.0)
        self._flush(sink, self.complete)

    def _upgraded(self, sink: ResponseSink, tail: bytes) -> None:
        if self.status == 101:
            self.tunnel = True
            self._flush(sink, False)
            sink.switched_protocols(tail)
        else:
            self._flush(sink, False)
            sink.dyno_failed("H17", None)

    def _flush(self, sink: ResponseSink, complete: bool) -> None:
        out = self.out
        sink.pass_on(out, complete)
        out.clear()

    def _parse_error(self, sink: ResponseSink, exc: Exception) -> bool:
        """True when parsing stopped on purpose and the exchange goes on."""
        stop = self.stop
        if stop == "done":
            return True
        if stop == "extra":  # bytes after the end of the response: do not reuse
            self.conn_close = True
            return True
        violation = self.violation
        if violation is not None:
            self._flush(sink, False)
            sink.dyno_failed(violation[0], violation[1])
            return False
        message = str(exc)
        if "Content-Length" in message:
            if "Duplicate" in message and self.in_head:
                self.dup_cl = True
                self._repair_duplicate_length(sink)
                return False
            sink.dyno_failed("H25", codes.H25_INVALID_CONTENT_LENGTH)
            return False
        self._flush(sink, False)
        sink.dyno_failed("H17", None)
        return False

    def _repair_duplicate_length(self, sink: ResponseSink) -> None:
        """Identical duplicate Content-Lengths are merged (as Heroku does); differing ones are H25."""
        raw = b"".join(self.head_chunks or ())
        end = raw.find(b"\r\n\r\n")
        if end < 0:
            return  # wait for the rest of the head
        head, rest = raw[: end + 2], raw[end + 4 :]
        values = set()
        kept: list[bytes] = []
        seen = False
        for line in head.split(b"\r\n"):
            name, sep, value = line.partition(b":")
            if sep and name.strip().lower() == b"content-length":
                values.add(value.strip())
                if seen:
                    continue
                seen = True
            kept.append(line)
        if len(values) != 1:
            sink.dyno_failed("H25", codes.H25_INVALID_CONTENT_LENGTH)
            return
        self.parser = _response_parser(self)
        self._reset_response()
        self.head_chunks = None  # no second repair
        self._feed(sink, b"\r\n".join(kept) + b"\r\n" + rest)

    # ------------------------------------------------------------------ parser callbacks
    def on_message_begin(self) -> None:
        if self.complete:
            self.stop = "extra"
            raise _Stop

    def on_status(self, status: bytes) -> None:
        self.reason_seen = True
        self.reason += status
        if len(self.reason) > MAX_STATUS_LINE - 13:
            self.violation = ("H25", codes.H25_OVERSIZED_STATUS_LINE)
            raise _Stop

    def on_header(self, name: bytes, value: bytes) -> None:
        # a head that is still under 8 KiB cannot break any limit: skip the checks
        big = self.head_size > MAX_COOKIE
        if big and len(name) + len(value) + 4 > MAX_RESPONSE_HEADER_LINE:
            self.violation = ("H25", codes.H25_OVERSIZED_HEADER)
            raise _Stop
        kind = _RESPONSE_KIND.get(name)  # as most servers spell them, saves a lower()
        if kind is None:
            kind = RESPONSE_SPECIAL.get(name.lower(), -1)
        if kind < 0:
            self.head_parts += (name, b": ", value, b"\r\n")
        elif kind == R_SET_COOKIE:
            if big and len(value) > MAX_COOKIE:
                self.violation = ("H25", codes.H25_OVERSIZED_COOKIE)
                raise _Stop
            self.head_parts += (name, b": ", value, b"\r\n")
        elif kind == R_CONTENT_LENGTH:
            self.content_length = value.strip()
        elif kind == R_TRANSFER_ENCODING:
            self.resp_chunked = has_token(value, b"chunked")
        elif kind == R_CONNECTION:  # "keep-alive" is what nearly every server sends
            self.conn_close = value != b"keep-alive" and has_token(value, b"close")
        elif kind == R_UPGRADE:
            self.upgrade = value
        # R_DROP: hop-by-hop

    def on_headers_complete(self) -> None:
        sink = self.sink
        assert sink is not None
        if not self.reason_seen:
            # "HTTP/1.1 200" with no reason phrase: Heroku calls that poorly formatted
            self.violation = ("H17", None)
            raise _Stop
        status = self.parser.get_status_code()
        if status < 200 and status != 101:
            self.informational = True  # 100/102/103 from the dyno: the router answered 100 itself
            return
        self.status = status
        keep = self.keepalive and not self.upgrade_requested
        parts = [b"HTTP/1.1 %d " % status, self.reason, b"\r\n"]
        parts += self.head_parts
        if status == 101:
            parts.append(b"Connection: Upgrade\r\n")
            if self.upgrade is not None:
                parts += (b"Upgrade: ", self.upgrade, b"\r\n")
        else:
            keep = self._body_framing(parts, status, keep)
        if self.router2:
            parts.append(b"Via: 1.1 heroku-router\r\n")
        parts.append(b"\r\n")
        self.out.append(b"".join(parts))
        self.in_head = False
        self.head_chunks = None
        sink.response_head(status, keep)
        if self.head_only and status != 101:
            self.complete = True
            self.stop = "done"
            raise _Stop

    def _body_framing(self, parts: list[bytes], status: int, keep: bool) -> bool:
        """How the response body reaches the client (re-framed when the client cannot take
        the dyno's framing); returns whether the client's connection stays open."""
        mode = MODE_NONE
        if self.head_only or status in (204, 304):
            if self.content_length is not None:
                parts += (b"Content-Length: ", self.content_length, b"\r\n")
        elif self.resp_chunked or self.content_length is None:
            self.until_close = not self.resp_chunked
            if self.http11:
                parts.append(b"Transfer-Encoding: chunked\r\n")
                mode = MODE_CHUNK
            else:
                mode = MODE_RAW
                keep = False  # HTTP/1.0 has no chunked: the body ends when we close
        else:
            parts += (b"Content-Length: ", self.content_length, b"\r\n")
            mode = MODE_RAW
        if not keep:
            parts.append(b"Connection: close\r\n")
        elif not self.http11:
            parts.append(b"Connection: keep-alive\r\n")
        self.mode = mode
        return keep

    def on_body(self, body: bytes) -> None:
        if self.informational:
            return
        if self.mode == MODE_CHUNK:
            self.out += (b"%x\r\n" % len(body), body, b"\r\n")
        elif self.mode == MODE_RAW:
            self.out.append(body)

    def on_message_complete(self) -> None:
        if self.informational:
            self._reset_response()
            self.in_head = True
            self.head_chunks = None
            return
        if self.mode == MODE_CHUNK:
            self.out.append(b"0\r\n\r\n")
        self.complete = True


def _response_parser(conn: DynoConnection) -> httptools.HttpResponseParser:
    parser = httptools.HttpResponseParser(conn)
    parser.set_dangerous_leniencies(lenient_chunked_length=True)  # chunked wins over CL
    return parser
