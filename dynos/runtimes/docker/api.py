"""The engine calls made straight from the event loop: kill, resize, inspect, the stats stream
of one container and the events stream of this daemon's containers.

Control calls that are rare and slow (create, start, remove, list) go through the docker SDK
on a thread pool instead (`DockerRuntime`); these are the ones made often or held open, so no
thread is parked for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from dynos.runtimes.docker.engine import Engine, EngineError, engine_error

log = logging.getLogger(__name__)

EVENTS_RETRY = 1.0  # reconnect delay when the events stream breaks (engine restart)


def memory_from_stats(stats: dict[str, Any]) -> int:
    """usage minus inactive page cache, as `docker stats` shows it (cgroup v1 and v2)."""
    mem = stats.get("memory_stats") or {}
    usage = int(mem.get("usage") or 0)
    detail = mem.get("stats") or {}
    inactive = detail.get("total_inactive_file", detail.get("inactive_file", 0))
    return max(0, usage - int(inactive or 0))


def peak_from_stats(stats: dict[str, Any]) -> int:
    return int((stats.get("memory_stats") or {}).get("max_usage") or 0)


class EngineApi:
    """Async calls to one engine, versioned like the SDK negotiated."""

    def __init__(self, engine: Engine, api_version: str):
        self.engine = engine
        self.api_version = api_version
        self.http = engine.async_client()

    def path(self, path: str) -> str:
        return f"/v{self.api_version}{path}"

    async def close(self) -> None:
        await self.http.aclose()

    async def kill(self, container_id: str, sig: int) -> None:
        with contextlib.suppress(httpx.HTTPError):
            await self.http.post(
                self.path(f"/containers/{container_id}/kill"), params={"signal": str(int(sig))}
            )

    async def resize(self, container_id: str, rows: int, cols: int) -> None:
        with contextlib.suppress(httpx.HTTPError):
            await self.http.post(
                self.path(f"/containers/{container_id}/resize"), params={"h": rows, "w": cols}
            )

    async def inspect(self, container_id: str) -> dict[str, Any] | None:
        """The container's full description, None when it is gone or the engine fails."""
        try:
            response = await self.http.get(self.path(f"/containers/{container_id}/json"))
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        found: dict[str, Any] = response.json()
        return found

    async def inspect_state(self, container_id: str) -> dict[str, Any] | None:
        found = await self.inspect(container_id)
        if found is None:
            return None
        state: dict[str, Any] = found.get("State") or {}
        return state

    async def follow_stats(self, container_id: str, sample: Callable[[int, int], None]) -> None:
        """Follow a container's stats stream (one JSON document a second): `sample(memory, peak)`."""
        with contextlib.suppress(httpx.HTTPError, asyncio.CancelledError):
            async with self.http.stream(
                "GET", self.path(f"/containers/{container_id}/stats"), params={"stream": "1"}
            ) as r:
                if r.status_code != 200:
                    return
                async for line in r.aiter_lines():
                    if not line.strip():
                        continue
                    try:
                        stats = json.loads(line)
                        memory, peak = memory_from_stats(stats), peak_from_stats(stats)
                    except (ValueError, TypeError, AttributeError):
                        continue
                    sample(memory, peak)


class EventsFollower:
    """One filtered stream of the engine's events, reconnecting after an outage (then
    `recheck()` catches whatever happened meanwhile)."""

    def __init__(
        self,
        api: EngineApi,
        filters: dict[str, list[str]],
        dispatch: Callable[[dict[str, Any]], None],
        recheck: Callable[[], Any],
    ):
        self.api = api
        self.filters = json.dumps(filters)
        self.dispatch = dispatch
        self.recheck = recheck
        self.ready = asyncio.Event()  # set while the stream is connected
        self.closing = False
        self.since: float | None = None

    async def run(self) -> None:
        while not self.closing:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # engine restarted or the socket broke: reconnect
                if self.ready.is_set() or self.since is None:  # say it once per outage
                    log.warning("docker events stream ended, reconnecting: %s", engine_error(exc))
                self.ready.clear()
            if self.since is None:
                self.since = time.time()
            await asyncio.sleep(EVENTS_RETRY)

    async def _follow(self) -> None:
        params = {"filters": self.filters}
        if self.since is not None:
            params["since"] = f"{self.since:.9f}"
        async with self.api.http.stream("GET", self.api.path("/events"), params=params) as response:
            if response.status_code != 200:
                raise EngineError(f"events: HTTP {response.status_code}")
            self.ready.set()
            if self.since is not None:  # we were away: whatever died meanwhile
                await self.recheck()
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                event = json.loads(line)
                self.since = int(event.get("timeNano") or time.time_ns()) / 1e9
                self.dispatch(event)
