"""The router's TLS port with real clients: curl (HTTP/1.1 and --http2), httpx with h2, and a
raw h2 client; SNI certificates from the local CA; every stream through the same chain.

Real dyno processes (`python -m tests.support.labdyno`; for the stream limit, a dyno in the test's
loop that holds its requests), the router in the test's uvloop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import httpx
import pytest
import uvloop
from hpack import NeverIndexedHeaderTuple

from common.ca import LocalCA
from common.config import Settings
from router.certstore import CertPaths, CertStore
from router.table import Backend
from router.tls import MAX_CONCURRENT_STREAMS, TlsListener, start_tls
from tests.support.require import require
from tests.support.router_harness import LabDynoProcess, RouterHarness

pytestmark = pytest.mark.filterwarnings('ignore:Overriding the "event_loop_policy" fixture')

FAST = Settings(
    router_connect_timeout=0.5,
    router_timeout=1.0,
    router_idle_timeout=2.0,
    router_hold_timeout=1.0,
    router_keepalive_timeout=5.0,
)


@pytest.fixture(scope="module")
def event_loop_policy() -> uvloop.EventLoopPolicy:
    return uvloop.EventLoopPolicy()


@pytest.fixture(scope="module")
def dyno() -> Iterator[LabDynoProcess]:
    with LabDynoProcess(dyno="web.1") as d:
        yield d


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    ca = LocalCA(tmp_path_factory.mktemp("tls") / "ca")
    ca.ensure()
    return ca


def paths(ca: LocalCA, name: str, hosts: list[str]) -> CertPaths:
    files = ca.server_files(name, hosts)
    return CertPaths(str(files.cert_path), str(files.key_path))


class Tls:
    def __init__(self, harness: RouterHarness, listener: TlsListener, ca: LocalCA) -> None:
        self.h = harness
        self.listener = listener
        self.port = listener.port
        self.ca = ca

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca.cert_path))

    async def curl(self, *args: str, host: str = "demo.localhost") -> tuple[str, str]:
        """(body, the -w line: `<http_version> <status>`)."""
        require(shutil.which("curl") is not None, "curl is not installed")
        proc = await asyncio.create_subprocess_exec(
            "curl", "-sS", "--cacert", str(self.ca.cert_path),
            "--resolve", f"{host}:{self.port}:127.0.0.1", "-w", "\n%{http_version} %{http_code}", *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        body, _, status = out.decode().rpartition("\n")
        return body, status

    def url(self, path: str, host: str = "demo.localhost") -> str:
        return f"https://{host}:{self.port}{path}"

    def h2_client(self) -> httpx.AsyncClient:
        """An HTTP/2 client that dials 127.0.0.1 and names demo.localhost (SNI and :authority)."""
        transport = httpx.AsyncHTTPTransport(http2=True, verify=self.client_context())
        return httpx.AsyncClient(transport=transport, timeout=10)

    async def h2_get(self, path: str, **kw: Any) -> httpx.Response:
        async with self.h2_client() as client:
            return await self.send(client, "GET", path, **kw)

    async def send(self, client: httpx.AsyncClient, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"host": f"demo.localhost:{self.port}", **kw.pop("headers", {})}
        return await client.request(
            method, f"https://127.0.0.1:{self.port}{path}", headers=headers,
            extensions={"sni_hostname": "demo.localhost"}, **kw,
        )  # fmt: skip


@pytest.fixture
async def tls(dyno: LabDynoProcess, ca: LocalCA) -> AsyncIterator[Tls]:
    async with RouterHarness(FAST) as h:
        h.add_app("demo", [dyno.backend])
        h.add_app("fast", [dyno.backend], keepalive=True)
        store = CertStore(paths(ca, "router-default", ["localhost", "127.0.0.1"]))
        store.update(
            {
                "demo.localhost": paths(ca, "app-demo", ["demo.localhost"]),
                "fast.localhost": paths(ca, "app-fast", ["fast.localhost"]),
            }
        )
        listener = await start_tls(h.router, store)
        try:
            yield Tls(h, listener, ca)
        finally:
            await listener.stop()


def seen_headers(body: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in json.loads(body)["headers"]:
        out.setdefault(name.lower(), []).append(value)
    return out


# ---------------------------------------------------------------------------------- HTTPS/1.1
async def test_https_with_curl_reaches_the_dyno_as_https(tls: Tls) -> None:
    body, status = await tls.curl("--http1.1", tls.url("/echo"))
    assert status == "1.1 200"
    seen = seen_headers(body)
    assert seen["x-forwarded-proto"] == ["https"]
    assert seen["x-forwarded-port"] == [str(tls.port)]
    assert seen["via"] == ["1.1 vegur"]
    line = await tls.h.wait_line("demo")
    assert line["protocol"] == "https" and line["status"] == "200"
    assert line["request_id"] == seen["x-request-id"][0]
    assert "tls=" not in tls.h.lines[-1][1]  # legacy lines say protocol=https, nothing more


async def test_router2_lines_say_tls_and_its_version(tls: Tls) -> None:
    _, status = await tls.curl("--http1.1", tls.url("/echo", "fast.localhost"), host="fast.localhost")
    assert status == "1.1 200"
    line = await tls.h.wait_line("fast")
    assert line["protocol"] == "http1.1" and line["tls"] == "true" and line["tls_version"] == "tls1.3"


async def test_h12_over_https_is_the_same_line(tls: Tls) -> None:
    body, status = await tls.curl("--http1.1", tls.url("/sleep?s=3"))
    assert status == "1.1 503" and "Application error" in body
    line = await tls.h.wait_line("demo")
    assert line["code"] == "H12" and line["protocol"] == "https"
    assert int(line["service"].removesuffix("ms")) >= 1000


# ---------------------------------------------------------------------------------- HTTP/2
async def test_http2_with_curl(tls: Tls) -> None:
    body, status = await tls.curl("--http2", tls.url("/echo?via=h2"))
    assert status == "2 200"
    seen = seen_headers(body)
    assert seen["x-forwarded-proto"] == ["https"] and seen["host"] == [f"demo.localhost:{tls.port}"]
    line = await tls.h.wait_line("demo")
    assert line["protocol"] == "http2.0" and line["tls"] == "true" and line["tls_version"] == "tls1.3"
    assert line["path"] == "/echo?via=h2" and line["request_id"] == seen["x-request-id"][0]


async def test_streams_on_one_connection_each_get_their_own_verdict(tls: Tls) -> None:
    """Twelve concurrent streams on one HTTP/2 connection: the one whose dyno connection closes
    without a response gets its H13, the one that sleeps past the timeout its H12, the others 200."""
    async with tls.h2_client() as client:
        paths = ["/sleep?s=0.3"] * 10 + ["/close", "/sleep?s=3"]
        responses = await asyncio.gather(*(tls.send(client, "GET", p) for p in paths))
    assert {r.http_version for r in responses} == {"HTTP/2"}
    assert [r.status_code for r in responses] == [200] * 10 + [503, 503]
    assert tls.listener.h2_connections_total == 1  # all twelve shared one connection
    lines = [await tls.h.wait_line("demo", n) for n in range(1, 13)]
    codes = sorted(line.get("code", "") for line in lines)
    assert codes == [""] * 10 + ["H12", "H13"]
    assert {line["protocol"] for line in lines} == {"http2.0"}
    assert len({line["request_id"] for line in lines}) == 12


async def test_http2_bodies_both_ways_respect_flow_control(tls: Tls) -> None:
    big = 3 * 1024 * 1024  # far past the 64 KiB initial windows both ways
    async with tls.h2_client() as client:
        down = await tls.send(client, "GET", f"/bytes?n={big}")
        chunked = await tls.send(client, "POST", "/echo", content=_chunks(b"u" * big))
        sized = await tls.send(client, "POST", "/echo", content=b"s" * 1000)
    assert down.status_code == 200 and len(down.content) == big
    assert json.loads(chunked.content)["body_bytes"] == big
    assert json.loads(sized.content)["body_bytes"] == 1000


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 256 * 1024):
        yield data[i : i + 256 * 1024]


async def test_http2_settings_bound_concurrent_streams(tls: Tls) -> None:
    conn, sock = await asyncio.to_thread(_raw_h2, tls)
    try:
        assert conn.remote_settings.max_concurrent_streams == 100
    finally:
        sock.close()


def _raw_h2(tls: Tls, validate: bool = True) -> tuple[h2.connection.H2Connection, ssl.SSLSocket]:
    ctx = tls.client_context()
    ctx.set_alpn_protocols(["h2"])
    sock = ctx.wrap_socket(
        socket.create_connection(("127.0.0.1", tls.port), timeout=5), server_hostname="demo.localhost"
    )
    assert sock.selected_alpn_protocol() == "h2"
    config = h2.config.H2Configuration(client_side=True, validate_outbound_headers=validate)
    conn = h2.connection.H2Connection(config)
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    settled = False
    while not settled:  # the router's SETTINGS
        events = conn.receive_data(sock.recv(65536))
        sock.sendall(conn.data_to_send())
        settled = any(isinstance(e, h2.events.RemoteSettingsChanged) for e in events)
    return conn, sock


def _refusal(tls: Tls, headers: list[tuple[str, str]]) -> h2.events.Event:
    """What the router answers a malformed request with: a reset stream or a GOAWAY."""
    conn, sock = _raw_h2(tls, validate=False)
    try:
        conn.send_headers(1, headers, end_stream=True)
        sock.sendall(conn.data_to_send())
        while True:
            data = sock.recv(65536)
            assert data, "the router hung up without a word"
            for event in conn.receive_data(data):
                if isinstance(
                    event, h2.events.StreamReset | h2.events.ConnectionTerminated | h2.events.ResponseReceived
                ):
                    return event
    finally:
        sock.close()


BASE = [(":method", "GET"), (":scheme", "https"), (":authority", "demo.localhost")]


@pytest.mark.parametrize(
    ("extra", "kind"),
    [
        # CR LF in a value: h2 refuses the whole connection (GOAWAY PROTOCOL_ERROR)
        ([(":path", "/echo"), ("x-smuggle", "a\r\nGET /admin HTTP/1.1")], h2.events.ConnectionTerminated),
        # a space in :path would split the request line: the router resets that stream
        ([(":path", "/echo HTTP/1.1\r\nx: y")], h2.events.ConnectionTerminated),
        ([(":path", "/echo /admin")], h2.events.StreamReset),
        ([(":path", "echo")], h2.events.StreamReset),
    ],
)
async def test_a_malformed_request_is_refused_never_forwarded(
    tls: Tls, extra: list[tuple[str, str]], kind: type[h2.events.Event]
) -> None:
    event = await asyncio.to_thread(_refusal, tls, BASE + extra)
    assert isinstance(event, kind)
    assert getattr(event, "error_code", None) == h2.errors.ErrorCodes.PROTOCOL_ERROR
    _, status = await tls.curl("--http2", tls.url("/echo"))  # the router goes on
    assert status == "2 200"
    assert [line["path"] for line in tls.h.app_lines("demo")] == ["/echo"]  # nothing else reached a dyno


# ---------------------------------------------------------------------------------- past the stream limit
class HeldDyno:
    """A dyno that holds every request until `release()`, then answers 200 with the request head
    it got as the body (so a test sees the headers as the router decoded them)."""

    def __init__(self, hold: int) -> None:
        self.hold = hold
        self.held = 0
        self.all_held = threading.Event()  # `hold` requests wait (the h2 client's thread waits for it)
        self._released = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> Backend:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=512)
        self.port = self._server.sockets[0].getsockname()[1]
        return Backend("web.1", "127.0.0.1", self.port)

    async def stop(self) -> None:
        self._released.set()  # nothing left waiting, even after a failed test
        if self._server is not None:
            self._server.close()

    def release(self) -> None:
        """From any thread: answer every request, held or to come."""
        self._loop.call_soon_threadsafe(self._released.set)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.held += 1
            if self.held == self.hold:
                self.all_held.set()
            await self._released.wait()
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(head), head))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def held_tls(ca: LocalCA, hold: int, max_streams: int) -> AsyncIterator[tuple[Tls, HeldDyno]]:
    dyno = HeldDyno(hold)
    backend = await dyno.start()
    try:
        async with RouterHarness(FAST.with_(router_timeout=10.0)) as h:  # held well within the timeout
            h.add_app("demo", [backend])
            certs = CertStore(paths(ca, "app-demo", ["demo.localhost"]))
            listener = TlsListener(h.router, certs, max_streams=max_streams)
            await listener.start()
            try:
                yield Tls(h, listener, ca), dyno
            finally:
                await listener.stop()
    finally:
        await dyno.stop()


def _read_until(
    conn: h2.connection.H2Connection, sock: ssl.SSLSocket, done: Callable[[list[h2.events.Event]], bool]
) -> list[h2.events.Event]:
    """Events until `done(events)`; the connection must stay up all along (no GOAWAY, no hang-up)."""
    events: list[h2.events.Event] = []
    while not done(events):
        data = sock.recv(65536)
        assert data, "the router hung up"
        for event in conn.receive_data(data):
            assert not isinstance(event, h2.events.ConnectionTerminated), f"GOAWAY: {event}"
            if isinstance(event, h2.events.DataReceived) and event.stream_id:
                conn.acknowledge_received_data(event.flow_controlled_length or 0, event.stream_id)
            events.append(event)
        sock.sendall(conn.data_to_send())
    return events


def _ended(events: list[h2.events.Event]) -> set[int]:
    return {e.stream_id for e in events if isinstance(e, h2.events.StreamEnded) and e.stream_id}


TOKEN = "only-in-a-refused-header-block"
PAD = NeverIndexedHeaderTuple("x-pad", "p" * 40_000)  # past one frame: HEADERS + CONTINUATION


def _past_the_limit(tls: Tls, dyno: HeldDyno, refused: int) -> None:
    """`dyno.hold` streams held at the dyno (the limit), then `refused` more; the first refused one
    carries a body and trailers (HEADERS + CONTINUATION) sent before its RST_STREAM is seen."""
    conn, sock = _raw_h2(tls)
    try:
        held = [2 * n + 1 for n in range(dyno.hold)]
        for sid in held:
            conn.send_headers(sid, [*BASE, (":path", f"/held/{sid}"), ("x-batch", "held")], end_stream=True)
        sock.sendall(conn.data_to_send())
        assert dyno.all_held.wait(5), f"the dyno never held {dyno.hold} requests"

        # a client that ignores the limit (or whose streams crossed our SETTINGS): h2 would not send
        conn.remote_settings.max_concurrent_streams = 2**31 - 1
        conn.remote_settings.acknowledge()
        first = held[-1] + 2
        extra = [first + 2 * n for n in range(refused)]
        post: list[tuple[str, str] | NeverIndexedHeaderTuple] = [
            (":method", "POST"),
            *BASE[1:],
            (":path", "/refused"),
            ("x-refused-only", TOKEN),
            PAD,
        ]
        conn.send_headers(first, post)  # a header the HPACK dynamic table learns only from this block
        for sid in extra[1:]:  # these sweep `first` out of h2's streams: its trailers come after
            conn.send_headers(sid, [*BASE, (":path", f"/refused/{sid}")], end_stream=True)
        window = conn.outbound_flow_control_window  # the whole connection window, spent on a refused stream
        for offset in range(0, window, conn.max_outbound_frame_size):
            conn.send_data(first, b"r" * min(conn.max_outbound_frame_size, window - offset))
        conn.send_headers(first, [PAD, ("x-refused-trailer", TOKEN)], end_stream=True)  # HPACK learns it here
        conn.ping(b"barrier!")  # answered once the router has dealt with everything before it
        sock.sendall(conn.data_to_send())
        events = _read_until(conn, sock, lambda ev: any(isinstance(e, h2.events.PingAckReceived) for e in ev))

        resets = {e.stream_id: e.error_code for e in events if isinstance(e, h2.events.StreamReset)}
        assert resets == dict.fromkeys(extra, h2.errors.ErrorCodes.REFUSED_STREAM)
        assert not _ended(events), "a held stream ended before its dyno answered"
        # the refused stream's DATA was given back (h2 credits in halves of the window: all of it here)
        assert conn.outbound_flow_control_window == window

        dyno.release()
        events += _read_until(conn, sock, lambda ev: _ended(ev) >= set(held))
        statuses = {
            e.stream_id: dict(e.headers or [])[b":status"]
            for e in events
            if isinstance(e, h2.events.ResponseReceived)
        }
        assert statuses == dict.fromkeys(held, b"200")

        # the same connection goes on, its HPACK state in step: these two now go as indexes into
        # the dynamic table, which the router has only if it decoded the refused stream's blocks
        learnt = {(b"x-refused-only", TOKEN.encode()), (b"x-refused-trailer", TOKEN.encode())}
        assert learnt <= set(conn.encoder.header_table.dynamic_entries)
        after = extra[-1] + 2
        conn.send_headers(
            after,
            [
                *BASE,
                (":path", "/after"),
                ("x-batch", "held"),
                ("x-refused-only", TOKEN),
                ("x-refused-trailer", TOKEN),
            ],
            end_stream=True,
        )
        sock.sendall(conn.data_to_send())
        events = _read_until(conn, sock, lambda ev: after in _ended(ev))
        body = b"".join(e.data or b"" for e in events if isinstance(e, h2.events.DataReceived))
        assert b"GET /after HTTP/1.1\r\n" in body
        for name in ("x-batch: held", f"x-refused-only: {TOKEN}", f"x-refused-trailer: {TOKEN}"):
            assert f"{name}\r\n".encode() in body
    finally:
        sock.close()


@pytest.mark.parametrize(
    ("limit", "refused"),
    [(MAX_CONCURRENT_STREAMS, 1), (2, 3)],
    ids=["the-101st-stream", "three-past-a-limit-of-2"],
)
async def test_a_stream_past_the_limit_is_refused_alone(
    ca: LocalCA, caplog: pytest.LogCaptureFixture, limit: int, refused: int
) -> None:
    """RFC 9113 §5.1.2 as nginx and Go do it: the stream past SETTINGS_MAX_CONCURRENT_STREAMS is
    reset REFUSED_STREAM (not processed, safe to retry); the connection and the streams in flight
    go on. Counted; logged once per connection; no router line (nothing reached a dyno)."""
    caplog.set_level(logging.INFO, logger="router")
    started = time.monotonic()
    async with held_tls(ca, hold=limit, max_streams=limit) as (tls, dyno):
        await asyncio.to_thread(_past_the_limit, tls, dyno, refused)
        await tls.h.wait_line("demo", limit + 1)
        paths = [line["path"] for line in tls.h.app_lines("demo")]
        assert sorted(paths) == sorted([f"/held/{2 * n + 1}" for n in range(limit)] + ["/after"])
        assert {line["status"] for line in tls.h.app_lines("demo")} == {"200"}
        figures = tls.listener.metrics()
        assert figures["h2_streams_refused"] == refused
        assert figures["h2_streams_total"] == limit + 1 and figures["h2_streams_malformed"] == 0
        assert figures["h2_connections_total"] == 1
    told = [r.getMessage() for r in caplog.records if "REFUSED_STREAM" in r.getMessage()]
    assert len(told) == 1 and told[0].startswith(f"router: HTTP/2 stream {2 * limit + 1} from 127.0.0.1")
    assert time.monotonic() - started < 5


# ---------------------------------------------------------------------------------- SNI
async def test_an_unknown_name_gets_the_default_certificate(tls: Tls) -> None:
    """As Heroku serves its default certificate: a name check fails; a client that goes on
    anyway gets the router's "no such app" page."""
    with pytest.raises(httpx.ConnectError, match=r"CERTIFICATE_VERIFY_FAILED|doesn't match|mismatch"):
        async with httpx.AsyncClient(verify=tls.client_context()) as client:
            await client.get(f"https://127.0.0.1:{tls.port}/", extensions={"sni_hostname": "nope.localhost"})
    ctx = tls.client_context()
    ctx.check_hostname = False
    async with httpx.AsyncClient(verify=ctx) as client:
        resp = await client.get(
            f"https://127.0.0.1:{tls.port}/", headers={"host": "nope.localhost"},
            extensions={"sni_hostname": "nope.localhost"},
        )  # fmt: skip
    assert resp.status_code == 404 and "no such app" in resp.text.lower()
    assert tls.listener.certs.unknown_names >= 2
    # an IP literal (no SNI) is covered by the default certificate
    async with httpx.AsyncClient(verify=tls.client_context()) as client:
        resp = await client.get(f"https://127.0.0.1:{tls.port}/", headers={"host": "demo.localhost"})
    assert resp.status_code == 200


def test_certificate_files_are_private(ca: LocalCA) -> None:
    files = ca.server_files("app-demo", ["demo.localhost"])
    assert Path(files.key_path).stat().st_mode & 0o777 == 0o600


async def test_an_idle_http2_connection_is_closed_with_goaway(dyno: LabDynoProcess, ca: LocalCA) -> None:
    async with RouterHarness(FAST.with_(router_keepalive_timeout=0.5)) as h:
        h.add_app("demo", [dyno.backend])
        listener = await start_tls(h.router, CertStore(paths(ca, "app-demo", ["demo.localhost"])))
        try:
            events = await asyncio.to_thread(_idle_until_closed, Tls(h, listener, ca))
        finally:
            await listener.stop()
    goaway = [e for e in events if isinstance(e, h2.events.ConnectionTerminated)]
    assert goaway and goaway[0].error_code == h2.errors.ErrorCodes.NO_ERROR


def _idle_until_closed(tls: Tls) -> list[h2.events.Event]:
    conn, sock = _raw_h2(tls)
    events: list[h2.events.Event] = []
    try:
        while data := sock.recv(65536):  # the router says GOAWAY, then hangs up
            events += conn.receive_data(data)
    finally:
        sock.close()
    return events
