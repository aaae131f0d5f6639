"""The router's TLS port with real clients: curl (HTTP/1.1 and --http2), httpx with h2, and a
raw h2 client; SNI certificates from the local CA; every stream through the same chain.

Real dyno processes (`python -m tests.support.labdyno`), the router in the test's uvloop.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import httpx
import pytest
import uvloop

from common.ca import LocalCA
from common.config import Settings
from router.certstore import CertPaths, CertStore
from router.tls import TlsListener, start_tls
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
