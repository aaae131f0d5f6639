"""Sources (tarball upload), builds and their live output."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from common.errors import not_found
from paas.api.app import daemon_of

router = APIRouter()


class SourceBlob(BaseModel):
    url: str
    version: str | None = None


class BuildCreate(BaseModel):
    source_blob: SourceBlob


@router.post("/apps/{app}/sources", status_code=201)
async def upload_source(request: Request, app: str) -> dict[str, Any]:
    daemon = daemon_of(request)
    daemon.control.get_app(app)
    url = await daemon.builds.receive_source(request.stream())
    return {"source_blob": {"url": url}}


@router.post("/apps/{app}/builds", status_code=201)
async def create_build(request: Request, app: str, body: BuildCreate) -> dict[str, Any]:
    builds = daemon_of(request).builds
    return builds.start_build(app, body.source_blob.url, body.source_blob.version)


@router.get("/apps/{app}/builds")
async def list_builds(request: Request, app: str) -> list[dict[str, Any]]:
    return daemon_of(request).builds.list(app)


@router.get("/apps/{app}/builds/{build}")
async def get_build(request: Request, app: str, build: str) -> dict[str, Any]:
    return daemon_of(request).builds.get(app, build)


@router.get("/apps/{app}/builds/{build}/output")
async def build_output(request: Request, app: str, build: str) -> StreamingResponse:
    builds = daemon_of(request).builds
    data = builds.get(app, build)
    output = builds.output(build)

    async def stream() -> AsyncIterator[bytes]:
        if output is None:
            text = data.get("output") or ""
            if text:
                yield (text + "\n").encode()
            return
        async for line in output.follow():
            yield (line + "\n").encode()

    if output is None and "output" not in data:
        raise not_found("build output")
    return StreamingResponse(stream(), media_type="text/plain; charset=utf-8")
