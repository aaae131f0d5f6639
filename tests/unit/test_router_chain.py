"""The router's chain piece by piece, without sockets: each stage on request heads, the chain's
order, the backlog, the framing rules against llhttp, and whole exchanges driven through mock
transports (what the dyno is sent, what the client gets, the log line, the timers)."""

from __future__ import annotations

import asyncio

import httptools
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.config import Settings
from router import framing
from router.backlog import Backlog
from router.chain import routing_chain
from router.codes import CATALOG
from router.head import RequestHead
from router.stages import NO_SUCH_APP, UNROUTABLE, Admit, AppState, ConnectionLimit, Validate
from router.table import AppRoute, RouteTable
from tests.support.router_harness import parse_line
from tests.support.router_mocks import BACKEND, MockRouter

ROUTE = AppRoute("demo", released=True, web_quantity=1, backends=[BACKEND])


def head_of(raw: bytes, over_limit: bool = False) -> RequestHead:
    """A head read the way the client connection reads one (same parser, same settings)."""
    heads: list[RequestHead] = []

    class Reader:
        def on_message_begin(self) -> None:
            heads.append(RequestHead(b"127.0.0.1", over_limit))

        def on_url(self, url: bytes) -> None:
            heads[-1].add_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            heads[-1].add_header(name, value)

        def on_headers_complete(self) -> None:
            heads[-1].complete(
                parser.get_method(),
                parser.get_http_version() != "1.0",
                parser.should_keep_alive(),
                parser.should_upgrade(),
                1.0,
                1000,
            )

    parser = httptools.HttpRequestParser(Reader())
    parser.set_dangerous_leniencies(lenient_chunked_length=True)
    try:
        parser.feed_data(raw)
    except httptools.HttpParserUpgrade:
        pass
    return heads[0]


def get(*headers: bytes, target: bytes = b"/", method: bytes = b"GET", version: bytes = b"HTTP/1.1") -> bytes:
    lines = b"".join(h + b"\r\n" for h in headers)
    return method + b" " + target + b" " + version + b"\r\nHost: demo.localhost\r\n" + lines + b"\r\n"


# ---------------------------------------------------------------------------------- reading heads
def test_a_plain_head() -> None:
    head = head_of(get(b"X-A: 1", b"X-Request-Id: abc"))
    assert (head.method, head.target, head.host) == (b"GET", b"/", b"demo.localhost")
    assert head.framing == framing.NONE and head.keepalive and head.problem is None
    assert head.lines == [b"X-A", b": ", b"1", b"\r\n"] and head.request_id == b"abc"


@pytest.mark.parametrize(
    ("headers", "kind", "length", "keepalive"),
    [
        ((b"Content-Length: 5",), framing.LENGTH, 5, True),
        ((b"Content-Length: 005",), framing.LENGTH, 5, True),
        ((b"Transfer-Encoding: chunked",), framing.CHUNKED, 0, True),
        ((b"Transfer-Encoding: CHUNKED  ",), framing.CHUNKED, 0, True),
        ((b"Content-Length: 9", b"Transfer-Encoding: chunked"), framing.CHUNKED, 0, False),
    ],
)
def test_accepted_framing(headers: tuple[bytes, ...], kind: int, length: int, keepalive: bool) -> None:
    head = head_of(get(*headers, method=b"POST"))
    assert head.problem is None and not head.unframed
    assert (head.framing, head.length, head.keepalive) == (kind, length, keepalive)


@pytest.mark.parametrize(
    "headers",
    [
        (b"Transfer-Encoding: gzip",),
        (b"Transfer-Encoding: xchunked",),
        (b"Transfer-Encoding: gzip, chunked",),
        (b"Transfer-Encoding: chunked\t",),
        (b"Transfer-Encoding: chunked;q=1",),
        (b"Transfer-Encoding: gzip", b"Transfer-Encoding: chunked"),
        (b"Transfer_Encoding: chunked",),
        (b"Content_Length: 5",),
    ],
)
def test_refused_framing_stops_reading(headers: tuple[bytes, ...]) -> None:
    head = head_of(get(*headers, method=b"POST"))
    assert head.problem == (CATALOG["H26"], "bad header")
    assert head.unframed and not head.keepalive


def test_transfer_encoding_on_http_10_is_refused() -> None:
    head = head_of(get(b"Transfer-Encoding: chunked", method=b"POST", version=b"HTTP/1.0"))
    assert head.problem is not None and head.unframed


@pytest.mark.parametrize(
    ("target", "path", "host"),
    [
        (b"http://demo.localhost/a?b=1", b"/a?b=1", b"demo.localhost"),
        (b"HTTP://other.localhost:5000", b"/", b"other.localhost:5000"),
        (b"https://other.localhost?x", b"/?x", b"other.localhost"),
    ],
)
def test_absolute_form_routes_by_its_authority(target: bytes, path: bytes, host: bytes) -> None:
    head = head_of(get(target=target))
    assert (head.target, head.host, head.problem) == (path, host, None)


@pytest.mark.parametrize(
    ("method", "target"),
    [
        (b"GET", b"http://u@demo.localhost/"),
        (b"GET", b"ftp://demo.localhost/"),
        (b"CONNECT", b"demo.localhost:80"),
    ],
)
def test_other_request_targets_are_bad_request_lines(method: bytes, target: bytes) -> None:
    assert head_of(get(target=target, method=method)).problem == (CATALOG["H26"], "bad request line")


def test_expect() -> None:
    assert head_of(get(b"Expect: 100-continue")).expect_continue
    assert head_of(get(b"Expect: 100-continue", version=b"HTTP/1.0")).expect_continue is False
    problem = head_of(get(b"Expect: later")).problem
    assert problem is not None and problem[0].status == 417


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(
            st.sampled_from([b"chunked", b"Chunked", b"gzip", b" ", b"\t", b",", b";q=1", b"x"]), max_size=6
        )
        .map(b"".join)
        .filter(lambda v: v.strip(b" \t") != b""),
        min_size=1,
        max_size=2,
    )
)
def test_the_router_frames_as_chunked_only_what_llhttp_dechunks(values: list[bytes]) -> None:
    """router.framing and llhttp (which reads the body) must never disagree on `chunked`."""
    raw = get(*(b"Transfer-Encoding: " + v for v in values), method=b"POST") + b"5\r\nhello\r\n0\r\n\r\n"
    body: list[bytes] = []
    done: list[bool] = []

    class Reader:
        def on_body(self, data: bytes) -> None:
            body.append(data)

        def on_message_complete(self) -> None:
            done.append(True)

    parser = httptools.HttpRequestParser(Reader())
    parser.set_dangerous_leniencies(lenient_chunked_length=True)
    try:
        parser.feed_data(raw)
        dechunked = done == [True] and b"".join(body) == b"hello"
    except httptools.HttpParserError:
        dechunked = False
    if framing.only_chunked(values):
        assert dechunked, values


# ---------------------------------------------------------------------------------- stages
def test_validate_reports_what_reading_found() -> None:
    assert Validate().check(head_of(get()), ROUTE) is None
    verdict = Validate().check(head_of(get(b"Transfer-Encoding: gzip", method=b"POST")), ROUTE)
    assert verdict is not None and verdict.hcode is CATALOG["H26"] and verdict.cause == "bad header"


def test_connection_limit() -> None:
    assert ConnectionLimit().check(head_of(get()), ROUTE) is None
    verdict = ConnectionLimit().check(head_of(get(), over_limit=True), ROUTE)
    assert verdict is not None and verdict.hcode is CATALOG["H22"]


@pytest.mark.parametrize(
    ("route", "code"),
    [
        (AppRoute("demo", maintenance=True, released=True, web_quantity=1), "H80"),
        (AppRoute("demo", released=False, web_quantity=1), "H81"),
        (AppRoute("demo", released=True, web_quantity=0), "H14"),
        (ROUTE, None),
    ],
)
def test_app_state(route: AppRoute, code: str | None) -> None:
    verdict = AppState().check(head_of(get()), route)
    assert (verdict.hcode.code if verdict is not None and verdict.hcode else None) == code


def test_admit_takes_a_backlog_place_until_it_is_given_back() -> None:
    backlog = Backlog(per_dyno=2)
    admit = Admit(backlog)
    head = head_of(get())
    assert admit.check(head, ROUTE) is None and admit.check(head, ROUTE) is None
    full = admit.check(head, ROUTE)
    assert full is not None and full.hcode is CATALOG["H11"]
    assert backlog.inflight() == {"demo": 2}
    backlog.leave("demo")
    assert admit.check(head, ROUTE) is None
    backlog.leave("demo")
    backlog.leave("demo")
    assert backlog.inflight() == {}


def test_the_chain_runs_its_stages_in_order() -> None:
    table = RouteTable()
    table.update(AppRoute("demo", maintenance=True, released=True, web_quantity=1))
    backlog = Backlog(per_dyno=1)
    chain = routing_chain(table, backlog)
    assert [s.name for s in chain.stages] == ["validate", "connection_limit", "app_state", "admit"]
    # a broken head beats the connection limit, which beats maintenance; nothing is admitted
    route, verdict = chain.route(head_of(get(b"Expect: later"), over_limit=True))
    assert route is not None and verdict is not None and verdict.status == 417
    _, verdict = chain.route(head_of(get(), over_limit=True))
    assert verdict is not None and verdict.hcode is CATALOG["H22"]
    _, verdict = chain.route(head_of(get()))
    assert verdict is not None and verdict.hcode is CATALOG["H80"]
    assert backlog.inflight() == {}


def test_the_chain_names_no_app_for_unknown_or_broken_hosts() -> None:
    chain = routing_chain(RouteTable(), Backlog(1))
    assert chain.route(head_of(get())) == (None, NO_SUCH_APP)
    no_host = head_of(b"GET / HTTP/1.0\r\n\r\n")
    assert chain.route(no_host) == (None, UNROUTABLE)
    assert chain.route(head_of(get(b"Transfer-Encoding: gzip"))) == (None, UNROUTABLE)


# ---------------------------------------------------------------------------------- whole exchanges
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


async def test_an_exchange_through_mock_transports() -> None:
    bench = MockRouter()
    client, out = bench.client(peer=("10.1.2.3", 4444))
    client.data_received(
        b"GET /a?b=1 HTTP/1.1\r\nHost: demo.localhost\r\nX-Request-Id: abcdefghijklmnopqrstu\r\n\r\n"
    )
    await bench.settle()
    dyno = bench.dyno()
    sent = dyno.transport.take()
    head, _, rest = sent.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"GET /a?b=1 HTTP/1.1" and lines[1] == b"Host: demo.localhost" and rest == b""
    assert b"X-Request-Id: abcdefghijklmnopqrstu" in lines and b"X-Forwarded-For: 10.1.2.3" in lines
    assert b"Connection: close" in lines and b"X-Forwarded-Port: 5000" in lines
    dyno.respond(OK)
    assert out.take() == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    assert dyno.transport.closed and not out.closed  # legacy: one dyno connection per request
    ((app, text),) = bench.lines
    line = parse_line(text)
    assert app == "demo" and line["status"] == "200" and line["path"] == "/a?b=1"
    assert line["request_id"] == "abcdefghijklmnopqrstu" and line["fwd"] == "10.1.2.3"
    assert bench.router.backlog.inflight() == {}


async def test_a_chunked_body_is_re_framed_for_the_dyno() -> None:
    bench = MockRouter()
    client, _out = bench.client()
    client.data_received(
        b"POST / HTTP/1.1\r\nHost: demo.localhost\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n"
    )
    await bench.settle()
    client.data_received(b"2\r\nde\r\n0\r\nTrailer: dropped\r\n\r\n")
    sent = bench.dyno().transport.take()
    head, _, body = sent.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head.split(b"\r\n") and b"Trailer" not in sent
    assert body == b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"


async def test_router_2_reuses_the_dyno_connection() -> None:
    bench = MockRouter(keepalive=True)
    client, out = bench.client()
    for _ in range(2):
        client.data_received(b"GET / HTTP/1.1\r\nHost: demo.localhost\r\n\r\n")
        await bench.settle()
        assert b"Connection: keep-alive" in bench.dyno().transport.take()
        bench.dyno().respond(OK)
    assert len(bench.dynos.connections) == 1 and out.take().count(b"200 OK") == 2
    assert bench.router.pool.size() == 1


async def test_h26_refused_framing_never_reaches_a_dyno_and_closes() -> None:
    bench = MockRouter()
    client, out = bench.client()
    client.data_received(
        b"POST / HTTP/1.1\r\nHost: demo.localhost\r\nTransfer-Encoding: gzip\r\n\r\n"
        b"GET /smuggled HTTP/1.1\r\nHost: demo.localhost\r\n\r\n"
    )
    await bench.settle()
    assert bench.dynos.connections == [] and out.closed
    assert out.take().startswith(b"HTTP/1.1 400 Bad Request\r\n")
    (line,) = [parse_line(t) for _, t in bench.lines]
    assert line["code"] == "H26" and line["cause"] == "bad header" and line["dyno"] == ""


async def test_h13_the_dyno_closes_without_a_byte() -> None:
    bench = MockRouter()
    client, out = bench.client()
    client.data_received(b"GET / HTTP/1.1\r\nHost: demo.localhost\r\n\r\n")
    await bench.settle()
    bench.dyno().hang_up()
    assert out.take().startswith(b"HTTP/1.1 503 Service Unavailable")
    line = parse_line(bench.lines[0][1])
    assert line["code"] == "H13" and line["dyno"] == "web.1" and line["bytes"] == "0"


async def test_h21_refused_everywhere() -> None:
    bench = MockRouter()
    bench.dynos.refuse = True
    client, out = bench.client()
    client.data_received(b"GET / HTTP/1.1\r\nHost: demo.localhost\r\n\r\n")
    await bench.settle()
    assert out.take().startswith(b"HTTP/1.1 503")
    line = parse_line(bench.lines[0][1])
    assert line["code"] == "H21" and line["dyno"] == "web.1"
    assert bench.router.metrics()["router"]["quarantined"] == ["web.1@5001"]


async def test_h12_h15_and_h28_fire_on_the_clock() -> None:
    bench = MockRouter(Settings(router_timeout=30, router_idle_timeout=55), clock=True)
    clock = bench.clock
    assert clock is not None
    client, out = bench.client()
    client.data_received(b"GET / HTTP/1.1\r\nHost: demo.localhost\r\n\r\n")
    await bench.settle()
    clock.advance(29.9)
    assert bench.lines == []
    clock.advance(0.2)
    assert parse_line(bench.lines[-1][1])["code"] == "H12" and out.take().startswith(b"HTTP/1.1 503")
    assert parse_line(bench.lines[-1][1])["service"] == "30000ms"

    client, out = bench.client()
    client.data_received(b"GET / HTTP/1.1\r\nHost: demo.localhost\r\n\r\n")
    await bench.settle()
    bench.dyno().respond(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345")
    clock.advance(55.1)
    assert parse_line(bench.lines[-1][1])["code"] == "H15" and out.closed

    client, out = bench.client()
    client.data_received(b"POST / HTTP/1.1\r\nHost: demo.localhost\r\nContent-Length: 10\r\n\r\n12345")
    await bench.settle()
    clock.advance(55.1)
    line = parse_line(bench.lines[-1][1])
    assert line["code"] == "H28" and line["status"] == "499" and out.closed
    assert bench.router.backlog.inflight() == {}


async def test_h27_the_client_leaves_while_its_dyno_thinks() -> None:
    bench = MockRouter()
    client, out = bench.client()
    client.data_received(b"GET / HTTP/1.1\r\nHost: demo.localhost\r\n\r\n")
    await bench.settle()
    out.lose()
    line = parse_line(bench.lines[0][1])
    assert line["code"] == "H27" and line["sock"] == "client" and bench.dyno().transport.aborted


async def test_100_continue_and_pipelining_answered_in_order() -> None:
    bench = MockRouter(keepalive=True)
    client, out = bench.client()
    client.data_received(
        b"POST /a HTTP/1.1\r\nHost: demo.localhost\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"
    )
    await bench.settle()
    assert out.take() == b"HTTP/1.1 100 Continue\r\n\r\n"
    client.data_received(b"hiGET /b HTTP/1.1\r\nHost: demo.localhost\r\n\r\n")
    dyno = bench.dyno()
    assert dyno.transport.take().endswith(b"\r\n\r\nhi") and not out.is_reading()
    dyno.respond(OK)
    await bench.settle()
    assert dyno.transport.take().startswith(b"GET /b HTTP/1.1\r\n")
    dyno.respond(OK)
    assert out.take().count(b"HTTP/1.1 200 OK\r\n") == 2
    assert [parse_line(t)["path"] for _, t in bench.lines] == ["/a", "/b"]


async def test_stop_cuts_everything_without_log_lines() -> None:
    bench = MockRouter()
    client, out = bench.client()
    client.data_received(b"GET / HTTP/1.1\r\nHost: demo.localhost\r\n\r\n")
    await bench.settle()
    await bench.router.stop()
    await asyncio.sleep(0)
    assert out.aborted and bench.dyno().transport.aborted
