"""HTTP/2 to clients (ALPN `h2` on the TLS port), HTTP/1.1 to dynos: one stream, one dyno request.

`H2Connection` is an asyncio Protocol around the `h2` library's state machine. Each request
stream becomes an `H2Stream`, which poses as the transport of an ordinary `ClientConnection`
(router.client): the stream's request is handed to it as an HTTP/1.1 request (`Connection:
close`, so the connection object ends with its one exchange), and the HTTP/1.1 response the
exchange writes back is parsed (httptools) into HEADERS and DATA frames. So every stream goes
through exactly the chain, H-codes, headers, request id and log line of the plain port, and a
stream's H12 or H13 ends that stream alone (with its error page) while its siblings go on.

Request headers are checked before they become HTTP/1.1 (RFC 9113 §8.2.1: a field with CR, LF
or NUL, a bad method or path is a malformed request, answered RST_STREAM PROTOCOL_ERROR and
counted): HTTP/2 must never be a way to smuggle a second request to a dyno.

Bounded: a connection with no open stream is closed (GOAWAY) after `router_keepalive_timeout`,
as the plain port closes idle keep-alive connections; at most `max_streams` concurrent streams
(SETTINGS_MAX_CONCURRENT_STREAMS): a stream past it is refused alone, RST_STREAM REFUSED_STREAM
(`RefusingConnection`), counted and without a router line, while the connection and its other
streams go on; request bodies are acknowledged (WINDOW_UPDATE) only once handed on, so a dyno
that does not read stops the client by flow control; response data waits for the client's
window, and a stream holding more than `HIGH_WATER` unsent bytes stops reading from its dyno, as
does every stream while the TLS transport's buffer is full.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import hpack
import httptools
from hyperframe.frame import Frame, HeadersFrame

from router.client import ClientConnection

if TYPE_CHECKING:
    from router.server import Router

log = logging.getLogger("router")

HIGH_WATER = 256 * 1024  # unsent response bytes per stream before its dyno is paused
LOW_WATER = 64 * 1024
INITIAL_WINDOW = 256 * 1024  # what a client may send on a stream before it is acknowledged
MAX_HEADER_LIST = 1 << 20  # the plain port's request head limit

_METHOD = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_VALUE = re.compile(rb"[\r\n\x00]")
_BAD_TARGET = re.compile(rb"[\x00-\x20\x7f]")
_HOP_BY_HOP = frozenset((b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"))
_CHUNK_END = b"0\r\n\r\n"


class Malformed(Exception):
    """A request the router refuses to turn into HTTP/1.1 (RST_STREAM PROTOCOL_ERROR)."""


def request_head(headers: list[tuple[bytes, bytes]], ended: bool) -> tuple[bytes, bool, bool]:
    """(the HTTP/1.1 head, chunked body, HEAD request) for an HTTP/2 request's header list."""
    pseudo: dict[bytes, bytes] = {}
    lines: list[bytes] = []
    cookies: list[bytes] = []
    has_length = False
    host: bytes | None = None
    for name, value in headers:
        if _BAD_VALUE.search(value) or _BAD_VALUE.search(name) or b":" in name[1:]:
            raise Malformed(f"bad header field {name!r}")
        if name.startswith(b":"):
            pseudo[name] = value
        elif name == b"cookie":
            cookies.append(value)
        elif name == b"host":
            host = value
        else:
            has_length = has_length or name == b"content-length"
            lines.append(name + b": " + value + b"\r\n")
    method, path = pseudo.get(b":method", b""), pseudo.get(b":path", b"")
    authority = pseudo.get(b":authority", host)
    _check_start(method, path, authority)
    if cookies:
        lines.append(b"cookie: " + b"; ".join(cookies) + b"\r\n")
    chunked = not ended and not has_length
    if chunked:
        lines.append(b"transfer-encoding: chunked\r\n")
    start = b"%s %s HTTP/1.1\r\nhost: %s\r\n" % (method, path, authority)
    return start + b"".join(lines) + b"connection: close\r\n\r\n", chunked, method == b"HEAD"


def _check_start(method: bytes, path: bytes, authority: bytes | None) -> None:
    if not _METHOD.fullmatch(method) or method == b"CONNECT":
        raise Malformed(f"method {method!r} is not routed")
    if not path or _BAD_TARGET.search(path) or not (path.startswith(b"/") or path == b"*"):
        raise Malformed("bad :path")
    if authority is None or _BAD_TARGET.search(authority):
        raise Malformed("bad :authority")


@dataclass
class StreamCounts:
    """Stream counters over every HTTP/2 connection of one listener (TlsListener.metrics)."""

    total: int = 0  # streams whose request went into the chain
    malformed: int = 0  # reset PROTOCOL_ERROR: never became HTTP/1.1
    refused: int = 0  # reset REFUSED_STREAM: opened past SETTINGS_MAX_CONCURRENT_STREAMS


class StreamRefused(h2.events.Event):
    """Not one of h2's events: `RefusingConnection` reset a stream opened past the limit."""

    def __init__(self, stream_id: int) -> None:
        self.stream_id = stream_id


class RefusingConnection(h2.connection.H2Connection):
    """h2's server state machine, except for a stream opened past SETTINGS_MAX_CONCURRENT_STREAMS:
    h2 ends the connection for it (TooManyStreamsError, GOAWAY), killing the streams in flight;
    this answers that one stream RST_STREAM REFUSED_STREAM (RFC 9113 §5.1.2 allows a stream
    error; the client knows the request was not processed and may retry it), as nginx and Go do.

    h2 checks the limit at the top of `_receive_headers_frame`, only for a stream ID it does not
    hold, so that is the one method overridden."""

    def _receive_headers_frame(self, frame: HeadersFrame) -> tuple[list[Frame], list[h2.events.Event]]:
        stream_id = frame.stream_id
        if (
            stream_id in self.streams
            or self.open_inbound_streams < self.local_settings.max_concurrent_streams
        ):
            return super()._receive_headers_frame(frame)
        if stream_id <= self.highest_inbound_stream_id:
            # No new stream: HEADERS (trailers) for one closed and already forgotten, e.g. refused
            # while its body was on the way. Decoded, as every header block must be for HPACK's
            # table to stay in step, then judged as h2 does below the limit (after our reset:
            # RST_STREAM STREAM_CLOSED, the connection goes on).
            try:
                self.decoder.decode(frame.data, raw=True)
            except hpack.HPACKError as exc:  # a connection error, as h2 makes it
                raise h2.exceptions.ProtocolError(f"Error decoding header block: {exc}") from exc
            raise h2.exceptions.StreamIDTooLowError(stream_id, self.highest_inbound_stream_id)
        # Open the stream first, so that h2 skips its check and takes the frame down its usual
        # path (header block decoded into HPACK's table, stream ID used), then reset it: h2 keeps
        # it as reset by us, so DATA still on its way is answered RST_STREAM with the connection
        # window given back, trailers too. Its RequestReceived is dropped: no request was made.
        stream = self._begin_new_stream(
            stream_id, h2.connection.AllowedStreamIDs(not self.config.client_side)
        )
        frames, events = super()._receive_headers_frame(frame)
        frames += stream.reset_stream(h2.errors.ErrorCodes.REFUSED_STREAM)
        kept = [event for event in events if getattr(event, "stream_id", None) != stream_id]
        return frames, [*kept, StreamRefused(stream_id)]


class H2Connection(asyncio.Protocol):
    def __init__(
        self,
        router: Router,
        port_bytes: bytes,
        tls_version: str,
        max_streams: int,
        on_closed: Callable[[H2Connection], None],
        counts: StreamCounts | None = None,
    ) -> None:
        self.router = router
        self.port_bytes = port_bytes
        self.tls_version = tls_version
        self.max_streams = max_streams
        self._on_closed = on_closed
        self.counts = counts if counts is not None else StreamCounts()
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.conn = RefusingConnection(config=config)
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, H2Stream] = {}
        self.write_paused = False
        self.closed = False
        self.refused = 0  # on this connection: only the first is logged
        self.last_io = 0.0
        self.timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ transport events
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's: not a subclass
        self.transport.set_write_buffer_limits(high=HIGH_WATER)
        loop = self.router.loop
        self.last_io = loop.time()
        self.timer = loop.call_later(self.router.keepalive_timeout, self._on_timer)
        self.conn.initiate_connection()
        self.conn.update_settings(
            {
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.max_streams,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: INITIAL_WINDOW,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: MAX_HEADER_LIST,
            }
        )
        self.flush()

    def data_received(self, data: bytes) -> None:
        self.last_io = self.router.loop.time()
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            # h2 has queued a GOAWAY naming the error: send it and hang up
            self.flush()
            self.close()
            return
        for event in events:
            self._dispatch(event)
        self.flush()

    def _dispatch(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            self._request(event.stream_id, event.headers or [], event.stream_ended is not None)
        elif isinstance(event, h2.events.DataReceived):
            self._data(event.stream_id or 0, event.data or b"", event.flow_controlled_length or 0)
        elif isinstance(event, h2.events.StreamEnded):
            stream = self.streams.get(event.stream_id or 0)
            if stream is not None:
                stream.body_ended()
        elif isinstance(event, h2.events.StreamReset):
            stream = self.streams.pop(event.stream_id or 0, None)
            if stream is not None:
                stream.peer_reset()
        elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
            self.send_pending()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.close()
        elif isinstance(event, StreamRefused):
            self._refused(event.stream_id)

    def _data(self, stream_id: int, data: bytes, flow_length: int) -> None:
        stream = self.streams.get(stream_id)
        if stream is not None:
            stream.body(data, flow_length)
        elif stream_id and flow_length:
            self._ack(stream_id, flow_length)  # a stream already answered: give the window back

    def _on_timer(self) -> None:
        """An idle connection (no stream open) is closed after `router_keepalive_timeout`,
        with a GOAWAY, as the plain port closes an idle keep-alive connection."""
        self.timer = None
        if self.closed:
            return
        loop = self.router.loop
        limit = self.router.keepalive_timeout
        quiet = loop.time() - self.last_io
        if self.streams or quiet < limit:
            self.timer = loop.call_later(
                max(limit - quiet, 0.05) if not self.streams else limit, self._on_timer
            )
            return
        self.conn.close_connection()
        self.flush()
        self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        streams = list(self.streams.values())
        self.streams.clear()
        for stream in streams:
            stream.peer_reset()
        self._on_closed(self)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self.send_pending()
        self.flush()

    # ------------------------------------------------------------------ streams
    def _request(self, stream_id: int | None, headers: Any, ended: bool) -> None:
        if stream_id is None:
            return
        try:
            head, chunked, head_only = request_head(list(headers), ended)
        except Malformed as exc:
            self.counts.malformed += 1
            log.info("router: HTTP/2 stream %d refused: %s", stream_id, exc)
            self.reset(stream_id, h2.errors.ErrorCodes.PROTOCOL_ERROR)
            return
        self.counts.total += 1
        stream = H2Stream(self, stream_id, chunked, head_only)
        self.streams[stream_id] = stream
        stream.start(head, ended)

    def _refused(self, stream_id: int) -> None:
        """Counted every time; logged once per connection (a client past the limit tends to
        send many, and must not flood the log). Nothing reached a dyno: no router line."""
        self.counts.refused += 1
        self.refused += 1
        if self.refused == 1:
            peer = self.peername()
            log.info(
                "router: HTTP/2 stream %d from %s refused (REFUSED_STREAM): %d streams open, the most "
                "SETTINGS_MAX_CONCURRENT_STREAMS allows; more refusals on this connection are only counted",
                stream_id, peer[0] if peer else "?", self.conn.local_settings.max_concurrent_streams,
            )  # fmt: skip

    def stream_done(self, stream: H2Stream) -> None:
        if self.streams.get(stream.stream_id) is stream:
            del self.streams[stream.stream_id]
            self.last_io = self.router.loop.time()  # idle from now on, if it was the last

    def reset(self, stream_id: int, code: h2.errors.ErrorCodes) -> None:
        try:
            self.conn.reset_stream(stream_id, code)
        except h2.exceptions.ProtocolError:
            pass  # already closed on the client's side
        self.flush()

    def _ack(self, stream_id: int, nbytes: int) -> None:
        try:
            self.conn.acknowledge_received_data(nbytes, stream_id)
        except h2.exceptions.ProtocolError:
            pass  # the stream is gone; the connection window was credited by h2 itself

    def ack(self, stream_id: int, nbytes: int) -> None:
        if nbytes and not self.closed:
            self._ack(stream_id, nbytes)
            self.flush()

    def send_pending(self) -> None:
        for stream in list(self.streams.values()):
            stream.send_pending()

    # ------------------------------------------------------------------ output
    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data and not self.closed and self.transport is not None:
            self.transport.write(data)

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.close()

    def abort(self) -> None:
        """The router stops: cut the connection (streams end without a log line)."""
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        for stream in list(self.streams.values()):
            stream.client.abort()
        self.streams.clear()
        if self.transport is not None:
            self.transport.abort()

    def peername(self) -> Any:
        return self.transport.get_extra_info("peername") if self.transport is not None else None


class H2Stream(asyncio.Transport):
    """One stream, posing as the transport of a `ClientConnection` that serves its request."""

    def __init__(self, owner: H2Connection, stream_id: int, chunked: bool, head_only: bool) -> None:
        super().__init__()
        self.owner = owner
        self.stream_id = stream_id
        self.chunked = chunked
        self.head_only = head_only
        client = ClientConnection(owner.router)
        client.proto = b"https"
        client.port_bytes = owner.port_bytes
        client.tls_version = owner.tls_version
        client.http2 = True
        self.client = client
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.pending: deque[bytes] = deque()  # response data waiting for the client's window
        self.pending_bytes = 0
        self.response_done = False  # the whole response was handed over
        self.ended = False  # END_STREAM (or RST_STREAM) sent
        self.closing = False
        self.lost = False
        self.reading_paused = False
        self.writing_paused = False
        self.held: deque[tuple[bytes, int]] = deque()  # request bytes (and their flow length) held

    # ------------------------------------------------------------------ the request
    def start(self, head: bytes, ended: bool) -> None:
        self.client.connection_made(self)
        self._deliver(head, 0)
        if ended:
            self.body_ended()

    def body(self, data: bytes, flow_length: int) -> None:
        if self.chunked and data:
            data = b"%x\r\n%s\r\n" % (len(data), data)
        self._deliver(data, flow_length)

    def body_ended(self) -> None:
        if self.chunked:
            self._deliver(_CHUNK_END, 0)

    def _deliver(self, data: bytes, flow_length: int) -> None:
        if self.reading_paused or self.held:
            self.held.append((data, flow_length))
            return
        if data and not self.lost:
            self.client.data_received(data)
        self.owner.ack(self.stream_id, flow_length)

    def peer_reset(self) -> None:
        """The client reset the stream (or the connection went): H27 for a request in progress."""
        self.ended = True
        self._lose()

    # ------------------------------------------------------------------ asyncio.Transport, for the ClientConnection
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self.owner.peername()
        return default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass  # this stream's limits are HIGH_WATER / LOW_WATER

    def get_write_buffer_size(self) -> int:
        return self.pending_bytes

    def is_closing(self) -> bool:
        return self.closing or self.lost

    def pause_reading(self) -> None:
        self.reading_paused = True

    def resume_reading(self) -> None:
        self.reading_paused = False
        while self.held and not self.reading_paused:
            data, flow_length = self.held.popleft()
            if data and not self.lost:
                self.client.data_received(data)
            self.owner.ack(self.stream_id, flow_length)

    def is_reading(self) -> bool:
        return not self.reading_paused

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.ended or self.response_done:
            return
        try:
            self.parser.feed_data(bytes(data))
        except httptools.HttpParserError:
            log.exception("router: could not read back a response for HTTP/2 stream %d", self.stream_id)
            self._reset(h2.errors.ErrorCodes.INTERNAL_ERROR)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def close(self) -> None:
        if self.closing:
            return
        self.closing = True
        if not self.response_done:
            self._reset(h2.errors.ErrorCodes.INTERNAL_ERROR)  # the response was cut
        asyncio.get_running_loop().call_soon(self._lose)

    def abort(self) -> None:
        self.closing = True
        if not self.ended:
            self._reset(h2.errors.ErrorCodes.CANCEL)
        self._lose()

    def _lose(self) -> None:
        if self.lost:
            return
        self.lost = True
        self.held.clear()
        if not self.pending:
            self.owner.stream_done(self)
        self.client.connection_lost(None)

    # ------------------------------------------------------------------ the response, parsed back (httptools callbacks)
    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name not in _HOP_BY_HOP:
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        headers = [(b":status", b"%d" % status), *self.headers]
        self.headers = []
        if status < 200:
            self._send_headers(headers, False)  # 100 Continue: informational
            return
        self.status = status
        self._send_headers(headers, self.head_only)
        if self.head_only:
            self.response_done = True

    def on_body(self, body: bytes) -> None:
        if self.status and not self.head_only and body:
            self.pending.append(body)
            self.pending_bytes += len(body)
            self.send_pending()
            if self.pending_bytes > HIGH_WATER and not self.writing_paused:
                self.writing_paused = True
                self.client.pause_writing()

    def on_message_complete(self) -> None:
        if self.status and not self.response_done:
            self.response_done = True
            self.send_pending()

    # ------------------------------------------------------------------ frames out
    def _send_headers(self, headers: list[tuple[bytes, bytes]], end: bool) -> None:
        owner = self.owner
        try:
            owner.conn.send_headers(self.stream_id, headers, end_stream=end)
        except h2.exceptions.ProtocolError:
            log.info("router: HTTP/2 stream %d: response headers refused by h2", self.stream_id)
            self._reset(h2.errors.ErrorCodes.INTERNAL_ERROR)
            return
        self.ended = self.ended or end
        owner.flush()

    def send_pending(self) -> None:
        """Send what the client's windows allow; END_STREAM once the whole response went."""
        owner = self.owner
        if self.ended or owner.write_paused or owner.closed:
            return
        conn = owner.conn
        try:
            self._send_data(conn)
            if not self.pending and self.response_done:
                conn.end_stream(self.stream_id)
                self.ended = True
        except h2.exceptions.StreamClosedError:
            self.pending.clear()
            self.pending_bytes = 0
            self.ended = True
        owner.flush()
        if self.writing_paused and self.pending_bytes <= LOW_WATER:
            self.writing_paused = False
            self.client.resume_writing()
        if self.ended and self.lost:
            owner.stream_done(self)

    def _send_data(self, conn: h2.connection.H2Connection) -> None:
        pending = self.pending
        while pending:
            window = min(conn.local_flow_control_window(self.stream_id), conn.max_outbound_frame_size)
            if window <= 0:
                return
            chunk = pending[0]
            if len(chunk) > window:
                pending[0] = chunk[window:]
                chunk = chunk[:window]
            else:
                pending.popleft()
            self.pending_bytes -= len(chunk)
            conn.send_data(self.stream_id, chunk)

    def _reset(self, code: h2.errors.ErrorCodes) -> None:
        if self.ended:
            return
        self.ended = True
        self.pending.clear()
        self.pending_bytes = 0
        self.owner.reset(self.stream_id, code)
