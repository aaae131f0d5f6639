"""router/faults.py on real loopback sockets: each toxic does to the byte stream what it says."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvloop

from router.connector import TcpConnector
from router.faults import FaultConnector, FaultError, FaultRegistry, make_fault
from router.table import Backend

LOOPS = pytest.mark.parametrize("loop", ["asyncio", "uvloop"])  # the daemon runs uvloop


def run(loop: str, coro: Coroutine[Any, Any, None]) -> None:
    (uvloop.run if loop == "uvloop" else asyncio.run)(coro)


RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000


class Collector(asyncio.Protocol):
    """What the router's protocol would see: bytes, EOF, and how the connection ended."""

    def __init__(self) -> None:
        self.data = b""
        self.first_byte_at: float | None = None
        self.lost: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport

    def data_received(self, data: bytes) -> None:
        if self.first_byte_at is None:
            self.first_byte_at = time.monotonic()
        self.data += data

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)


@asynccontextmanager
async def dyno_server() -> AsyncIterator[Backend]:
    """A dyno that reads one request head and answers RESPONSE, keeping the connection open."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(RESPONSE)
            await writer.drain()
            await reader.read()  # until the router side closes
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield Backend("web.1", "127.0.0.1", port)
    server.close()


@asynccontextmanager
async def closing_dyno_server() -> AsyncIterator[Backend]:
    """A dyno whose response is delimited by closing the connection (no Content-Length)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\n\r\nbody until close")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield Backend("web.1", "127.0.0.1", server.sockets[0].getsockname()[1])
    server.close()


def connector(registry: FaultRegistry) -> FaultConnector:
    return FaultConnector(TcpConnector(), registry)


async def exchange(
    registry: FaultRegistry, backend: Backend, wait: float = 3.0
) -> tuple[Collector, float, BaseException | str | None]:
    """Connect through the faults, send a request, return what came back and when it ended."""
    started = time.monotonic()
    _t, proto = await connector(registry).connect("demo", backend, Collector)
    assert isinstance(proto, Collector) and proto.transport is not None
    proto.transport.write(b"GET / HTTP/1.1\r\nHost: demo\r\n\r\n")
    try:
        end: BaseException | str | None = await asyncio.wait_for(asyncio.shield(proto.lost), wait)
    except TimeoutError:
        end = "still open"
        proto.transport.close()
    return proto, started, end


async def read_response(registry: FaultRegistry, backend: Backend) -> tuple[Collector, float]:
    started = time.monotonic()
    _t, proto = await connector(registry).connect("demo", backend, Collector)
    assert isinstance(proto, Collector) and proto.transport is not None
    proto.transport.write(b"GET / HTTP/1.1\r\nHost: demo\r\n\r\n")
    for _ in range(300):
        if len(proto.data) >= len(RESPONSE):
            break
        await asyncio.sleep(0.01)
    proto.transport.close()
    return proto, started


@LOOPS
def test_no_faults_uses_the_plain_connector(loop: str) -> None:
    async def main() -> None:
        async with dyno_server() as dyno:
            registry = FaultRegistry()
            transport, _proto = await connector(registry).connect("demo", dyno, Collector)
            assert transport.get_extra_info("peername")[1] == dyno.port  # straight to the dyno
            transport.close()
            assert registry.stats()["connections"] == 0

    run(loop, main())


@LOOPS
def test_latency_delays_the_first_byte(loop: str) -> None:
    async def main() -> None:
        async with dyno_server() as dyno:
            registry = FaultRegistry()
            registry.add("demo", "web.1", make_fault("latency", {"latency": 300}))
            proto, started = await read_response(registry, dyno)
            assert proto.data == RESPONSE
            assert proto.first_byte_at is not None
            assert 0.28 <= proto.first_byte_at - started < 1.5
            assert registry.entries("demo")[0].connections == 1

    run(loop, main())


@LOOPS
def test_latency_is_per_chunk_not_summed(loop: str) -> None:
    async def main() -> None:
        async with dyno_server() as dyno:
            registry = FaultRegistry()
            registry.add(
                "demo", "web", make_fault("latency", {"latency": 200, "jitter": 50})
            )  # a process type
            proto, started = await read_response(registry, dyno)
            assert proto.data == RESPONSE
            assert time.monotonic() - started < 1.0

    run(loop, main())


@LOOPS
def test_timeout_zero_holds_forever(loop: str) -> None:
    async def main() -> None:
        async with dyno_server() as dyno:
            registry = FaultRegistry()
            registry.add("demo", "web.1", make_fault("timeout", {"timeout": 0}))
            proto, _started, end = await exchange(registry, dyno, wait=0.6)
            assert end == "still open" and proto.data == b""

    run(loop, main())


@LOOPS
def test_timeout_closes_without_a_byte(loop: str) -> None:
    async def main() -> None:
        async with dyno_server() as dyno:
            registry = FaultRegistry()
            registry.add("demo", "web.1", make_fault("timeout", {"timeout": 250}))
            proto, started, end = await exchange(registry, dyno)
            assert end is None and proto.data == b""  # a clean close (FIN) with nothing written
            assert 0.23 <= time.monotonic() - started < 1.5

    run(loop, main())


@LOOPS
def test_reset_peer_sends_rst(loop: str) -> None:
    async def main() -> None:
        async with dyno_server() as dyno:
            registry = FaultRegistry()
            registry.add("demo", "web.1", make_fault("reset_peer", {"timeout": 0}, name="rst"))
            _proto, _started, end = await exchange(registry, dyno)
            assert isinstance(end, ConnectionResetError)

    run(loop, main())


@LOOPS
def test_reset_peer_after_a_delay_lets_data_through_first(loop: str) -> None:
    async def main() -> None:
        async with dyno_server() as dyno:
            registry = FaultRegistry()
            registry.add("demo", "web.1", make_fault("reset_peer", {"timeout": 300}))
            proto, started, end = await exchange(registry, dyno)
            assert isinstance(end, ConnectionResetError)
            assert proto.data == RESPONSE
            assert time.monotonic() - started >= 0.28

    run(loop, main())


@LOOPS
def test_limit_data_cuts_after_n_bytes(loop: str) -> None:
    async def main() -> None:
        async with dyno_server() as dyno:
            registry = FaultRegistry()
            registry.add("demo", "web.1", make_fault("limit_data", {"bytes": 100}))
            proto, _started, end = await exchange(registry, dyno)
            assert end is None and proto.data == RESPONSE[:100]

    run(loop, main())


@LOOPS
def test_limit_data_zero_closes_at_once(loop: str) -> None:
    async def main() -> None:
        async with dyno_server() as dyno:
            registry = FaultRegistry()
            registry.add("demo", "web.1", make_fault("limit_data", {"bytes": 0}))
            proto, _started, end = await exchange(registry, dyno)
            assert end is None and proto.data == b""

    run(loop, main())


@LOOPS
def test_bandwidth_limits_throughput(loop: str) -> None:
    async def main() -> None:
        async with dyno_server() as dyno:
            registry = FaultRegistry()
            registry.add("demo", "web.1", make_fault("bandwidth", {"rate": 10}))  # 10 KB/s, 5 KB response
            proto, started = await read_response(registry, dyno)
            assert proto.data == RESPONSE
            assert time.monotonic() - started >= 0.45

    run(loop, main())


@LOOPS
def test_slow_close_delays_the_close(loop: str) -> None:
    async def main() -> None:
        async with closing_dyno_server() as closing_dyno:
            registry = FaultRegistry()
            registry.add("demo", "web.1", make_fault("slow_close", {"delay": 400}))
            proto, started, end = await exchange(registry, closing_dyno)
            assert end is None and proto.data.endswith(b"body until close")
            assert proto.first_byte_at is not None and proto.first_byte_at - started < 0.3
            assert time.monotonic() - started >= 0.38

    run(loop, main())


@LOOPS
def test_upstream_latency_delays_the_request(loop: str) -> None:
    async def main() -> None:
        async with dyno_server() as dyno:
            registry = FaultRegistry()
            registry.add("demo", "web.1", make_fault("latency", {"latency": 300}, stream="upstream"))
            proto, started = await read_response(registry, dyno)
            assert proto.first_byte_at is not None and proto.first_byte_at - started >= 0.28

    run(loop, main())


@LOOPS
def test_toxicity_zero_never_applies(loop: str) -> None:
    async def main() -> None:
        async with dyno_server() as dyno:
            registry = FaultRegistry()
            registry.add("demo", "web.1", make_fault("reset_peer", {}, toxicity=0.0))
            proto, _started = await read_response(registry, dyno)
            assert proto.data == RESPONSE
            assert registry.stats()["connections"] == 0

    run(loop, main())


@LOOPS
def test_other_dynos_and_apps_are_untouched(loop: str) -> None:
    async def main() -> None:
        async with dyno_server() as dyno:
            registry = FaultRegistry()
            registry.add("demo", "web.2", make_fault("reset_peer", {}))
            registry.add("other", "web.1", make_fault("reset_peer", {}))
            proto, _started = await read_response(registry, dyno)
            assert proto.data == RESPONSE

    run(loop, main())


@LOOPS
def test_refused_stays_refused(loop: str) -> None:
    async def main() -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        registry = FaultRegistry()
        registry.add("demo", "web.1", make_fault("latency", {"latency": 10}))
        with pytest.raises(ConnectionRefusedError):
            await connector(registry).connect("demo", Backend("web.1", "127.0.0.1", port), Collector)
        assert registry.stats()["active"] == 0

    run(loop, main())


@LOOPS
def test_connections_are_released(loop: str) -> None:
    async def main() -> None:
        async with dyno_server() as dyno:
            registry = FaultRegistry()
            registry.add("demo", "web.1", make_fault("latency", {"latency": 1}))
            for _ in range(5):
                await read_response(registry, dyno)
            for _ in range(100):
                if registry.stats()["active"] == 0:
                    break
                await asyncio.sleep(0.01)
            assert registry.stats() == {"faults": 1, "connections": 5, "active": 0, "bypassed": 0}

    run(loop, main())


def test_make_fault_validates_input() -> None:
    with pytest.raises(FaultError, match="unknown fault type 'lag'"):
        make_fault("lag")
    with pytest.raises(FaultError, match="latency has no attribute 'rate'"):
        make_fault("latency", {"rate": 1})
    with pytest.raises(FaultError, match="must be a whole number"):
        make_fault("latency", {"latency": "soon"})
    with pytest.raises(FaultError, match="between 0 and"):
        make_fault("bandwidth", {"rate": -1})
    with pytest.raises(FaultError, match="toxicity must be between 0 and 1"):
        make_fault("latency", toxicity=2)
    with pytest.raises(FaultError, match="stream must be"):
        make_fault("latency", stream="sideways")
    with pytest.raises(FaultError, match="fault name"):
        make_fault("latency", name="no spaces")
    fault = make_fault("latency", {"latency": "500", "jitter": 20})
    assert fault.to_json() == {
        "name": "latency",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": 500, "jitter": 20},
    }
    assert fault.describe() == "latency latency=500 jitter=20 (downstream)"


def test_registry_add_remove_clear() -> None:
    registry = FaultRegistry()
    assert not registry
    registry.add("demo", "web.1", make_fault("latency", {"latency": 5}))
    with pytest.raises(FaultError, match="already has a fault named latency"):
        registry.add("demo", "web.1", make_fault("latency", {"latency": 9}))
    registry.add("demo", "web.1", make_fault("latency", {"latency": 9}, name="more"))
    registry.add("demo", "web.2", make_fault("timeout"))
    assert [e.fault.name for e in registry.entries("demo")] == ["latency", "more", "timeout"]
    registry.remove("demo", "web.1", "more")
    with pytest.raises(KeyError):
        registry.remove("demo", "web.1", "more")
    assert registry.clear("demo", "web.2") == 1
    assert registry.clear("demo") == 1
    assert not registry and registry.entries() == []
