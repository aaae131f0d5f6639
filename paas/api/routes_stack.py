"""The stack image container dynos run on: `GET /stack`, and `POST /stack/builds` to build
`paas/stack:local` from this machine's files (see dynos/stack.py, docs/docker.md).

A build streams newline-delimited JSON while it runs, so a client shows progress:

    {"type": "progress", "message": "Collecting the root filesystem from the host's packages"}
    ...
    {"type": "result", "image": "paas/stack:local", "id": "sha256:...", "entries": N,
     "size_bytes": N, "seconds": 12.3, "source": "dpkg", "packages": [...], "built_at": "..."}

or, when the build fails after it started, `{"type": "error", "message": "..."}` last. Before
it starts: 422 for a bad tag, 409 while another build runs, 503 without an engine.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict

from common.errors import PaasError, conflict, invalid
from dynos.stack import LOCAL_STACK_IMAGE, StackBuild
from dynos.stackimages import (
    BuildEvent,
    BuildFailed,
    BuildProgress,
    ImageInfo,
    StackBusy,
    StackStatus,
    StackUnavailable,
    valid_tag,
)
from paas.api.deps import Svc

router = APIRouter()


class StackBuildCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tag: str | None = None


def image_json(info: ImageInfo) -> dict[str, Any]:
    if not info.present:
        return {"name": info.name, "present": False}
    return {
        "name": info.name,
        "present": True,
        "id": info.id,
        "size_bytes": info.size_bytes,
        "created": info.created,
    }


def status_json(status: StackStatus) -> dict[str, Any]:
    return {
        "configured": image_json(status.configured),
        "local": image_json(status.local),
        "in_use": status.in_use,
        "reason": status.reason,
    }


def build_json(result: StackBuild) -> dict[str, Any]:
    return {
        "type": "result",
        "image": result.image,
        "id": result.image_id,
        "entries": result.files,
        "size_bytes": result.size_bytes,
        "seconds": round(result.seconds, 2),
        "source": result.source,
        "packages": result.packages,
        "built_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def unavailable(exc: StackUnavailable) -> PaasError:
    return PaasError(503, "unavailable", f"The stack image needs a Docker engine: {exc}")


@router.get("/stack")
async def get_stack(svc: Svc) -> dict[str, Any]:
    try:
        return status_json(await svc.stack.describe())
    except StackUnavailable as exc:
        raise unavailable(exc) from None


@router.post("/stack/builds", status_code=201)
async def build_stack(svc: Svc, body: StackBuildCreate | None = None) -> StreamingResponse:
    tag = (body.tag if body else None) or LOCAL_STACK_IMAGE
    if not valid_tag(tag):
        raise invalid(
            f"Invalid image name {tag!r}: use [registry/]name[:tag], lowercase, e.g. {LOCAL_STACK_IMAGE}."
        )
    if svc.stack.building:
        raise conflict("A stack build is already running; wait for it to finish.")
    try:
        await svc.stack.describe()  # an engine must answer: say so now, with a status code
        run = svc.stack.start_build(tag)
    except StackUnavailable as exc:
        raise unavailable(exc) from None
    except StackBusy:
        raise conflict("A stack build is already running; wait for it to finish.") from None

    async def stream() -> AsyncIterator[bytes]:
        async for event in run.events():
            yield (json.dumps(event_json(event)) + "\n").encode()

    return StreamingResponse(stream(), status_code=201, media_type="application/x-ndjson")


def event_json(event: BuildEvent) -> dict[str, Any]:
    if isinstance(event, BuildProgress):
        return {"type": "progress", "message": event.message}
    if isinstance(event, BuildFailed):
        return {"type": "error", "message": event.message}
    return build_json(event)
