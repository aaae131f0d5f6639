"""The seam: the router connects to dynos through this, and faulted dynos get a relay.

For a dyno with faults (rolled per connection by the registry), the connector connects to the
dyno for real first (a refused connect stays a refused connect: H21), then gives the router one
end of a loopback TCP pair and relays the other end to the dyno through the toxics. Past
`MAX_FAULTED_CONNECTIONS` open relays, new connections skip their faults (counted as bypassed).
"""

from __future__ import annotations

import asyncio
import socket

from router.connector import Connector, ProtocolFactory
from router.faults.registry import FaultRegistry
from router.faults.relay import FaultedConnection, loopback_pair
from router.table import Backend

MAX_FAULTED_CONNECTIONS = 1024


class FaultConnector:
    """A Connector that passes the connections of faulted dynos through their faults."""

    def __init__(self, inner: Connector, registry: FaultRegistry) -> None:
        self.inner = inner
        self.registry = registry

    async def connect(
        self, app: str, backend: Backend, factory: ProtocolFactory
    ) -> tuple[asyncio.BaseTransport, asyncio.Protocol]:
        registry = self.registry
        faults = registry.pick(app, backend.dyno) if registry else []
        if not faults:
            return await self.inner.connect(app, backend, factory)
        if registry.active >= MAX_FAULTED_CONNECTIONS:
            registry.bypassed += 1
            return await self.inner.connect(app, backend, factory)
        loop = asyncio.get_running_loop()
        dyno = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            dyno.setblocking(False)
            dyno.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await loop.sock_connect(dyno, (backend.host, backend.port))  # refused stays refused (H21)
            router_end, relay_end = await loopback_pair(loop)
        except BaseException:
            dyno.close()
            raise
        try:
            transport, protocol = await loop.create_connection(factory, sock=router_end)
        except BaseException:
            for s in (router_end, relay_end, dyno):
                s.close()
            raise
        FaultedConnection(registry, relay_end, dyno, faults).start()
        return transport, protocol
