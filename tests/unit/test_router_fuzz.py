"""A property-based fuzz of the router's request path (hypothesis), bounded in examples.

Random request streams, built from pieces an attacker or a broken client would send (lengths
and Transfer-Encodings in every spelling, absolute-form targets, control characters, obs-fold,
hidden second requests, broken chunks), then mutated byte by byte and cut into random reads,
go through the real router code on mock transports (tests/support/router_mocks.py). A mock dyno
parses what it is sent with h11 and answers every request. Whatever the input:

  - the router never crashes (no exception escapes, no internal error counted);
  - every request a dyno parses is one the router logged as sent to that dyno (request id,
    method, path, host), and a dyno never finds bytes that are not a request;
  - the client reads well-formed responses only, and once the timers have run their course
    the connection is closed (answered, or hung up on cleanly);
  - every backlog place taken is given back.

Both routing modes run (Router 2.0 reuses dyno connections, where a desync would show).
The timers are a manual clock: no example waits.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import h11
import httptools
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.config import Settings
from tests.support.router_harness import parse_line
from tests.support.router_mocks import MockDyno, MockRouter

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: demo.localhost\r\nX-Request-Id: smuggled-request-id-0001\r\n\r\n"
METHODS = [b"GET", b"POST", b"HEAD", b"PUT", b"OPTIONS", b"CONNECT", b"get", b"G T"]
TARGETS = [
    b"/",
    b"/a?b=1",
    b"*",
    b"http://demo.localhost/x",
    b"HTTP://demo.localhost:5000",
    b"http://other.localhost/",
    b"http://u@demo.localhost/",
    b"demo.localhost:80",
    b"/%41\xff",
    b"",
]
VERSIONS = [b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1 x"]
HOSTS = [
    b"Host: demo.localhost",
    b"Host: demo.localhost",
    b"Host: DEMO.localhost:5000",
    b"Host: other.localhost",
    b"Host: ",
    b"Host: demo.localhost\r\nHost: demo.localhost",
    b"",
]
HEADERS = [
    b"Content-Length: 0",
    b"Content-Length: 5",
    b"Content-Length: 005",
    b"Content-Length: -1",
    b"Content-Length: 5, 5",
    b"Content-Length: 5\r\nContent-Length: 5",
    b"Content-Length: 99999999999999999999999",
    b"Transfer-Encoding: chunked",
    b"Transfer-Encoding: chunked",
    b"Transfer-Encoding: CHUNKED ",
    b"Transfer-Encoding: gzip",
    b"Transfer-Encoding: chunked\t",
    b"Transfer-Encoding: chunked, chunked",
    b"Transfer-Encoding: gzip, chunked",
    b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked",
    b"Transfer-Encoding : chunked",
    b"Transfer_Encoding: chunked",
    b"Content_Length: 5",
    b"Transfer-Encoding:\x0bchunked",
    b"Connection: close",
    b"Connection: keep-alive",
    b"Connection: Upgrade\r\nUpgrade: websocket",
    b"Expect: 100-continue",
    b"Expect: nope",
    b"X-Request-Id: abcdefghijklmnopqrstuvwxyz",
    b"X-Request-Id: short",
    b"X-Forwarded-For: 6.6.6.6",
    b"Via: 1.1 somewhere",
    b"X-Fold: a\r\n b",
    b"X-Ctl: a\x01b",
    b"X-Long: " + b"v" * 9000,
]
BODIES = [
    b"",
    b"hello",
    b"5\r\nhello\r\n0\r\n\r\n",
    b"5\r\nhello\r\n0\r\nHost: evil.localhost\r\n\r\n",
    b"3;e=1\r\nabc\r\n0\r\n\r\n",
    b"0\r\n\r\n",
    b"zz\r\n",
    b"ffffffffffffffffff\r\n",
    SMUGGLED,
    b"0\r\n\r\n" + SMUGGLED,
]


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    head = draw(st.sampled_from(METHODS)) + b" " + draw(st.sampled_from(TARGETS)) + b" "
    head += draw(st.sampled_from(VERSIONS)) + b"\r\n"
    lines = [draw(st.sampled_from(HOSTS)), *draw(st.lists(st.sampled_from(HEADERS), max_size=4))]
    draw(st.randoms()).shuffle(lines)
    head += b"".join(line + b"\r\n" for line in lines if line)
    return head + b"\r\n" + draw(st.sampled_from(BODIES))


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    """Requests back to back, a few bytes mutated, cut into reads at random places."""
    data = bytearray(b"".join(draw(st.lists(requests(), min_size=1, max_size=4))))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, max(0, len(data) - 1)))
        op = draw(st.sampled_from(["flip", "insert", "delete"]))
        byte = draw(st.sampled_from([0, 9, 10, 13, 32, 44, 58, 127, 255, ord("a")]))
        if op == "flip" and data:
            data[at] = byte
        elif op == "insert":
            data.insert(at, byte)
        elif data:
            del data[at]
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=4)))
    return bytes(data), cuts


@dataclass
class DynoSide:
    """What one mock dyno connection parsed (h11) and answered."""

    mock: MockDyno
    conn: h11.Connection = field(default_factory=lambda: h11.Connection(h11.SERVER))
    requests: list[h11.Request] = field(default_factory=list)
    garbage: list[str] = field(default_factory=list)
    answered: int = 0
    ended: bool = False

    def pump(self) -> bool:
        """Parse what the router sent, answer complete requests; True if anything happened."""
        if self.ended or self.garbage:
            return False
        data = self.mock.transport.take()
        closed = self.mock.transport.closed
        if not data and not closed:
            return False
        self.conn.receive_data(data)
        if closed:
            self.conn.receive_data(b"")
            self.ended = True
        self._events()
        return True

    def _events(self) -> None:
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                if not (self.ended and len(self.requests) > self.answered):
                    self.garbage.append(str(exc))  # a request cut short by the router is no garbage
                return
            if event is h11.NEED_DATA or event is h11.PAUSED or isinstance(event, h11.ConnectionClosed):
                if event is h11.PAUSED and self.conn.trailing_data[0]:
                    self.garbage.append("bytes after a request that ends the connection")
                return
            if isinstance(event, h11.Request):
                self.requests.append(event)
            elif isinstance(event, h11.EndOfMessage):
                self.answered += 1
                self._answer()

    def _answer(self) -> None:
        if self.mock.transport.closed:
            return
        # HEAD says Content-Length: 0, so the client side can be parsed without knowing methods
        head = self.requests[-1].method == b"HEAD"
        length = "0" if head else "2"
        out = self.conn.send(h11.Response(status_code=200, headers=[("Content-Length", length)])) or b""
        if not head:
            out += self.conn.send(h11.Data(data=b"ok")) or b""
        out += self.conn.send(h11.EndOfMessage()) or b""
        self.mock.respond(out)
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()


async def exercise(
    data: bytes, cuts: list[int], keepalive: bool
) -> tuple[MockRouter, list[DynoSide], bytes, bool]:
    bench = MockRouter(Settings(), keepalive=keepalive, clock=True)
    clock = bench.clock
    assert clock is not None
    client, out = bench.client()
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True) if b > a]
    sides: dict[int, DynoSide] = {}
    for _ in range(200):
        await bench.settle(3)
        progress = False
        for mock in bench.dynos.connections:
            side = sides.setdefault(id(mock), DynoSide(mock))
            progress = side.pump() or progress
        if pieces and out.reading and not out.closed:
            client.data_received(pieces.pop(0))
            progress = True
        if not progress:
            if out.closed or clock.pending() == 0:
                break
            clock.advance(60.0)  # let the router's timers decide (idle heads, keep-alive close)
    closed = out.closed
    out.lose()
    await bench.settle(3)
    for mock in bench.dynos.connections:
        sides.setdefault(id(mock), DynoSide(mock)).pump()
    return bench, list(sides.values()), bytes(out.buffer), closed


def parse_responses(raw: bytes) -> tuple[int, bool]:
    """(complete responses, whether the bytes parse cleanly as responses)."""
    done: list[int] = []

    class Reader:
        def on_message_complete(self) -> None:
            done.append(1)

    parser = httptools.HttpResponseParser(Reader())
    try:
        parser.feed_data(raw)
    except httptools.HttpParserError:
        return len(done), False
    return len(done), True


def check(bench: MockRouter, sides: list[DynoSide], client_bytes: bytes, closed: bool) -> None:
    assert bench.router.internal_errors == 0
    for side in sides:
        assert side.garbage == [], side.garbage
    lines = [parse_line(text) for _app, text in bench.lines]
    reached = sorted((ln["request_id"], ln["method"], ln["path"], ln["host"]) for ln in lines if ln["dyno"])
    received = [
        (
            dict(r.headers).get(b"x-request-id", b"").decode("latin-1"),
            r.method.decode("latin-1"),
            r.target.decode("latin-1"),
            dict(r.headers).get(b"host", b"").decode("latin-1"),
        )
        for side in sides
        for r in side.requests
    ]
    for request in received:
        assert request in reached, (request, reached)
        reached.remove(request)
    _count, clean = parse_responses(client_bytes)
    assert clean, client_bytes[:600]
    assert closed, "the router left a client connection open after every timer had run"
    assert bench.router.backlog.inflight() == {}


@settings(
    max_examples=250,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(streams(), st.booleans())
def test_no_input_crashes_the_router_or_reaches_a_dyno_unlogged(
    stream: tuple[bytes, list[int]], keepalive: bool
) -> None:
    data, cuts = stream
    check(*asyncio.run(exercise(data, cuts, keepalive)))
