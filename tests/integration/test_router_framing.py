"""Request smuggling, table-driven (RFC 9112 §6): whatever reaches a dyno is exactly what the
router logged, request for request, in both routing modes.

Each case writes raw bytes to the router (CL.TE, TE.CL, TE.TE obfuscations, duplicated and
malformed lengths, whitespace and control characters, obs-fold, HTTP/1.0 with Transfer-Encoding,
absolute-form targets, trailers, pipelined follow-ups carrying a second request) and checks
together: the client's statuses and whether its connection was closed, the heroku[router]
lines (H-code and cause), and the requests a recording dyno parsed with its own strict parser
(h11). The lines that name a dyno and the dyno's requests must match one to one (request id,
method, path, host), and the dyno must find no stray bytes. Router 2.0 keeps dyno connections
open, so a desync there would put the hidden request on the next one: both modes run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httptools
import pytest
import uvloop

from common.config import Settings
from tests.support.recorder import RecorderDyno, Seen
from tests.support.router_harness import RouterHarness

pytestmark = pytest.mark.filterwarnings('ignore:Overriding the "event_loop_policy" fixture')

TIMERS = 10.0  # no case may end by a timer: every answer comes from the framing decision
SETTINGS = Settings(
    router_connect_timeout=TIMERS,
    router_timeout=TIMERS,
    router_idle_timeout=TIMERS,
    router_hold_timeout=TIMERS,
    router_keepalive_timeout=TIMERS,
)
HOST = b"demo.localhost"
# a complete request hidden where a body is, with headers only the router may set
SMUGGLED = (
    b"GET /smuggled HTTP/1.1\r\nHost: demo.localhost\r\nX-Forwarded-For: 6.6.6.6\r\n"
    b"X-Request-Id: smuggled-request-id-0001\r\nContent-Length: 0\r\n\r\n"
)
NEXT = b"GET /next HTTP/1.1\r\nHost: demo.localhost\r\n\r\n"


@pytest.fixture(scope="module")
def event_loop_policy() -> uvloop.EventLoopPolicy:
    return uvloop.EventLoopPolicy()


def post(*headers: bytes, version: bytes = b"HTTP/1.1", target: bytes = b"/a") -> bytes:
    return (
        b"POST "
        + target
        + b" "
        + version
        + b"\r\nHost: demo.localhost\r\n"
        + b"".join(h + b"\r\n" for h in headers)
        + b"\r\n"
    )


@dataclass
class Case:
    name: str
    sent: list[bytes]  # written in turn; after each but the last, the dyno has seen a request
    statuses: list[int]  # what the client reads, in order
    closed: bool  # the router closes the connection after those
    codes: list[str | None] = field(default_factory=list)  # the app's lines (H-code or None)
    cause: str | None = None  # the H26 cause, when there is one
    dyno: list[tuple[str, str, bytes]] = field(default_factory=list)  # (method, target, body)
    host: str = "demo.localhost"  # the Host every dyno request carries


BAD = "bad header"
CASES = [
    # ---- Transfer-Encoding other than a single `chunked`: refused, nothing after it read
    Case("te-gzip", [post(b"Transfer-Encoding: gzip") + SMUGGLED], [400], True, ["H26"], BAD),
    Case("te-xchunked", [post(b"Transfer-Encoding: xchunked") + b"0\r\n\r\n" + SMUGGLED], [400], True, ["H26"], BAD),
    Case("te-chunked-gzip", [post(b"Transfer-Encoding: chunked, gzip") + b"0\r\n\r\n" + SMUGGLED], [400], True, ["H26"], BAD),
    Case("te-gzip-chunked", [post(b"Transfer-Encoding: gzip, chunked") + b"0\r\n\r\n" + SMUGGLED], [400], True, ["H26"], BAD),
    Case("te-two-lines-chunked-last", [post(b"Transfer-Encoding: gzip", b"Transfer-Encoding: chunked") + b"0\r\n\r\n" + SMUGGLED], [400], True, ["H26"], BAD),
    Case("te-two-lines-chunked-first", [post(b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip") + b"0\r\n\r\n" + SMUGGLED], [400], True, ["H26"], BAD),
    Case("te-chunked-twice", [post(b"Transfer-Encoding: chunked, chunked") + b"0\r\n\r\n" + SMUGGLED], [400], True, ["H26"], BAD),
    Case("te-identity", [post(b"Transfer-Encoding: identity", b"Content-Length: 5") + b"hello" + SMUGGLED], [400], True, ["H26"], BAD),
    Case("te-quoted", [post(b'Transfer-Encoding: "chunked"') + b"0\r\n\r\n" + SMUGGLED], [400], True, ["H26"], BAD),
    Case("te-empty", [post(b"Transfer-Encoding: ", b"Content-Length: 5") + b"hello" + SMUGGLED], [400], True, ["H26"], BAD),
    Case("te-space-before-colon", [post(b"Transfer-Encoding : chunked", b"Content-Length: 5") + b"hello" + SMUGGLED], [400], True, ["H26"], BAD),
    Case("te-vertical-tab", [post(b"Transfer-Encoding:\x0bchunked") + b"0\r\n\r\n" + SMUGGLED], [400], True, ["H26"], BAD),
    Case("te-nul", [post(b"Transfer-Encoding: chunked\x00") + b"0\r\n\r\n" + SMUGGLED], [400], True, ["H26"], BAD),
    Case("te-obs-fold", [post(b"Transfer-Encoding:", b" chunked", b"Content-Length: 5") + b"hello" + SMUGGLED], [400], True, ["H26"], BAD),
    Case("te-underscore", [post(b"Transfer_Encoding: chunked", b"Content-Length: 5") + b"0\r\n\r\n" + SMUGGLED], [400], True, ["H26"], BAD),
    Case("cl-underscore", [post(b"Content_Length: 5") + b"hello" + SMUGGLED], [400], True, ["H26"], BAD),
    Case("te-http10", [post(b"Transfer-Encoding: chunked", version=b"HTTP/1.0") + b"5\r\nhello\r\n0\r\n\r\n" + SMUGGLED], [400], True, ["H26"], BAD),
    # ---- accepted spellings of chunked: framed by the router, pipelining goes on
    Case(
        "te-mixed-case",
        [post(b"Transfer-Encoding: ChUnKeD") + b"5\r\nhello\r\n0\r\n\r\n" + NEXT],
        [200, 200], False, [None, None], None, [("POST", "/a", b"hello"), ("GET", "/next", b"")],
    ),
    Case(
        "te-whitespace",
        [post(b"Transfer-Encoding:\t chunked  ") + b"5;ext=1\r\nhello\r\n0\r\n\r\n" + NEXT],
        [200, 200], False, [None, None], None, [("POST", "/a", b"hello"), ("GET", "/next", b"")],
    ),
    # llhttp reads `chunked<TAB>` and `chunked;q=1` as not chunked: never framed as chunked
    Case("te-trailing-tab", [post(b"Transfer-Encoding: chunked\t") + b"0\r\n\r\n" + SMUGGLED], [400], True, ["H26"], BAD),
    Case("te-parameter", [post(b"Transfer-Encoding: chunked;q=1") + b"0\r\n\r\n" + SMUGGLED], [400], True, ["H26"], BAD),
    Case("te-leading-comma", [post(b"Transfer-Encoding: ,chunked") + b"0\r\n\r\n" + SMUGGLED], [400], True, ["H26"], BAD),
    Case(
        "trailers-dropped",
        [post(b"Transfer-Encoding: chunked") + b"5\r\nhello\r\n0\r\nHost: evil.localhost\r\nX-Request-Id: trailer-request-id-0001\r\n\r\n" + NEXT],
        [200, 200], False, [None, None], None, [("POST", "/a", b"hello"), ("GET", "/next", b"")],
    ),
    # ---- both lengths: Transfer-Encoding wins, the connection closes after the answer
    Case(
        "cl-te", [post(b"Content-Length: 6", b"Transfer-Encoding: chunked") + b"0\r\n\r\nG" + SMUGGLED],
        [200], True, [None], None, [("POST", "/a", b"")],
    ),
    Case(
        "te-cl", [post(b"Transfer-Encoding: chunked", b"Content-Length: 3") + b"8\r\nSMUGGLED\r\n0\r\n\r\n" + SMUGGLED],
        [200], True, [None], None, [("POST", "/a", b"SMUGGLED")],
    ),
    # ---- Content-Length: one plain number or nothing
    Case("cl-duplicate-same", [post(b"Content-Length: 5", b"Content-Length: 5") + b"hello" + SMUGGLED], [400], True, ["H26"], BAD),
    Case("cl-duplicate-differing", [post(b"Content-Length: 5", b"Content-Length: 50") + b"hello" + SMUGGLED], [400], True, ["H26"], BAD),
    Case("cl-list", [post(b"Content-Length: 5, 5") + b"hello" + SMUGGLED], [400], True, ["H26"], BAD),
    Case("cl-plus", [post(b"Content-Length: +5") + b"hello" + SMUGGLED], [400], True, ["H26"], BAD),
    Case("cl-negative", [post(b"Content-Length: -1") + SMUGGLED], [400], True, ["H26"], BAD),
    Case("cl-space-before-colon", [post(b"Content-Length : 5") + b"hello" + SMUGGLED], [400], True, ["H26"], BAD),
    Case("cl-hex", [post(b"Content-Length: 0x5") + b"hello" + SMUGGLED], [400], True, ["H26"], BAD),
    Case(
        "cl-leading-zeros",
        [post(b"Content-Length: 005") + b"hello" + NEXT],
        [200, 200], False, [None, None], None, [("POST", "/a", b"hello"), ("GET", "/next", b"")],
    ),
    Case(
        "cl-pipelined",
        [post(b"Content-Length: 5") + b"hello" + NEXT + NEXT],
        [200, 200, 200], False, [None, None, None], None,
        [("POST", "/a", b"hello"), ("GET", "/next", b""), ("GET", "/next", b"")],
    ),
    # ---- other head defects
    Case("obs-fold", [post(b"X-Note: a", b" b", b"Content-Length: 5") + b"hello" + SMUGGLED], [400], True, ["H26"], BAD),
    Case("nul-in-value", [post(b"X-Note: a\x00b", b"Content-Length: 0") + SMUGGLED], [400], True, ["H26"], BAD),
    Case("bare-lf", [b"POST /a HTTP/1.1\nHost: demo.localhost\nContent-Length: 5\n\nhello" + SMUGGLED], [400], True),
    Case("two-hosts", [b"GET / HTTP/1.1\r\nHost: demo.localhost\r\nHost: demo.localhost\r\n\r\n" + SMUGGLED], [400], True, ["H26"], BAD),
    Case("two-hosts-differing", [b"GET / HTTP/1.1\r\nHost: demo.localhost\r\nHost: other.localhost\r\n\r\n" + SMUGGLED], [400], True),
    # ---- the connection ends with the request: what follows is never read
    Case("connection-close", [b"GET / HTTP/1.1\r\nHost: demo.localhost\r\nConnection: close\r\n\r\n" + SMUGGLED], [200], True, [None], None, [("GET", "/", b"")]),
    Case("http10", [b"GET / HTTP/1.0\r\nHost: demo.localhost\r\n\r\n" + SMUGGLED], [200], True, [None], None, [("GET", "/", b"")]),
    Case(
        "http10-keep-alive",
        [b"GET / HTTP/1.0\r\nHost: demo.localhost\r\nConnection: keep-alive\r\n\r\n" + NEXT],
        [200, 200], False, [None, None], None, [("GET", "/", b""), ("GET", "/next", b"")],
    ),
    Case(
        "upgrade-refused-tail",
        [b"GET /ws HTTP/1.1\r\nHost: demo.localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n" + SMUGGLED],
        [200], True, [None], None, [("GET", "/ws", b"")],
    ),
    # ---- absolute-form: the authority routes, the dyno gets origin-form and that Host
    Case(
        "absolute-form",
        [b"GET http://demo.localhost/abs?q=1 HTTP/1.1\r\nHost: other.localhost\r\n\r\n" + NEXT],
        [200, 200], False, [None, None], None, [("GET", "/abs?q=1", b""), ("GET", "/next", b"")],
    ),
    Case(
        "absolute-form-no-path",
        [b"GET http://DEMO.localhost:5000?q=1 HTTP/1.1\r\nHost: demo.localhost\r\n\r\n"],
        [200], False, [None], None, [("GET", "/?q=1", b"")], host="DEMO.localhost:5000",
    ),
    Case("absolute-form-other-app", [b"GET http://nope.localhost/ HTTP/1.1\r\nHost: demo.localhost\r\n\r\n"], [404], False),
    Case(
        "absolute-form-userinfo",
        [b"GET http://x@demo.localhost/ HTTP/1.1\r\nHost: demo.localhost\r\n\r\n" + SMUGGLED],
        [400], True, ["H26"], "bad request line",
    ),
    Case("authority-form", [b"CONNECT demo.localhost:80 HTTP/1.1\r\nHost: demo.localhost\r\n\r\n" + SMUGGLED], [400], True, ["H26"], "bad request line"),
    # ---- a body that breaks its framing half-way: the dyno got the head, then a reset
    Case(
        "bad-chunk",
        [post(b"Transfer-Encoding: chunked") + b"5\r\nhello\r\n", b"zz\r\n" + SMUGGLED],
        [400], True, ["H26"], "bad chunk", [("POST", "/a", b"hello")],
    ),
    Case(
        "chunk-size-overflow",
        [post(b"Transfer-Encoding: chunked") + b"5\r\nhello\r\n", b"fffffffffffffffffff\r\n" + SMUGGLED],
        [400], True, ["H26"], "bad chunk", [("POST", "/a", b"hello")],
    ),
]  # fmt: skip


@pytest.fixture
async def recorder() -> AsyncIterator[RecorderDyno]:
    async with RecorderDyno() as dyno:
        yield dyno


async def read_responses(reader: asyncio.StreamReader, count: int) -> tuple[list[int], bytes]:
    """`count` responses, in order (their statuses), and whatever bytes come after them."""
    statuses: list[int] = []
    extra = bytearray()

    class Reader:
        def on_headers_complete(self) -> None:
            statuses.append(parser.get_status_code())

    parser = httptools.HttpResponseParser(Reader())
    async with asyncio.timeout(TIMERS):
        while len(statuses) < count:
            data = await reader.read(65536)
            if not data:
                break
            parser.feed_data(data)
    return statuses, bytes(extra)


async def closed_by_router(reader: asyncio.StreamReader) -> bool:
    """Whether the router closes the connection (with nothing more to say) before the timers."""
    try:
        async with asyncio.timeout(TIMERS / 2):
            return await reader.read(65536) == b""
    except TimeoutError:
        return False


def assert_one_to_one(lines: list[dict[str, str]], seen: list[Seen]) -> None:
    """Every dyno request is a logged request and every line naming a dyno is a dyno request."""
    logged = sorted((ln["request_id"], ln["method"], ln["path"], ln["host"]) for ln in lines if ln["dyno"])
    received = sorted(
        (s.header("x-request-id") or "", s.method, s.target, s.header("host") or "") for s in seen
    )
    assert logged == received
    for s in seen:
        assert len(s.all("host")) == 1 and len(s.all("x-request-id")) == 1, s.headers
        assert not (s.all("content-length") and s.all("transfer-encoding")), s.headers
        assert s.header("x-forwarded-for") == "127.0.0.1", s.headers


@pytest.mark.parametrize("keepalive", [False, True], ids=["legacy", "router-2.0"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_what_reaches_the_dyno_is_what_the_router_logged(
    case: Case, keepalive: bool, recorder: RecorderDyno
) -> None:
    async with RouterHarness(SETTINGS) as harness:
        harness.add_app("demo", [recorder.backend], keepalive=keepalive)
        started = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", harness.port)
        for i, data in enumerate(case.sent):
            writer.write(data)
            if i < len(case.sent) - 1:
                await recorder.wait_requests(len(recorder.requests) + 1)
        statuses, _ = await read_responses(reader, len(case.statuses))
        closed = await closed_by_router(reader) if case.closed else None
        elapsed = time.monotonic() - started
        writer.close()
        lines = harness.app_lines("demo")
    await recorder.wait_closed()  # the router has stopped: every byte it sent has been parsed

    assert statuses == case.statuses
    assert closed in (None, True)
    assert elapsed < TIMERS  # answered by the framing decision, not by a timer
    assert [ln.get("code") for ln in lines] == case.codes
    if case.cause is not None:
        assert lines[0]["cause"] == case.cause
    assert [a for a, _ in harness.lines] == ["demo"] * len(lines)  # no other app saw anything
    assert recorder.garbage == []
    assert [(s.method, s.target, s.body) for s in recorder.requests] == case.dyno
    assert all(s.header("host") == case.host for s in recorder.requests)
    assert_one_to_one(lines, recorder.requests)
