"""Answer a change only once every router process applied it.

The router runs in processes of its own (router.fleet): a change the API makes (maintenance,
domains, an app destroyed, a fault added) reaches them as a message. Before the answer to any
request that may change something goes out, this waits (at most `WAIT` seconds) until every
router process acknowledged every change sent so far, so a client that turns maintenance on and
then asks the router gets H80, as it did when the router lived in the daemon's loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

WAIT = 1.0
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


class RouterSync:
    def __init__(self, app: ASGIApp, synced: Callable[[float], Awaitable[bool]]) -> None:
        self.app = app
        self.synced = synced

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _READS:
            await self.app(scope, receive, send)
            return

        async def send_after_sync(message: Message) -> None:
            if message["type"] == "http.response.start":
                await self.synced(WAIT)
            await send(message)

        await self.app(scope, receive, send_after_sync)
