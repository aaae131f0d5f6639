"""The TUI's only way to the daemon: its HTTP API and its `/events` push stream.

`HttpBackend` finds the daemon like the CLI does (PAAS_API_URL, else PAAS_HOME/daemon.json)
and finds it *again* after a disconnect, because a restarted daemon may listen elsewhere.
`EventPump` keeps one `/events` connection open, hands parsed events over in chunks (one per
network read, so the UI loop is never held for long) and reconnects with back-off by itself.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import httpx

# What the TUI listens to. router.request is left out on purpose: every routed request is
# also a `heroku[router]` log line, and one event per request halves the stream's cost.
EVENT_KINDS = (
    "log.line", "dyno.*", "formation.*", "release.*", "app.*", "config.*", "addon.*", "build.*", "autoscale.*",
)  # fmt: skip

READ_TIMEOUT = 45.0  # the daemon pings every 15 s; three missed pings = a dead connection
BACKOFF_FIRST = 0.25
BACKOFF_MAX = 3.0


class ApiError(Exception):
    def __init__(self, status: int, message: str, id: str = "error"):
        super().__init__(message)
        self.status = status
        self.message = message
        self.id = id


class DaemonUnreachable(ApiError):
    def __init__(self, message: str):
        super().__init__(0, message, "unreachable")


class NotAvailable(ApiError):
    """The daemon has no such endpoint (a part not built into it yet)."""


class Backend(Protocol):
    label: str

    async def request(
        self, method: str, path: str, json_body: Any = None, params: dict[str, Any] | None = None
    ) -> Any: ...

    def events(self, kinds: tuple[str, ...]) -> AsyncIterator[list[dict[str, Any]]]: ...

    async def close(self) -> None: ...


def locate_daemon(home: Path | None = None) -> tuple[str, str]:
    """(api url, token), re-read on every call: from `home` if given, else like the CLI does."""
    if home is None:
        from paas.cli.client import CliError, find_daemon

        try:
            return find_daemon()
        except CliError as exc:
            raise DaemonUnreachable(exc.message) from None
    try:
        token = (home / "token").read_text().strip()
        info = json.loads((home / "daemon.json").read_text())
        return str(info["api_url"]).rstrip("/"), token
    except (OSError, ValueError, KeyError):
        raise DaemonUnreachable(f"the paas daemon is not running for PAAS_HOME={home}") from None


class HttpBackend:
    """The real daemon. `url`/`token` pin it; otherwise it is looked up before each connect."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        home: Path | None = None,
        timeout: float = 15.0,
    ):
        self._pinned = (url.rstrip("/"), token or "") if url else None
        self._home = home
        self._timeout = timeout
        self._http: httpx.AsyncClient | None = None
        self._where: tuple[str, str] | None = None
        self.label = url or ""

    def _locate(self) -> tuple[str, str]:
        return self._pinned if self._pinned is not None else locate_daemon(self._home)

    async def _client(self, relocate: bool = False) -> httpx.AsyncClient:
        if self._http is not None and not relocate:
            return self._http
        where = self._locate()
        if self._http is not None and where == self._where:
            return self._http
        if self._http is not None:
            await self._http.aclose()
        url, token = where
        self._where = where
        self.label = url
        self._http = httpx.AsyncClient(
            base_url=url,
            timeout=httpx.Timeout(self._timeout, connect=3.0),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.heroku+json; version=3"},
        )
        return self._http

    async def request(
        self, method: str, path: str, json_body: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        http = await self._client()
        try:
            response = await http.request(method, path, json=json_body, params=params)
        except httpx.TransportError as exc:
            raise DaemonUnreachable(
                f"cannot reach the paas daemon at {self.label} ({exc.__class__.__name__})"
            ) from None
        return _result(response)

    async def events(self, kinds: tuple[str, ...]) -> AsyncIterator[list[dict[str, Any]]]:
        """One connection's worth of events, in chunks; ends (or raises) when it drops."""
        http = await self._client(relocate=True)
        timeout = httpx.Timeout(connect=3.0, read=READ_TIMEOUT, write=5.0, pool=5.0)
        try:
            async with http.stream("GET", "/events", params={"kinds": ",".join(kinds)}, timeout=timeout) as r:
                if r.status_code >= 400:
                    await r.aread()
                    _result(r)
                pending = b""
                async for chunk in r.aiter_bytes():
                    pending += chunk
                    if b"\n" not in pending:
                        continue
                    cut = pending.rfind(b"\n")
                    complete, pending = pending[:cut], pending[cut + 1 :]
                    yield decode_lines(complete)
        except httpx.TransportError as exc:
            raise DaemonUnreachable(f"event stream lost ({exc.__class__.__name__})") from None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


def decode_lines(chunk: bytes) -> list[dict[str, Any]]:
    """Newline-separated JSON objects → list; one json.loads for the whole chunk (several times
    cheaper than one per line), line by line only when something in it is malformed."""
    lines = [raw for raw in chunk.split(b"\n") if raw.strip()]
    if not lines:
        return []
    try:
        batch = json.loads(b"[" + b",".join(lines) + b"]")
        if isinstance(batch, list) and all(isinstance(e, dict) for e in batch):
            return batch
    except ValueError:
        pass
    out = []
    for raw in lines:
        try:
            event = json.loads(raw)
        except ValueError:
            continue
        if isinstance(event, dict):
            out.append(event)
    return out


def _result(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            body = response.json()
            message = str(body.get("message") or body)
            ident = str(body.get("id") or "error")
        except (ValueError, AttributeError):
            message, ident = response.text.strip() or response.reason_phrase, "error"
        if response.status_code == 404 and message == "Couldn't find that resource.":
            raise NotAvailable(404, "not available in this daemon", "not_available")
        raise ApiError(response.status_code, message, ident)
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


class EventPump:
    """Keeps the event stream flowing into `on_events`; reconnects with back-off forever.

    `on_connect` runs after each successful (re)connect - the place to re-read snapshots,
    because events that happened while disconnected are gone. `on_status(text, connected)`
    reports the connection state for the status bar.
    """

    def __init__(
        self,
        backend: Backend,
        on_events: Callable[[list[dict[str, Any]]], None],
        on_connect: Callable[[], Awaitable[None]],
        on_status: Callable[[str, bool], None],
        kinds: tuple[str, ...] = EVENT_KINDS,
    ):
        self.backend = backend
        self.on_events = on_events
        self.on_connect = on_connect
        self.on_status = on_status
        self.kinds = kinds
        self.connects = 0
        self._tasks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    async def run(self) -> None:
        delay = BACKOFF_FIRST
        while True:
            try:
                async for batch in self.backend.events(self.kinds):
                    if batch and batch[0].get("kind") == "hello":
                        self.connects += 1
                        delay = BACKOFF_FIRST
                        self.on_status("connected", True)
                        task = asyncio.get_running_loop().create_task(self._resync())
                        self._tasks.add(task)
                        task.add_done_callback(self._tasks.discard)
                    self.on_events(batch)
                    await asyncio.sleep(0)  # let key presses and repaints in between chunks
                reason = "the daemon closed the event stream"
            except asyncio.CancelledError:
                raise
            except ApiError as exc:
                reason = exc.message
            except Exception as exc:  # a bug or an odd reply must not end the pump
                reason = f"{exc.__class__.__name__}: {exc}"
            self.on_status(f"disconnected: {reason} - retrying in {delay:.2g}s", False)
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    async def _resync(self) -> None:
        try:
            await self.on_connect()
        except ApiError as exc:
            self.on_status(f"connected, but a refresh failed: {exc.message}", True)
