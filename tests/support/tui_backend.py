"""A backend that answers from fixed data: for snapshot tests and layout work, never for the product.

`StaticBackend(routes, events)` answers `request()` from a dict keyed by "METHOD /path" (a
missing GET path is a 404 "not available"), and its event stream yields `events` once, then
stays open and quiet - a daemon with nothing happening.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from tui.client import ApiError, NotAvailable


class StaticBackend:
    def __init__(
        self, routes: dict[str, Any], events: list[dict[str, Any]] | None = None, label: str = "demo"
    ):
        self.routes = routes
        self.events_once = events or []
        self.label = label
        self.calls: list[tuple[str, str, Any]] = []

    async def request(
        self, method: str, path: str, json_body: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        self.calls.append((method, path, json_body))
        key = f"{method} {path}"
        if key in self.routes:
            value = self.routes[key]
            if isinstance(value, ApiError):
                raise value
            return value
        if method == "GET":
            raise NotAvailable(404, "not available in this daemon", "not_available")
        return {}

    async def events(self, kinds: tuple[str, ...]) -> AsyncIterator[list[dict[str, Any]]]:
        yield [{"kind": "hello", "status": {}}, *self.events_once]
        while True:
            await asyncio.sleep(3600)
            yield []

    async def close(self) -> None:
        return None
