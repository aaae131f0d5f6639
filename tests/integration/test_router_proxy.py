"""The router as a proxy: Heroku's headers and limits, Host routing, streaming, HTTP/1.0,
keep-alive, pipelining, 100-continue, WebSocket, dyno choice, stopping dynos, Router 2.0
connection reuse (and its keep-alive race), the log line and the metrics.

Real dyno processes (`python -m tests.support.labdyno`), the router in the test's uvloop.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import uvloop
import websockets

from common.config import Settings
from router.table import AppRoute
from tests.support.router_harness import (
    LabDynoProcess,
    RawResponse,
    RouterHarness,
    http_get,
    http_request,
    read_response,
    until,
)

pytestmark = pytest.mark.filterwarnings('ignore:Overriding the "event_loop_policy" fixture')

FAST = Settings(
    router_connect_timeout=0.5,
    router_timeout=2.0,
    router_idle_timeout=2.0,
    router_hold_timeout=1.0,
    router_keepalive_timeout=5.0,
)
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def event_loop_policy() -> uvloop.EventLoopPolicy:
    return uvloop.EventLoopPolicy()


@pytest.fixture(scope="module")
def dyno() -> Iterator[LabDynoProcess]:
    with LabDynoProcess(dyno="web.1") as d:
        yield d


@pytest.fixture(scope="module")
def dyno2() -> Iterator[LabDynoProcess]:
    with LabDynoProcess(dyno="web.2") as d:
        yield d


@pytest.fixture
async def router(dyno: LabDynoProcess) -> AsyncIterator[RouterHarness]:
    async with RouterHarness(FAST) as h:
        h.add_app("demo", [dyno.backend])
        yield h


def ws_connect(port: int) -> websockets.connect:
    # Host: demo.localhost, while the TCP connection goes to 127.0.0.1
    return websockets.connect(f"ws://demo.localhost:{port}/ws", host="127.0.0.1", port=port)


def echo(resp: RawResponse) -> dict[str, Any]:
    assert resp.status == 200, resp
    data: dict[str, Any] = json.loads(resp.body)
    return data


def headers_of(seen: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in seen["headers"]:
        out.setdefault(name.lower(), []).append(value)
    return out


# ---------------------------------------------------------------------------------- headers
async def test_heroku_request_headers(router: RouterHarness) -> None:
    before = int(time.time() * 1000)
    seen = headers_of(echo(await http_get(router.port, "/echo?x=1")))
    after = int(time.time() * 1000)
    assert UUID.match(seen["x-request-id"][0])
    assert seen["x-forwarded-for"] == ["127.0.0.1"]
    assert seen["x-forwarded-proto"] == ["http"]
    assert seen["x-forwarded-port"] == [str(router.port)]
    assert before <= int(seen["x-request-start"][0]) <= after
    assert seen["via"] == ["1.1 vegur"]
    assert "connect-time" in seen and "total-route-time" in seen
    assert seen["host"] == ["demo.localhost"]
    line = await router.wait_line("demo")
    assert line["request_id"] == seen["x-request-id"][0]
    assert line["path"] == "/echo?x=1" and line["fwd"] == "127.0.0.1"


async def test_client_values_are_kept_appended_or_replaced(router: RouterHarness) -> None:
    good_id = "abcdefghij0123456789+/=-"
    resp = await http_get(
        router.port,
        "/echo",
        headers=[
            ("X-Request-Id", good_id),
            ("X-Forwarded-For", "203.0.113.9"),
            ("X-Forwarded-Proto", "https"),  # untrusted: replaced
            ("X-Forwarded-Port", "443"),
            ("X-Request-Start", "1"),
            ("Via", "1.1 cdn"),
            ("Keep-Alive", "timeout=5"),  # hop-by-hop: dropped
            ("Proxy-Connection", "keep-alive"),
            ("TE", "trailers"),
            ("X-Custom", "kept as is"),
        ],
    )
    seen = headers_of(echo(resp))
    assert seen["x-request-id"] == [good_id]
    assert seen["x-forwarded-for"] == ["203.0.113.9, 127.0.0.1"]
    assert seen["x-forwarded-proto"] == ["http"] and seen["x-forwarded-port"] == [str(router.port)]
    assert seen["x-request-start"] != ["1"]
    assert seen["via"] == ["1.1 cdn, 1.1 vegur"]
    assert "keep-alive" not in seen and "proxy-connection" not in seen and "te" not in seen
    assert seen["x-custom"] == ["kept as is"]
    line = await router.wait_line("demo")
    assert line["request_id"] == good_id and line["fwd"] == "203.0.113.9, 127.0.0.1"


@pytest.mark.parametrize(
    "bad_id", ["too-short", "x" * 201, "has spaces in it here ok", "semi;colons;are;not;allowed"]
)
async def test_an_unacceptable_request_id_is_replaced_by_a_uuid(router: RouterHarness, bad_id: str) -> None:
    seen = headers_of(echo(await http_get(router.port, "/echo", headers=[("X-Request-Id", bad_id)])))
    assert UUID.match(seen["x-request-id"][0])


async def test_request_limits(router: RouterHarness) -> None:
    long_line = await http_get(router.port, "/" + "a" * 8200)
    too_many = await http_get(router.port, "/", headers=[(f"X-H{i}", "v") for i in range(1001)])
    long_name = await http_get(router.port, "/", headers=[("X-" + "n" * 1000, "v")])
    ok = await http_get(router.port, "/", headers=[(f"X-H{i}", "v") for i in range(900)])
    assert [long_line.status, too_many.status, long_name.status, ok.status] == [400, 400, 400, 200]
    causes = [line.get("cause") for line in router.app_lines("demo")]
    assert causes == ["bad request line", "bad header", "bad header", None]


async def test_http_10_without_host_and_unknown_hosts(router: RouterHarness) -> None:
    no_host = await http_request(router.port, "GET", "/", host=None, version="HTTP/1.0")
    unknown = await http_get(router.port, "/", host="nope.localhost")
    assert no_host.status == 400
    assert unknown.status == 404 and b"No such app" in unknown.body
    assert router.lines == []  # neither belongs to an app: nothing in any app's log
    assert router.router.metrics()["router"]["unrouted"] == 2


async def test_custom_domains_and_ports_are_ignored(router: RouterHarness) -> None:
    router.table.set_domains({"www.example.com": "demo"})
    for host in (
        "www.example.com",
        "WWW.Example.COM:8080",
        f"demo.localhost:{router.port}",
        "DEMO.localhost",
    ):
        assert (await http_get(router.port, "/", host=host)).status == 200, host


# ---------------------------------------------------------------------------------- bodies and framing
async def test_bodies_both_ways_sized_chunked_and_close_delimited(router: RouterHarness) -> None:
    up = await http_request(router.port, "POST", "/sink", body=b"u" * 300_000)
    chunked_up = await http_request(
        router.port,
        "POST",
        "/sink",
        headers=[("Transfer-Encoding", "chunked")],
        body=b"".join(b"%x\r\n%s\r\n" % (n, b"c" * n) for n in (1, 1000, 70_000)) + b"0\r\n\r\n",
    )
    sized = await http_get(router.port, "/bytes?n=500000")
    chunked = await http_get(router.port, "/chunked?n=500000")
    until_close = await http_get(router.port, "/until-close?n=500000")
    assert json.loads(up.body)["bytes"] == 300_000
    assert json.loads(chunked_up.body)["bytes"] == 71_001
    assert sized.complete and len(sized.body) == 500_000 and sized.header("content-length") == "500000"
    assert (
        chunked.complete and len(chunked.body) == 500_000 and chunked.header("transfer-encoding") == "chunked"
    )
    # no length from the dyno: re-chunked for an HTTP/1.1 client, so keep-alive survives
    assert until_close.complete and len(until_close.body) == 500_000
    assert until_close.header("transfer-encoding") == "chunked"
    lines = router.app_lines("demo")
    assert [line["status"] for line in lines] == ["200"] * 5
    assert int(lines[2]["bytes"]) > 500_000  # bytes from the dyno, head included


async def test_head_requests_have_no_body(router: RouterHarness) -> None:
    resp = await http_request(router.port, "HEAD", "/bytes?n=1234")
    assert resp.status == 200 and resp.header("content-length") == "1234" and resp.body == b""


async def test_http_10_clients(router: RouterHarness) -> None:
    chunked = await http_request(router.port, "GET", "/chunked?n=10000", version="HTTP/1.0")
    assert chunked.status == 200 and len(chunked.body) == 10000 and chunked.closed
    assert chunked.header("transfer-encoding") is None  # HTTP/1.0 has no chunked: close-delimited
    # an HTTP/1.0 keep-alive client keeps its connection when the length is known
    reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
    for _ in range(2):
        writer.write(b"GET / HTTP/1.0\r\nHost: demo.localhost\r\nConnection: keep-alive\r\n\r\n")
        resp = await read_response(reader)
        assert resp.status == 200 and resp.body == b"ok\n" and resp.header("connection") == "keep-alive"
    writer.close()


async def test_keep_alive_and_pipelining(router: RouterHarness) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
    for i in range(3):
        writer.write(f"GET /echo?n={i} HTTP/1.1\r\nHost: demo.localhost\r\n\r\n".encode())
        assert echo(await read_response(reader))["path"] == f"/echo?n={i}"
    # three requests in one write: answered in order, one at a time
    writer.write(
        b"".join(f"GET /echo?p={i} HTTP/1.1\r\nHost: demo.localhost\r\n\r\n".encode() for i in range(3))
    )
    paths = [echo(await read_response(reader))["path"] for _ in range(3)]
    assert paths == ["/echo?p=0", "/echo?p=1", "/echo?p=2"]
    writer.close()
    assert router.router.metrics()["router"]["connections_total"] == 1


async def test_expect_100_continue_is_answered_by_the_router(router: RouterHarness) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
    writer.write(
        b"POST /sink HTTP/1.1\r\nHost: demo.localhost\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n"
    )
    assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2) == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"e" * 5000)
    resp = await read_response(reader)
    writer.close()
    assert resp.status == 200 and json.loads(resp.body)["bytes"] == 5000


async def test_expect_100_continue_with_an_error_needs_no_body(router: RouterHarness) -> None:
    router.table.update(AppRoute("demo", released=True, web_quantity=1, maintenance=True))
    reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
    writer.write(
        b"POST / HTTP/1.1\r\nHost: demo.localhost\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    )
    resp = await read_response(reader, timeout=2)
    writer.close()
    assert resp.status == 503 and resp.informational == []


async def test_websocket_upgrade(router: RouterHarness) -> None:
    async with ws_connect(router.port) as ws:
        await ws.send("hello")
        assert await ws.recv() == "hello"
        await ws.send(b"\x00" * 100_000)
        assert await ws.recv() == b"\x00" * 100_000
        line = await router.wait_line("demo")  # logged at the handshake
        assert line["status"] == "101" and line["path"] == "/ws" and "code" not in line


async def test_websocket_tunnel_closes_when_idle() -> None:
    with LabDynoProcess() as d:
        async with RouterHarness(FAST.with_(router_idle_timeout=0.4)) as h:
            h.add_app("demo", [d.backend])
            async with ws_connect(h.port) as ws:
                await ws.send("still here")
                assert await ws.recv() == "still here"
                quiet_since = time.monotonic()
                await asyncio.wait_for(ws.wait_closed(), 10)  # the router hangs up on the quiet tunnel
                assert time.monotonic() - quiet_since >= 0.4 - 0.05
                with pytest.raises(websockets.ConnectionClosed):
                    await ws.send("gone")


# ---------------------------------------------------------------------------------- dynos
async def test_random_choice_among_up_dynos(dyno: LabDynoProcess, dyno2: LabDynoProcess) -> None:
    async with RouterHarness(FAST) as h:
        h.add_app("demo", [dyno.backend, dyno2.backend])
        served = Counter([echo(await http_get(h.port, "/echo"))["dyno"] for _ in range(40)])
        assert set(served) == {"web.1", "web.2"} and min(served.values()) >= 5
        per_dyno = h.router.metrics("demo")["apps"]["demo"]["dynos"]
        assert per_dyno["web.1"]["requests"] == served["web.1"]


async def test_a_stopping_dyno_gets_no_new_requests_but_finishes_its_own(
    dyno: LabDynoProcess, dyno2: LabDynoProcess
) -> None:
    async with RouterHarness(FAST) as h:
        h.add_app("demo", [dyno.backend])
        in_flight = asyncio.create_task(http_get(h.port, "/sleep?s=0.4"))
        await asyncio.sleep(0.1)
        # the dyno manager takes web.1 out of the route before it sends SIGTERM
        h.add_app("demo", [dyno2.backend])
        after = [echo(await http_get(h.port, "/echo"))["dyno"] for _ in range(10)]
        assert after == ["web.2"] * 10
        assert (await in_flight).status == 200


async def test_table_remove_backend_and_remove(dyno: LabDynoProcess, dyno2: LabDynoProcess) -> None:
    async with RouterHarness(FAST) as h:
        h.add_app("demo", [dyno.backend, dyno2.backend])
        h.table.remove_backend("demo", "web.1")
        assert {echo(await http_get(h.port, "/echo"))["dyno"] for _ in range(8)} == {"web.2"}
        h.table.remove("demo")
        assert (await http_get(h.port, "/")).status == 404


# ---------------------------------------------------------------------------------- Router 2.0
async def test_router_2_reuses_dyno_connections(dyno: LabDynoProcess) -> None:
    async with RouterHarness(FAST) as h:
        h.add_app("demo", [dyno.backend], keepalive=True)
        seen = [echo(await http_get(h.port, "/echo")) for _ in range(5)]
        assert headers_of(seen[0])["via"] == ["1.1 heroku-router"]
        assert headers_of(seen[0])["connection"] == ["keep-alive"]
        assert h.router.metrics()["router"]["pooled_connections"] == 1  # one connection, reused
        line = await h.wait_line("demo", 5)
        assert line["protocol"] == "http1.1" and line["tls"] == "false" and line["connect"] == "0ms"


async def test_router_2_keep_alive_race_gives_h13_and_legacy_does_not() -> None:
    # a dyno that hangs up on a kept-alive connection just as the next request arrives
    with LabDynoProcess("--close-on-reuse") as racer:
        async with RouterHarness(FAST) as h:
            h.add_app("demo", [racer.backend], keepalive=True)
            first = await http_get(h.port, "/")
            second = await http_get(h.port, "/")
            third = await http_get(h.port, "/")
            assert [first.status, second.status, third.status] == [200, 503, 200]
            lines = h.app_lines("demo")
            assert "code" not in lines[0] and lines[1]["code"] == "H13" and "code" not in lines[2]
            # the same dyno behind the legacy router: a new connection each time, no race
            h.add_app("demo", [racer.backend], keepalive=False)
            assert [(await http_get(h.port, "/")).status for _ in range(5)] == [200] * 5


async def test_router_2_drops_pooled_connections_of_a_removed_dyno(
    dyno: LabDynoProcess, dyno2: LabDynoProcess
) -> None:
    async with RouterHarness(FAST) as h:
        h.add_app("demo", [dyno.backend], keepalive=True)
        await http_get(h.port, "/")
        assert h.router.metrics()["router"]["pooled_connections"] == 1
        h.add_app("demo", [dyno2.backend], keepalive=True)
        assert h.router.metrics()["router"]["pooled_connections"] == 0
        assert echo(await http_get(h.port, "/echo"))["dyno"] == "web.2"


# ---------------------------------------------------------------------------------- log and metrics
async def test_log_line_field_order(router: RouterHarness) -> None:
    await http_get(router.port, "/echo")
    text = router.lines[0][1]
    keys = re.findall(r"(\w+)=", re.sub(r'"[^"]*"', '""', text))
    assert keys == [
        "at", "method", "path", "host", "request_id", "fwd", "dyno", "connect", "service", "status", "bytes", "protocol",
    ]  # fmt: skip
    assert re.fullmatch(
        r'at=info method=GET path="/echo" host=demo\.localhost request_id=\S+ fwd="127\.0\.0\.1" '
        r"dyno=web\.1 connect=\d+ms service=\d+ms status=200 bytes=\d+ protocol=http",
        text,
    )


async def test_records_and_metrics(router: RouterHarness) -> None:
    for _ in range(20):
        await http_get(router.port, "/")
    await http_get(router.port, "/close")
    await http_get(router.port, "/close")
    rec = router.records[-1]  # recorded before the client was answered
    assert rec.app == "demo" and rec.dyno == "web.1" and rec.code == "H13" and rec.status == 503
    assert rec.connect_ms is not None and rec.service_ms is not None and rec.bytes == 0
    event = rec.to_event()
    assert event["code"] == "H13" and event["status"] == 503 and event["dyno"] == "web.1"
    m = router.router.metrics("demo")["apps"]["demo"]
    assert m["requests"] == 22 and m["errors"] == 2 and m["codes"] == {"H13": 2}
    assert m["statuses"] == {"2xx": 20, "5xx": 2}
    assert m["latency_ms"]["p50"] is not None and m["latency_ms"]["p50"] <= m["latency_ms"]["p99"]
    assert m["dynos"]["web.1"]["requests"] == 22


async def test_a_failing_log_function_does_not_break_routing(dyno: LabDynoProcess) -> None:
    def broken(app: str, text: str) -> None:
        raise OSError("disk full")

    async with RouterHarness(FAST, log=broken) as h:
        h.add_app("demo", [dyno.backend])
        assert (await http_get(h.port, "/")).status == 200
        assert (await http_get(h.port, "/")).status == 200
        assert h.router.metrics()["router"]["log_failures"] == 2


async def test_router_2_idle_pooled_connections_expire(dyno: LabDynoProcess) -> None:
    async with RouterHarness(FAST.with_(router_pool_idle_timeout=0.2)) as h:
        h.add_app("demo", [dyno.backend], keepalive=True)
        await http_get(h.port, "/")
        kept = time.monotonic()
        assert h.metric("pooled_connections") == 1
        await until(lambda: h.metric("pooled_connections") == 0)
        assert time.monotonic() - kept >= 0.2 - 0.05  # closed after router_pool_idle_timeout, not before
        assert (await http_get(h.port, "/")).status == 200


async def test_stop_cuts_requests_in_flight_and_frees_the_port(dyno: LabDynoProcess) -> None:
    h = RouterHarness(FAST)
    await h.start()
    h.add_app("demo", [dyno.backend])
    slow = asyncio.create_task(http_get(h.port, "/sleep?s=1"))
    await asyncio.sleep(0.2)
    await h.stop()
    resp = await slow
    assert resp.status is None and resp.closed
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", h.port)


async def test_garbage_from_clients_never_breaks_the_router(router: RouterHarness) -> None:
    """Random bytes and mangled requests: each gets an answer or a hang-up, nothing escapes."""
    import random

    rng = random.Random(4)
    valid = b"POST /sink HTTP/1.1\r\nHost: demo.localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    samples = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))) for _ in range(40)]
    for _ in range(80):
        mangled = bytearray(valid)
        for _ in range(rng.randrange(1, 4)):
            mangled[rng.randrange(len(mangled))] = rng.randrange(256)
        samples.append(bytes(mangled[: rng.randrange(10, len(mangled) + 1)]))

    async def send(raw: bytes) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
        writer.write(raw)
        writer.write_eof()
        await read_response(reader, timeout=3)
        writer.close()

    for i in range(0, len(samples), 20):
        await asyncio.gather(*(send(raw) for raw in samples[i : i + 20]))
    assert (await http_get(router.port, "/")).status == 200
    assert router.router.metrics()["router"]["internal_errors"] == 0
