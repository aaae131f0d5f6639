"""The router's TLS port: HTTPS and HTTP/2 for the apps of the same Router.

    listener = await start_tls(router, certs, "127.0.0.1", settings.router_tls_port)
    ...
    await listener.stop()          # before router.stop()

TLS is terminated here (SNI picks the certificate: router.certstore); after the handshake the
connection becomes the same `ClientConnection` the plain port uses (ALPN `http/1.1`, or no
ALPN) or an `H2Connection` (ALPN `h2`: router.h2) whose streams each run through that same
chain. Either way requests reach dynos as HTTP/1.1 with `X-Forwarded-Proto: https` and
`X-Forwarded-Port: <this port>`, and log `protocol=https` (Router 2.0: `protocol=http1.1
tls=true tls_version=tls1.3`, HTTP/2: `protocol=http2.0 …`). Nothing here reaches the CA.
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Any, cast

from router.certstore import CertStore
from router.client import ClientConnection
from router.h2 import H2Connection, StreamCounts

if TYPE_CHECKING:
    from router.server import Router

HANDSHAKE_TIMEOUT = 10.0  # a client that never finishes its handshake holds nothing longer
MAX_CONCURRENT_STREAMS = 100  # per HTTP/2 connection (h2's default; Go's server allows 250)


def tls_version_name(version: str | None) -> str:
    """`TLSv1.3` → `tls1.3`, as Router 2.0's `tls_version=` field spells it."""
    if not version:
        return "unknown"
    return version.lower().replace("tlsv", "tls")


class TlsListener:
    def __init__(self, router: Router, certs: CertStore, max_streams: int = MAX_CONCURRENT_STREAMS) -> None:
        self.router = router
        self.certs = certs
        self.max_streams = max_streams
        self.port = 0
        self.port_bytes = b"0"
        self._server: Any = None
        self._h2: set[H2Connection] = set()
        self.connections_total = 0
        self.h2_connections_total = 0
        self.h2_streams = StreamCounts()  # summed over every HTTP/2 connection, open or gone

    async def start(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        sock: socket.socket | None = None,
        reuse_port: bool = False,
    ) -> int:
        loop = asyncio.get_running_loop()
        ctx = self.certs.default_context
        if sock is not None:
            self._server = await loop.create_server(
                self._handshake, sock=sock, ssl=ctx, backlog=2048, ssl_handshake_timeout=HANDSHAKE_TIMEOUT
            )
        else:
            self._server = await loop.create_server(
                self._handshake, host, port, ssl=ctx, backlog=2048,
                ssl_handshake_timeout=HANDSHAKE_TIMEOUT, reuse_port=reuse_port or None,
            )  # fmt: skip
        self.port = self._server.sockets[0].getsockname()[1]
        self.port_bytes = b"%d" % self.port
        return self.port

    def close(self) -> None:
        """Stop taking connections (the open ones go on)."""
        if self._server is not None:
            self._server.close()

    async def stop(self) -> None:
        server = self._server
        self._server = None
        if server is not None:
            server.close()
        for conn in list(self._h2):
            conn.abort()
        self._h2.clear()
        if server is not None:
            await server.wait_closed()

    def _handshake(self) -> _Handshake:
        return _Handshake(self)

    def opened(self, transport: asyncio.Transport) -> asyncio.Protocol:
        """The handshake is done: the protocol that serves this connection from now on."""
        self.connections_total += 1
        sslobj = transport.get_extra_info("ssl_object")
        version = tls_version_name(sslobj.version() if sslobj is not None else None)
        alpn = sslobj.selected_alpn_protocol() if sslobj is not None else None
        if alpn == "h2":
            self.h2_connections_total += 1
            h2conn = H2Connection(
                self.router, self.port_bytes, version, self.max_streams, self._h2.discard, self.h2_streams
            )
            self._h2.add(h2conn)
            return h2conn
        client = ClientConnection(self.router)
        client.proto = b"https"
        client.port_bytes = self.port_bytes
        client.tls_version = version
        return client

    def metrics(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "connections_total": self.connections_total,
            "h2_connections_total": self.h2_connections_total,
            "h2_connections_open": len(self._h2),
            "h2_streams_total": self.h2_streams.total,
            "h2_streams_malformed": self.h2_streams.malformed,
            "h2_streams_refused": self.h2_streams.refused,
            "certificates": len(self.certs.hostnames()),
            "unknown_sni_names": self.certs.unknown_names,
        }


class _Handshake(asyncio.Protocol):
    """Only until the handshake is done (asyncio calls connection_made after it): then the
    connection is handed to its real protocol, which gets every byte from the first one."""

    def __init__(self, listener: TlsListener) -> None:
        self.listener = listener

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: the interface is what counts
        protocol = self.listener.opened(cast(asyncio.Transport, transport))
        transport.set_protocol(protocol)
        protocol.connection_made(transport)


async def start_tls(
    router: Router,
    certs: CertStore,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    sock: socket.socket | None = None,
    reuse_port: bool = False,
) -> TlsListener:
    """Listen for HTTPS and HTTP/2 beside `router`'s plain port (call after `router.start`)."""
    listener = TlsListener(router, certs)
    await listener.start(host, port, sock=sock, reuse_port=reuse_port)
    return listener
