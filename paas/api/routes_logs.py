"""Log sessions (Heroku's `logplex_url`), the streaming log endpoints, and release output.

`POST /apps/{app}/log-sessions` answers Heroku's LogSession: its `logplex_url` carries a
short-lived grant of its own (`paas.api.streams`), so a client reads it without the API key,
as the official CLI does (an EventSource: Server-Sent Events, one `data:` event per line).
`GET /apps/{app}/log-stream` is the same stream as plain text lines for bearer-token clients.
A release's `output_stream_url` (release phase output) is signed the same way.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel

from common.errors import PaasError, invalid, not_found
from paas.api.deps import Services, Svc
from paas.api.streams import LogGrant, new_log_grant, release_output_ok, release_output_signature

router = APIRouter()

MAX_LINES = 1500
SSE_KEEPALIVE = 15.0  # seconds between comment lines on a quiet tail (proxies drop idle streams)


class LogSessionCreate(BaseModel):
    dyno: str | None = None
    dyno_name: str | None = None
    source: str | None = None
    lines: int | None = None
    tail: bool | None = None
    type: str | None = None  # Fir's name for a process type filter; same as dyno here


def _check(source: str | None, lines: int) -> None:
    if source not in (None, "", "app", "heroku"):
        raise invalid("source must be app or heroku.")
    if not 0 <= lines <= MAX_LINES:
        raise invalid(f"lines must be between 0 and {MAX_LINES}.")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@router.post("/apps/{app}/log-sessions", status_code=201)
async def create_log_session(svc: Svc, app: str, body: LogSessionCreate) -> dict[str, Any]:
    name = svc.control.get_app(app).name
    lines = body.lines if body.lines is not None else 100
    _check(body.source, lines)
    dyno = body.dyno_name or body.dyno or body.type or None
    grant = new_log_grant(name, lines, bool(body.tail), body.source or None, dyno)
    now = _now()
    return {
        "id": str(uuid.uuid4()),
        "logplex_url": f"{svc.api_url}/streams/logs/{grant.seal(svc.token)}",
        "created_at": now,
        "updated_at": now,
    }


@router.get("/streams/logs/{sealed}")
async def log_session_stream(svc: Svc, sealed: str) -> StreamingResponse:
    """What a log session's URL shows, as Server-Sent Events; 404 once its grant has expired
    (the CLI then says the log stream timed out), or when the app is gone."""
    grant = LogGrant.open(svc.token, sealed)
    if grant is None:
        raise not_found("log session")
    svc.control.get_app(grant.app)
    lines = svc.logs.tail(grant.app, grant.source, grant.dyno, grant.lines, follow=grant.tail)
    return StreamingResponse(
        _events(lines), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


async def _events(lines: AsyncIterator[str]) -> AsyncIterator[bytes]:
    """One SSE event per log line; a comment line keeps a quiet tail open."""
    iterator = aiter(lines)
    pending: asyncio.Task[str] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            done, _ = await asyncio.wait({pending}, timeout=SSE_KEEPALIVE)
            if not done:
                yield b": keep-alive\n\n"
                continue
            try:
                line = pending.result()
            except StopAsyncIteration:
                return
            finally:
                pending = None
            yield f"data: {line}\n\n".encode()
    finally:
        if pending is not None:
            pending.cancel()


@router.get("/apps/{app}/log-stream")
async def log_stream(
    svc: Svc,
    app: str,
    lines: int = 100,
    tail: bool = False,
    source: str | None = None,
    dyno: str | None = None,
) -> StreamingResponse:
    svc.control.get_app(app)
    _check(source, lines)

    async def stream() -> AsyncIterator[bytes]:
        async for line in svc.logs.tail(app, source or None, dyno or None, lines, follow=tail):
            yield (line + "\n").encode()

    return StreamingResponse(stream(), media_type="text/plain; charset=utf-8")


def release_output_url(svc: Services, app_id: str, release_id: str) -> str:
    signature = release_output_signature(svc.token, app_id, release_id)
    return f"{svc.api_url}/streams/releases/{app_id}/{release_id}/{signature}"


@router.get("/streams/releases/{app_id}/{release_id}/{signature}")
async def release_output(svc: Svc, app_id: str, release_id: str, signature: str) -> PlainTextResponse:
    """A release's release-phase output (what `heroku releases:output` prints)."""
    if not release_output_ok(svc.token, app_id, release_id, signature):
        raise not_found("release output")
    try:
        release = svc.control.get_release(app_id, release_id)
    except PaasError:
        raise not_found("release output") from None
    text = release.output
    return PlainTextResponse(text if not text or text.endswith("\n") else text + "\n")
