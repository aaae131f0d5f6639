"""Sources (tarball upload), builds and their live output."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from common.errors import not_found
from paas.api.deps import Svc
from paas.api.presenters import build_json

router = APIRouter()


class SourceBlob(BaseModel):
    url: str
    version: str | None = None


class BuildCreate(BaseModel):
    source_blob: SourceBlob


@router.post("/apps/{app}/sources", status_code=201)
async def upload_source(request: Request, svc: Svc, app: str) -> dict[str, Any]:
    svc.control.get_app(app)
    url = await svc.builds.receive_source(request.stream())
    return {"source_blob": {"url": url}}


@router.post("/apps/{app}/builds", status_code=201)
async def create_build(svc: Svc, app: str, body: BuildCreate) -> dict[str, Any]:
    started = svc.builds.start_build(app, body.source_blob.url, body.source_blob.version)
    return build_json(started, svc.control.urls, svc.control.get_app(app).stack)


@router.get("/apps/{app}/builds")
async def list_builds(svc: Svc, app: str) -> list[dict[str, Any]]:
    stack = svc.control.get_app(app).stack
    return [build_json(b, svc.control.urls, stack) for b in svc.builds.list(app)]


@router.get("/apps/{app}/builds/{build}")
async def get_build(svc: Svc, app: str, build: str) -> dict[str, Any]:
    return build_json(svc.builds.get(app, build), svc.control.urls, svc.control.get_app(app).stack)


@router.get("/apps/{app}/builds/{build}/output")
async def build_output(svc: Svc, app: str, build: str) -> StreamingResponse:
    builds = svc.builds
    info = builds.get(app, build)
    output = builds.output(build)

    async def stream() -> AsyncIterator[bytes]:
        if output is None:
            text = info.output or ""
            if text:
                yield (text + "\n").encode()
            return
        async for line in output.follow():
            yield (line + "\n").encode()

    if output is None and info.output is None:
        raise not_found("build output")
    return StreamingResponse(stream(), media_type="text/plain; charset=utf-8")
