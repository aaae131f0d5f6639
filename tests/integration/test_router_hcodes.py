"""Every H-code a router on one machine can produce, each from its real condition.

The dynos are real processes (`python -m tests.support.labdyno`) that misbehave at the socket on
request; timers are shortened. Each test asserts what the client got, the heroku[router]
line's fields and the timing, together. Timing is asserted the way a loaded 2-core machine
cannot break: a timer's verdict never comes before the timer (the router's clock and the
line's fields are exact); "at once" means before a competing timer set far longer (`PATIENT`);
and a test waits for the router's state (a request held, a backlog full) instead of sleeping.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import pytest
import uvloop

from common.config import Settings
from router.connector import ProtocolFactory
from router.table import AppRoute, Backend
from tests.support.recorder import RecorderDyno
from tests.support.router_harness import (
    LabDynoProcess,
    RouterHarness,
    http_get,
    http_request,
    read_response,
    until,
)

FAST = Settings(
    router_connect_timeout=0.5,
    router_timeout=0.6,
    router_idle_timeout=0.6,
    router_hold_timeout=0.6,
    router_quarantine=5.0,
    router_keepalive_timeout=5.0,
)
# the timers a test does not wait for: an answer that comes "at once" comes well before them
PATIENT = FAST.with_(router_hold_timeout=10.0, router_timeout=10.0, router_idle_timeout=10.0)
LATE = 5.0  # a timer's verdict comes after the timer, and (on any machine) well within this more


# The daemon runs uvloop, so these tests do too. (pytest-asyncio now prefers a conftest hook,
# pytest_asyncio_loop_factories; overriding event_loop_policy per module still works.)
pytestmark = pytest.mark.filterwarnings('ignore:Overriding the "event_loop_policy" fixture')


@pytest.fixture(scope="module")
def event_loop_policy() -> uvloop.EventLoopPolicy:
    return uvloop.EventLoopPolicy()


async def test_runs_on_uvloop() -> None:
    assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")


@pytest.fixture(scope="module")
def dyno() -> Iterator[LabDynoProcess]:
    with LabDynoProcess(dyno="web.1") as d:
        yield d


@pytest.fixture
async def router(dyno: LabDynoProcess) -> AsyncIterator[RouterHarness]:
    async with RouterHarness(FAST) as h:
        h.add_app("demo", [dyno.backend])
        yield h


def dead_port() -> int:
    """A loopback port nobody listens on (connect is refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def assert_no_dyno(line: dict[str, str]) -> None:
    assert line["dyno"] == "" and line["connect"] == "" and line["service"] == "" and line["bytes"] == ""


def ms(field: str) -> int:
    assert field.endswith("ms"), field
    return int(field[:-2])


# ---------------------------------------------------------------------------------- the app
@pytest.fixture
async def patient(dyno: LabDynoProcess) -> AsyncIterator[RouterHarness]:
    async with RouterHarness(PATIENT) as h:
        h.add_app("demo", [dyno.backend])
        yield h


async def test_h10_app_crashed(patient: RouterHarness) -> None:
    router = patient
    router.table.update(AppRoute("demo", released=True, web_quantity=1, backends=[], crashed=1))
    resp = await http_get(router.port, "/")
    line = await router.wait_line("demo")
    assert resp.status == 503 and b"Application error" in resp.body
    assert resp.elapsed < PATIENT.router_hold_timeout  # not held: no dyno is booting
    assert line["at"] == "error" and line["code"] == "H10" and line["desc"] == "App crashed"
    assert line["status"] == "503" and line["method"] == "GET" and line["path"] == "/"
    assert_no_dyno(line)


async def test_h10_when_the_booting_dyno_crashes_while_a_request_is_held(patient: RouterHarness) -> None:
    router = patient
    router.table.update(AppRoute("demo", released=True, web_quantity=1, booting=1))
    request = asyncio.create_task(http_get(router.port, "/"))
    await until(lambda: router.table.waiting("demo") == 1)  # held for the booting dyno
    router.table.update(AppRoute("demo", released=True, web_quantity=1, crashed=1))
    resp = await request
    line = await router.wait_line("demo")
    assert resp.status == 503 and line["code"] == "H10"
    assert resp.elapsed < PATIENT.router_hold_timeout  # answered when the crash was known


async def test_h11_backlog_too_deep(dyno: LabDynoProcess) -> None:
    async with RouterHarness(PATIENT.with_(router_max_inflight=2)) as h:
        h.add_app("demo", [dyno.backend])
        slow = [asyncio.create_task(http_get(h.port, "/sleep?s=1.5")) for _ in range(2)]
        await until(lambda: h.metric("inflight") == {"demo": 2})
        resp = await http_get(h.port, "/")
        assert resp.status == 503
        assert not any(task.done() for task in slow)  # refused while both places were taken
        line = await h.wait_line("demo")
        assert line["code"] == "H11" and line["desc"] == "Backlog too deep"
        assert_no_dyno(line)
        assert [r.status for r in await asyncio.gather(*slow)] == [200, 200]
        assert (await http_get(h.port, "/")).status == 200  # room again once they finished


async def test_h14_no_web_dynos(router: RouterHarness) -> None:
    router.table.update(AppRoute("demo", released=True, web_quantity=0))
    resp = await http_get(router.port, "/")
    line = await router.wait_line("demo")
    assert resp.status == 503 and b"No web dynos running" in resp.body
    assert line["code"] == "H14" and line["desc"] == "No web processes running"
    assert_no_dyno(line)


async def test_h20_app_boot_timeout(router: RouterHarness) -> None:
    router.table.update(AppRoute("demo", released=True, web_quantity=1, booting=1))
    resp = await http_get(router.port, "/")
    line = await router.wait_line("demo")
    assert resp.status == 503
    assert 0.55 < resp.elapsed < 0.6 + LATE  # router_hold_timeout=0.6
    assert line["code"] == "H20" and line["desc"] == "App boot timeout"
    assert_no_dyno(line)


async def test_held_request_goes_through_the_moment_a_dyno_is_up(
    patient: RouterHarness, dyno: LabDynoProcess
) -> None:
    router = patient
    router.table.update(AppRoute("demo", released=True, web_quantity=1, booting=1))
    request = asyncio.create_task(http_get(router.port, "/"))
    await until(lambda: router.table.waiting("demo") == 1)
    router.add_app("demo", [dyno.backend])
    resp = await request
    line = await router.wait_line("demo")
    assert resp.status == 200 and resp.elapsed < PATIENT.router_hold_timeout  # woken, not timed out
    assert line["at"] == "info" and "code" not in line and line["dyno"] == "web.1"


async def test_h80_maintenance_mode(router: RouterHarness, dyno: LabDynoProcess) -> None:
    router.add_app("demo", [dyno.backend], maintenance=True)
    resp = await http_get(router.port, "/")
    line = await router.wait_line("demo")
    assert resp.status == 503 and b"Offline for Maintenance" in resp.body
    assert line["at"] == "info" and line["code"] == "H80" and line["desc"] == "Maintenance mode"
    assert_no_dyno(line)


async def test_h81_blank_app(router: RouterHarness) -> None:
    router.table.update(AppRoute("demo", released=False, web_quantity=0))
    resp = await http_get(router.port, "/")
    line = await router.wait_line("demo")
    assert resp.status == 503 and b"Welcome to your new app!" in resp.body
    assert line["at"] == "info" and line["code"] == "H81" and line["desc"] == "Blank app"


# ---------------------------------------------------------------------------------- connecting
async def test_h19_backend_connection_timeout() -> None:
    with LabDynoProcess("--no-accept") as full:  # accept queue full: SYNs are dropped
        async with RouterHarness(PATIENT.with_(router_connect_timeout=0.3)) as h:
            h.add_app("demo", [full.backend])
            resp = await http_get(h.port, "/")
            line = await h.wait_line("demo")
    assert resp.status == 503 and 0.3 <= resp.elapsed < 0.3 + LATE
    assert line["code"] == "H19" and line["desc"] == "Backend connection timeout"
    assert line["dyno"] == "web.1" and 300 <= ms(line["connect"]) < 300 + LATE * 1000
    assert line["service"] == "" and line["bytes"] == ""


async def test_h21_backend_connection_refused() -> None:
    async with RouterHarness(PATIENT) as h:
        h.add_app("demo", [Backend("web.1", "127.0.0.1", dead_port())])
        resp = await http_get(h.port, "/")
        line = await h.wait_line("demo")
    assert resp.status == 503 and resp.elapsed < PATIENT.router_hold_timeout  # no retry, no hold
    assert line["code"] == "H21" and line["desc"] == "Backend connection refused"
    connect = ms(line["connect"])
    assert line["dyno"] == "web.1" and connect < PATIENT.router_connect_timeout * 1000
    assert line["service"] == ""


async def test_refused_and_timed_out_dynos_are_retried_elsewhere_and_quarantined(
    dyno: LabDynoProcess,
) -> None:
    with LabDynoProcess("--no-accept", dyno="web.2") as full:
        refused = Backend("web.3", "127.0.0.1", dead_port())
        async with RouterHarness(PATIENT.with_(router_connect_timeout=2.0)) as h:
            h.add_app("demo", [dyno.backend, full.backend, refused])
            results = [await http_get(h.port, "/echo") for _ in range(12)]
            assert all(r.status == 200 for r in results)
            lines = h.app_lines("demo")
            assert len(lines) == 12 and all(line["dyno"] == "web.1" and "code" not in line for line in lines)
            quarantined = h.router.metrics()["router"]["quarantined"]
            # whichever bad dyno was tried got quarantined; later requests went straight to web.1
            assert all(q.startswith(("web.2", "web.3")) for q in quarantined)
            # at most one request paid the 2 s connect timeout: the rest went straight to web.1
            assert sum(r.elapsed >= 2.0 for r in results) <= 1


async def test_h99_when_every_up_dyno_is_quarantined() -> None:
    async with RouterHarness(FAST) as h:
        h.add_app("demo", [Backend("web.1", "127.0.0.1", dead_port())])
        first = await http_get(h.port, "/")
        second = await http_get(h.port, "/")
        lines = [await h.wait_line("demo", 1), await h.wait_line("demo", 2)]
    assert first.status == 503 and lines[0]["code"] == "H21"
    # web.1 is now quarantined for 5 s; the router keeps looking for the hold budget
    assert second.status == 503 and 0.55 < second.elapsed < 0.6 + LATE
    assert lines[1]["code"] == "H99" and lines[1]["desc"] == "Platform error"


class ExplodingConnector:
    """A connector with a bug in it: the router must survive its own internal errors."""

    def __init__(self) -> None:
        self.calls = 0

    async def connect(
        self, app: str, backend: Backend, factory: ProtocolFactory
    ) -> tuple[asyncio.BaseTransport, asyncio.Protocol]:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("bug in the connection layer")
        loop = asyncio.get_running_loop()
        return await loop.create_connection(factory, backend.host, backend.port)


async def test_h99_internal_error_is_caught_and_the_router_keeps_serving(dyno: LabDynoProcess) -> None:
    async with RouterHarness(FAST, connector=ExplodingConnector()) as h:
        h.add_app("demo", [dyno.backend])
        broken = await http_get(h.port, "/")
        fine = await http_get(h.port, "/")
        lines = [await h.wait_line("demo", 1), await h.wait_line("demo", 2)]
        assert h.router.metrics()["router"]["internal_errors"] == 1
    assert broken.status == 503 and lines[0]["code"] == "H99"
    assert fine.status == 200 and "code" not in lines[1]


async def test_h22_connection_limit_reached(dyno: LabDynoProcess) -> None:
    async with RouterHarness(FAST.with_(router_max_connections=2)) as h:
        h.add_app("demo", [dyno.backend])
        idle = [await asyncio.open_connection("127.0.0.1", h.port) for _ in range(2)]
        await until(lambda: h.metric("connections_open") == 2)  # the router has accepted both
        resp = await http_get(h.port, "/")
        line = await h.wait_line("demo")
        for _, w in idle:
            w.close()
        await until(lambda: h.metric("connections_open") == 0)
        after = await http_get(h.port, "/")
    assert resp.status == 503 and line["code"] == "H22" and line["desc"] == "Connection limit reached"
    assert after.status == 200


# ---------------------------------------------------------------------------------- the dyno's answer
async def test_h12_request_timeout(router: RouterHarness) -> None:
    resp = await http_get(router.port, "/sleep?s=3")
    line = await router.wait_line("demo")
    # router_timeout=0.6, counted from when the request reached the dyno; before the dyno's 3 s
    assert resp.status == 503 and 0.6 <= resp.elapsed < 3.0
    assert line["code"] == "H12" and line["desc"] == "Request timeout"
    assert line["dyno"] == "web.1" and 600 <= ms(line["service"]) < 3000 and line["bytes"] == "0"


@pytest.mark.parametrize("path", ["/close", "/reset"])
async def test_h13_connection_closed_without_response(router: RouterHarness, path: str) -> None:
    resp = await http_get(router.port, path)
    line = await router.wait_line("demo")
    assert resp.status == 503  # and no H12: the close was seen before the first-byte timer
    assert line["code"] == "H13" and line["desc"] == "Connection closed without response"
    assert line["dyno"] == "web.1" and line["bytes"] == "0" and line["status"] == "503"


async def test_h13_when_the_dyno_process_dies_mid_request() -> None:
    with LabDynoProcess() as doomed:
        async with RouterHarness(FAST) as h:
            h.add_app("demo", [doomed.backend])
            resp = await http_get(h.port, "/exit")
            line = await h.wait_line("demo")
    assert resp.status == 503 and line["code"] == "H13"


async def test_h15_idle_connection(router: RouterHarness) -> None:
    resp = await http_get(router.port, "/stall")
    line = await router.wait_line("demo")
    # the response had started: the client got its head and 10 of 100 bytes, then a cut
    assert resp.status == 200 and resp.body == b"x" * 10 and not resp.complete and resp.closed
    assert 0.6 <= resp.elapsed < 0.6 + LATE  # router_idle_timeout=0.6
    assert line["code"] == "H15" and line["desc"] == "Idle connection"
    assert 600 <= ms(line["service"]) < (0.6 + LATE) * 1000 and int(line["bytes"]) > 10


@pytest.mark.parametrize("path", ["/noreason", "/garbage"])
async def test_h17_poorly_formatted_response(router: RouterHarness, path: str) -> None:
    resp = await http_get(router.port, path)
    line = await router.wait_line("demo")
    assert resp.status == 503
    assert line["code"] == "H17" and line["desc"] == "Poorly formatted HTTP response"


async def test_h18_server_request_interrupted(router: RouterHarness) -> None:
    resp = await http_get(router.port, "/partial")
    line = await router.wait_line("demo")
    assert resp.status == 200 and resp.body == b"x" * 10 and not resp.complete and resp.closed
    assert (
        line["sock"] == "backend" and line["code"] == "H18" and line["desc"] == "Server Request Interrupted"
    )
    raw = router.lines[-1][1]
    assert raw.startswith("sock=backend at=error code=H18")


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/conflicting-length", "invalid content length"),
        ("/big-cookie", "oversized cookie"),
        ("/big-header", "oversized header"),
        ("/long-status", "oversized status line"),
    ],
)
async def test_h25_http_restriction(router: RouterHarness, path: str, detail: str) -> None:
    resp = await http_get(router.port, path)
    line = await router.wait_line("demo")
    assert resp.status == 502
    assert line["code"] == "H25" and line["desc"] == f"HTTP restriction: {detail}" and line["status"] == "502"


async def test_identical_duplicate_content_lengths_are_merged(router: RouterHarness) -> None:
    resp = await http_get(router.port, "/duplicate-length")
    assert resp.status == 200 and resp.body == b"ok" and resp.complete


# ---------------------------------------------------------------------------------- the client
async def test_h26_unsupported_expect(router: RouterHarness) -> None:
    resp = await http_get(router.port, "/", headers=[("Expect", "something-else")])
    line = await router.wait_line("demo")
    assert resp.status == 417
    assert line["code"] == "H26" and line["desc"] == "Request Error"
    assert line["cause"] == "unsupported expect header value" and line["status"] == "417"


async def test_h26_bad_header(router: RouterHarness) -> None:
    resp = await http_get(router.port, "/", headers=[("X-Huge", "v" * 9000)])
    line = await router.wait_line("demo")
    assert resp.status == 400 and line["code"] == "H26" and line["cause"] == "bad header"


async def test_h26_bad_chunk(router: RouterHarness) -> None:
    resp = await http_request(
        router.port,
        "POST",
        "/sink",
        headers=[("Transfer-Encoding", "chunked")],
        body=b"5\r\nhello\r\nzz\r\n",
    )
    line = await router.wait_line("demo")
    assert resp.status == 400 and line["code"] == "H26" and line["cause"] == "bad chunk"


async def test_h27_client_closes_during_the_request_body() -> None:
    async with RecorderDyno() as dyno, RouterHarness(PATIENT) as h:
        h.add_app("demo", [dyno.backend])
        _reader, writer = await asyncio.open_connection("127.0.0.1", h.port)
        writer.write(
            b"POST /sink HTTP/1.1\r\nHost: demo.localhost\r\nContent-Length: 1000\r\n\r\n" + b"a" * 10
        )
        await dyno.wait_requests(1)  # the dyno has the head: the body is being streamed
        writer.close()
        line = await h.wait_line("demo")
    assert line["sock"] == "client" and line["at"] == "warning"
    assert line["code"] == "H27" and line["desc"] == "Client Request Interrupted" and line["status"] == "499"
    assert line["dyno"] == "web.1" and ms(line["service"]) < PATIENT.router_idle_timeout * 1000  # not H28
    assert not dyno.requests[0].complete


async def test_h27_client_gives_up_waiting_for_a_slow_dyno() -> None:
    async with RecorderDyno(answer=False) as dyno, RouterHarness(PATIENT) as h:
        h.add_app("demo", [dyno.backend])
        _reader, writer = await asyncio.open_connection("127.0.0.1", h.port)
        writer.write(b"GET /think HTTP/1.1\r\nHost: demo.localhost\r\n\r\n")
        await dyno.wait_requests(1)
        writer.close()
        line = await h.wait_line("demo")
    assert line["code"] == "H27" and line["status"] == "499" and line["bytes"] == "0"
    assert line["dyno"] == "web.1" and ms(line["service"]) < PATIENT.router_timeout * 1000  # not H12


async def test_h27_client_gives_up_while_held_for_a_booting_dyno(router: RouterHarness) -> None:
    router.table.update(AppRoute("demo", released=True, web_quantity=1, booting=1))
    _reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: demo.localhost\r\n\r\n")
    await writer.drain()
    await until(lambda: router.table.waiting("demo") == 1)
    writer.close()
    line = await router.wait_line("demo")
    assert line["code"] == "H27" and line["dyno"] == ""
    assert router.table.waiting("demo") == 0  # the held request let go of the table


async def test_h28_client_connection_idle(router: RouterHarness) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
    writer.write(b"POST /sink HTTP/1.1\r\nHost: demo.localhost\r\nContent-Length: 100\r\n\r\n" + b"a" * 10)
    await writer.drain()
    resp = await read_response(reader, timeout=5)
    line = await router.wait_line("demo")
    writer.close()
    assert resp.status is None and resp.closed  # hung up on, nothing to read
    assert 0.55 < resp.elapsed < 0.6 + LATE  # router_idle_timeout=0.6
    assert line["at"] == "warning" and line["code"] == "H28" and line["desc"] == "Client Connection Idle"
    assert line["status"] == "499"


async def test_h28_client_stops_in_the_middle_of_its_headers(router: RouterHarness) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: demo.localhost\r\nX-Half: ")
    await writer.drain()
    resp = await read_response(reader, timeout=5)
    line = await router.wait_line("demo")
    writer.close()
    assert resp.closed and 0.55 < resp.elapsed < 0.6 + LATE
    assert line["code"] == "H28" and line["status"] == "499"
