"""How the router reaches a dyno: the seam where faults go.

The router never calls `loop.create_connection` itself; it asks its `Connector` for a
transport to a `Backend`. The default `TcpConnector` opens a plain loopback TCP connection.
A fault layer (toxiproxy-style: latency, timeout, reset_peer, slow_close, bandwidth,
limit_data) wraps or replaces it per backend — e.g. by connecting through a local proxy
port, or by wrapping the protocol it is given — without the router changing. Whatever the
connector does, the router's detection (timers, EOF/RST, parse errors) decides the H-code.

Errors: the connector raises `ConnectionRefusedError` (→ H21) or any other `OSError`
(treated as refused); a connect that does not finish is cancelled by the router's connect
timer (→ H19).
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from collections.abc import Callable
from typing import Protocol

from router.table import Backend

ProtocolFactory = Callable[[], asyncio.Protocol]


class Connector(Protocol):
    async def connect(
        self, backend: Backend, factory: ProtocolFactory
    ) -> tuple[asyncio.BaseTransport, asyncio.Protocol]: ...


class TcpConnector:
    """A new TCP connection per call, Nagle off (the router writes whole heads).

    The connect itself is a non-blocking `connect()` plus one writability wait: on loopback
    that is about twice as fast as `loop.sock_connect`, which re-resolves the address.
    """

    async def connect(
        self, backend: Backend, factory: ProtocolFactory
    ) -> tuple[asyncio.BaseTransport, asyncio.Protocol]:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            err = sock.connect_ex((backend.host, backend.port))
            if err == errno.EINPROGRESS:
                fd = sock.fileno()
                ready: asyncio.Future[None] = loop.create_future()
                loop.add_writer(fd, _set_done, ready)
                try:
                    await ready
                finally:
                    loop.remove_writer(fd)
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, os.strerror(err))  # ECONNREFUSED → ConnectionRefusedError
            return await loop.create_connection(factory, sock=sock)
        except BaseException:
            sock.close()
            raise


def _set_done(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
