"""Helpers to exercise a router for real: lab dyno processes, a raw HTTP client, log capture.

Used by the router's tests and usable by any other part's tests (and by a class at a REPL):

    with LabDynoProcess() as dyno:                 # a real process: python -m tests.support.labdyno
        harness = RouterHarness(Settings(router_timeout=0.5))
        harness.table.update(AppRoute("demo", released=True, web_quantity=1, backends=[dyno.backend]))
        port = await harness.start()
        resp = await http_get(port, "/sleep?s=2", host="demo.localhost")
        line = await harness.wait_line("demo")     # {'at': 'error', 'code': 'H12', ...}
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httptools

from common.config import Settings
from router.metrics import RequestRecord
from router.server import Router
from router.table import AppRoute, Backend, RouteTable

REPO = Path(__file__).resolve().parents[2]

_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_line(text: str) -> dict[str, str]:
    """A heroku[router] line as a dict of its fields (quotes removed)."""
    out: dict[str, str] = {}
    for key, value in _FIELD.findall(text):
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out[key] = value
    return out


class LabDynoProcess:
    """`python -m tests.support.labdyno` as a subprocess; `.backend` is what goes in a route."""

    def __init__(self, *args: str, dyno: str = "web.1") -> None:
        self.args = list(args)
        self.dyno = dyno
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self) -> LabDynoProcess:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.labdyno",
                "--port",
                "0",
                "--dyno",
                self.dyno,
                "--die-with-parent",
                *self.args,
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,  # the lab dyno is a module of the test tree
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"lab dyno did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    @property
    def backend(self) -> Backend:
        return Backend(self.dyno, "127.0.0.1", self.port)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def signal(self, signum: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signum)

    def wait(self, timeout: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> LabDynoProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class RawResponse:
    """What a client got: status None when the connection closed before a response head."""

    status: int | None = None
    reason: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    complete: bool = False  # the whole body arrived (framing satisfied)
    closed: bool = False  # the router closed the connection
    elapsed: float = 0.0
    informational: list[int] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        key = name.lower().encode()
        for k, v in self.headers:
            if k.lower() == key:
                return v.decode("latin-1")
        return None


class _ResponseReader:
    def __init__(self, head_only: bool = False) -> None:
        self.resp = RawResponse()
        self.parser = httptools.HttpResponseParser(self)
        self.head_only = head_only
        self.current: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.done = False

    def on_status(self, status: bytes) -> None:
        self.resp.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self.current.append((name, value))

    def on_headers_complete(self) -> None:
        code = self.parser.get_status_code()
        if 100 <= code < 200 and code != 101:
            self.resp.informational.append(code)
            self.current = []
            self.resp.reason = b""
            return
        self.resp.status = code
        self.resp.headers = self.current
        if code == 101 or self.head_only:
            self.done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.resp.status is not None:
            self.resp.complete = True
            self.done = True


async def read_response(
    reader: asyncio.StreamReader, head_only: bool = False, timeout: float = 30.0
) -> RawResponse:
    """Read one response from a stream (until complete, or the connection closes)."""
    rr = _ResponseReader(head_only)
    start = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            while not rr.done:
                data = await reader.read(65536)
                if not data:
                    rr.resp.closed = True
                    break
                try:
                    rr.parser.feed_data(data)
                except httptools.HttpParserUpgrade:
                    rr.done = True
    except (ConnectionError, OSError):
        rr.resp.closed = True
    rr.resp.body = b"".join(rr.body)
    rr.resp.elapsed = time.monotonic() - start
    return rr.resp


async def http_request(
    port: int,
    method: str = "GET",
    path: str = "/",
    host: str | None = "demo.localhost",
    headers: list[tuple[str, str]] | None = None,
    body: bytes | None = None,
    version: str = "HTTP/1.1",
    timeout: float = 30.0,
) -> RawResponse:
    """One request on a fresh connection; the connection is closed afterwards."""
    lines = [f"{method} {path} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    for name, value in headers or []:
        lines.append(f"{name}: {value}")
    if body is not None and not any(
        n.lower() in ("content-length", "transfer-encoding") for n, _ in headers or []
    ):
        lines.append(f"Content-Length: {len(body)}")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
    start = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        resp = await read_response(reader, head_only=method == "HEAD", timeout=timeout)
    finally:
        writer.close()
    resp.elapsed = time.monotonic() - start
    return resp


async def until(condition: Callable[[], bool], timeout: float = 10.0, step: float = 0.01) -> None:
    """Wait until `condition()` holds (a test's sync point on the router's state, in place of a
    sleep that guesses how long the router needs)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(step)


async def http_get(port: int, path: str = "/", host: str = "demo.localhost", **kw: Any) -> RawResponse:
    return await http_request(port, "GET", path, host, **kw)


class RouterHarness:
    """A Router on a free loopback port with its log lines and records captured."""

    def __init__(
        self,
        settings: Settings | None = None,
        log: Callable[[str, str], None] | None = None,
        **router_kw: Any,
    ) -> None:
        self.settings = settings or Settings()
        self.table = RouteTable()
        self.lines: list[tuple[str, str]] = []
        self.records: list[RequestRecord] = []
        self._changed: asyncio.Event | None = None
        self._also_log = log  # a log function of the test's own, called after the line is kept
        self.router = Router(
            self.table, self.settings, log=self._log, on_request=self.records.append, **router_kw
        )
        self.port = 0

    def _log(self, app: str, text: str) -> None:
        self.lines.append((app, text))
        if self._changed is not None:
            self._changed.set()
        if self._also_log is not None:
            self._also_log(app, text)

    async def start(self) -> int:
        self._changed = asyncio.Event()
        self.port = await self.router.start("127.0.0.1", 0)
        return self.port

    async def stop(self) -> None:
        await self.router.stop()

    async def __aenter__(self) -> RouterHarness:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def add_app(self, name: str = "demo", backends: list[Backend] | None = None, **kw: Any) -> AppRoute:
        backends = list(backends or [])
        kw.setdefault("released", True)
        kw.setdefault("web_quantity", max(1, len(backends)))
        route = AppRoute(name, backends=backends, **kw)
        self.table.update(route)
        return route

    def app_lines(self, app: str) -> list[dict[str, str]]:
        return [parse_line(text) for a, text in self.lines if a == app]

    def metric(self, name: str) -> Any:
        """One of the router-wide figures (`Router.metrics()["router"]`)."""
        return self.router.metrics()["router"][name]

    async def wait_line(self, app: str, count: int = 1, timeout: float = 10.0) -> dict[str, str]:
        """The `count`-th log line for `app` (waiting for it), parsed."""
        assert self._changed is not None
        async with asyncio.timeout(timeout):
            while True:
                lines = self.app_lines(app)
                if len(lines) >= count:
                    return lines[count - 1]
                self._changed.clear()
                await self._changed.wait()
