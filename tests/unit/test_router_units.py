"""Router pieces on their own: route table, H-code catalog, log line, request ids, metrics."""

from __future__ import annotations

import asyncio

import pytest

from router.codes import CATALOG
from router.headers import has_token, new_request_id, valid_request_id
from router.logline import format_line
from router.metrics import Metrics, RequestRecord
from router.pages import error_response
from router.table import AppRoute, Backend, RouteTable
from tests.support.router_harness import parse_line


def test_resolve_localhost_names_and_custom_domains() -> None:
    table = RouteTable()
    table.update(AppRoute("demo", released=True))
    table.update(AppRoute("other", released=True))
    table.set_domains({"www.Example.com": "other"})
    assert table.resolve("demo.localhost").name == "demo"  # type: ignore[union-attr]
    assert table.resolve("DEMO.LOCALHOST:5000").name == "demo"  # type: ignore[union-attr]
    assert table.resolve("www.example.com:443").name == "other"  # type: ignore[union-attr]
    assert table.resolve("www.example.com.").name == "other"  # type: ignore[union-attr]
    for host in ("nope.localhost", "localhost", "a.demo.localhost", "[::1]:5000", "", "example.com"):
        assert table.resolve(host) is None, host
    table.remove("demo")
    assert table.resolve("demo.localhost") is None


def test_remove_backend_replaces_the_route() -> None:
    table = RouteTable()
    b1, b2 = Backend("web.1", "127.0.0.1", 1), Backend("web.2", "127.0.0.1", 2)
    table.update(AppRoute("demo", released=True, web_quantity=2, backends=[b1, b2]))
    seen: list[str] = []
    table.add_listener(seen.append)
    table.remove_backend("demo", "web.1")
    assert table.get("demo").backends == [b2]  # type: ignore[union-attr]
    table.remove_backend("demo", "web.9")  # unknown: no change, no notification
    assert seen == ["demo"]


async def test_update_wakes_held_requests() -> None:
    table = RouteTable()
    fut = table.changed("demo")
    other = table.changed("other")
    table.update(AppRoute("demo"))
    await asyncio.wait_for(fut, 1)
    assert not other.done()
    table.discard_waiter("other", other)


def test_catalog_matches_heroku() -> None:
    expected = {
        "H10": ("App crashed", 503, "error"),
        "H11": ("Backlog too deep", 503, "error"),
        "H12": ("Request timeout", 503, "error"),
        "H13": ("Connection closed without response", 503, "error"),
        "H14": ("No web processes running", 503, "error"),
        "H15": ("Idle connection", 503, "error"),
        "H17": ("Poorly formatted HTTP response", 503, "error"),
        "H18": ("Server Request Interrupted", 503, "error"),
        "H19": ("Backend connection timeout", 503, "error"),
        "H20": ("App boot timeout", 503, "error"),
        "H21": ("Backend connection refused", 503, "error"),
        "H22": ("Connection limit reached", 503, "error"),
        "H25": ("HTTP restriction", 502, "error"),
        "H26": ("Request Error", 400, "error"),
        "H27": ("Client Request Interrupted", 499, "warning"),
        "H28": ("Client Connection Idle", 499, "warning"),
        "H80": ("Maintenance mode", 503, "info"),
        "H81": ("Blank app", 503, "info"),
        "H99": ("Platform error", 503, "error"),
    }
    assert {c: (h.desc, h.status, h.level) for c, h in CATALOG.items()} == expected
    assert CATALOG["H18"].sock == "backend" and CATALOG["H27"].sock == "client"


def test_log_line_shapes() -> None:
    ok = format_line(
        at="info", code=None, desc=None, cause=None, sock=None, method="GET", path="/a?b=1",
        host="demo.localhost", request_id="rid", fwd="1.2.3.4", dyno="web.1", connect_ms=1,
        service_ms=18, status=200, nbytes=13,
    )  # fmt: skip
    assert ok == (
        'at=info method=GET path="/a?b=1" host=demo.localhost request_id=rid fwd="1.2.3.4" '
        "dyno=web.1 connect=1ms service=18ms status=200 bytes=13 protocol=http"
    )
    err = format_line(
        at="error", code="H10", desc="App crashed", cause=None, sock=None, method="GET", path="/",
        host="h", request_id="r", fwd="f", dyno=None, connect_ms=None, service_ms=None, status=503,
        nbytes=None,
    )  # fmt: skip
    assert 'at=error code=H10 desc="App crashed" method=GET' in err
    assert err.endswith("dyno= connect= service= status=503 bytes= protocol=http")
    sock = format_line(
        at="warning", code="H27", desc="Client Request Interrupted", cause=None, sock="client", method="POST",
        path='/q"x', host="h", request_id="r", fwd="f", dyno="web.1", connect_ms=0, service_ms=5,
        status=499, nbytes=0, router2=True,
    )  # fmt: skip
    assert sock.startswith("sock=client at=warning code=H27")
    assert sock.endswith("protocol=http1.1 tls=false")
    assert parse_line(sock)["path"] == '/q"x'
    cause = format_line(
        at="error", code="H26", desc="Request Error", cause="bad chunk", sock=None, method="POST", path="/",
        host="h", request_id="r", fwd="f", dyno=None, connect_ms=None, service_ms=None, status=400, nbytes=None,
    )  # fmt: skip
    assert 'code=H26 desc="Request Error" cause="bad chunk" method=POST' in cause


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (b"a" * 20, True),
        (b"a" * 200, True),
        (b"a" * 19, False),
        (b"a" * 201, False),
        (b"ABCdef0123456789+/=-", True),
        (b"abcdefghijklmnopqrs_", False),
        (b"abcdefghijklmnopqrs ", False),
    ],
)
def test_request_id_rule(value: bytes, ok: bool) -> None:
    assert valid_request_id(value) is ok
    assert valid_request_id(new_request_id())


def test_has_token() -> None:
    assert has_token(b"keep-alive, Upgrade", b"upgrade")
    assert not has_token(b"x-chunked", b"chunked")


def _rec(total_ms: int, code: str | None = None, dyno: str | None = "web.1") -> RequestRecord:
    return RequestRecord(
        app="demo", dyno=dyno, code=code, status=503 if code else 200, connect_ms=0, service_ms=total_ms,
        bytes=10, method="GET", path="/", host="demo.localhost", request_id="r", at="error" if code else "info",
        total_ms=total_ms, ts=0.0,
    )  # fmt: skip


def test_metrics_counts_rates_and_percentiles() -> None:
    m = Metrics()
    for i in range(1, 101):
        m.add(_rec(i))
    m.add(_rec(5, "H12"))
    m.add(_rec(5, "H10", dyno=None))
    snap = m.snapshot("demo")["demo"]
    assert snap["requests"] == 102 and snap["errors"] == 2 and snap["codes"] == {"H12": 1, "H10": 1}
    assert snap["statuses"] == {"2xx": 100, "5xx": 2}
    assert snap["latency_ms"]["p50"] == pytest.approx(50, abs=2)
    assert snap["latency_ms"]["p99"] == pytest.approx(99, abs=2)
    assert snap["dynos"]["web.1"]["requests"] == 101
    assert m.snapshot("missing")["missing"]["requests"] == 0


def test_error_pages_are_whole_responses() -> None:
    raw = error_response("application-error", 503, True)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"Connection: keep-alive" in head and b"Content-Length: %d" % len(body) in head
    assert b"Application error" in body
