"""Log sessions (Heroku's logplex_url) and the streaming log endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from common.errors import invalid
from paas.api.deps import Svc

router = APIRouter()

MAX_LINES = 1500


class LogSessionCreate(BaseModel):
    dyno: str | None = None
    dyno_name: str | None = None
    source: str | None = None
    lines: int | None = None
    tail: bool | None = None


def _check(source: str | None, lines: int) -> None:
    if source not in (None, "", "app", "heroku"):
        raise invalid("source must be app or heroku.")
    if not 0 <= lines <= MAX_LINES:
        raise invalid(f"lines must be between 0 and {MAX_LINES}.")


@router.post("/apps/{app}/log-sessions", status_code=201)
async def create_log_session(svc: Svc, app: str, body: LogSessionCreate) -> dict[str, Any]:
    svc.control.get_app(app)
    lines = body.lines if body.lines is not None else 100
    _check(body.source, lines)
    query = {"lines": lines, "tail": "true" if body.tail else "false"}
    dyno = body.dyno_name or body.dyno
    if dyno:
        query["dyno"] = dyno
    if body.source:
        query["source"] = body.source
    url = f"{svc.api_url}/apps/{app}/log-stream?{urlencode(query)}"
    return {"id": app, "logplex_url": url}


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
