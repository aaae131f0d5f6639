"""Dataclips over HTTP: the web pages, their JSON API (also the CLI's), and the secret links.

`/dataclips/...` is outside the API's bearer check, so this module guards its own pages: the
bearer token, or a cookie set by the login page (an HMAC of the token, not the token itself).
`/dataclips/<28 lowercase letters>` and its `.csv` / `.json` open without login.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from pydantic import BaseModel, ConfigDict, Field

from common.errors import PaasError
from paas.dataclips import pages
from paas.dataclips.chart import chart_for, render_svg
from paas.dataclips.export import json_rows, share_json
from paas.dataclips.platform import EXAMPLE_SQL
from paas.dataclips.runner import ClipError, ClipResult
from paas.dataclips.service import PLATFORM, DataclipsService

router = APIRouter()

COOKIE = "paas_dataclips"
STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {"dataclips.js": "text/javascript", "dataclips.css": "text/css"}
SHARE_PATH = re.compile(r"^([a-z]{28})(?:\.(csv|json))?$")
FORM_LIMIT = 200_000


# ---- wiring -------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataclipsPages:
    """What these routes need from the daemon, handed over by the API (`paas.api.app`)."""

    service: DataclipsService
    token: str


def pages_of(request: Request) -> DataclipsPages:
    pages = request.app.state.dataclips_pages
    assert isinstance(pages, DataclipsPages)
    return pages


def service_of(request: Request) -> DataclipsService:
    return pages_of(request).service


def _token(request: Request) -> str:
    return pages_of(request).token


def session_value(token: str) -> str:
    return hmac.new(token.encode(), b"paas dataclips session", hashlib.sha256).hexdigest()


def logged_in(request: Request) -> bool:
    token = _token(request)
    if not token:
        return False
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer ") and hmac.compare_digest(header[7:].strip(), token):
        return True
    cookie = request.cookies.get(COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie, session_value(token))


def _unauthorized() -> JSONResponse:
    return JSONResponse({"id": "unauthorized", "message": "Invalid credentials provided."}, status_code=401)


def _login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/dataclips/login?next={quote(request.url.path)}", status_code=303)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > FORM_LIMIT:
        raise PaasError(413, "request_entity_too_large", "Form is too large.")
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def _html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        text, status_code=status, headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}
    )


def clip_error_response(e: ClipError, sql: str | None, clip: dict[str, Any] | None = None) -> JSONResponse:
    status = 503 if e.kind == "unavailable" else 422
    body: dict[str, Any] = {"id": f"query_{e.kind}", "message": e.message, "error": e.to_json(sql)}
    if clip is not None:
        body["clip"] = clip
    return JSONResponse(body, status_code=status)


def result_json(result: ClipResult, limit: int) -> dict[str, Any]:
    chart = chart_for(result)
    return {
        "fields": result.fields,
        "types": [c.type_name for c in result.columns],
        "kinds": [c.kind for c in result.columns],
        "values": json_rows(result.values[:limit]),
        "rows": len(result.values),
        "shown": min(limit, len(result.values)),
        "truncated": result.truncated,
        "row_cap": result.row_cap,
        "duration_ms": result.duration_ms,
        "ran_at": result.ran_at,
        "message": result.message,
        "summary": pages.result_summary(result, limit),
        "chart": None
        if chart is None
        else {"kind": chart.kind, "points": chart.points, "svg": render_svg(chart)},
    }


def _json_bytes(fn: Any, *args: Any) -> bytes:
    """Build and encode big JSON off the event loop (the router shares the loop)."""
    return json.dumps(fn(*args), separators=(",", ":"), ensure_ascii=False).encode()


# ---- login --------------------------------------------------------------------------------
def _safe_next(path: str | None) -> str:
    if path and path.startswith("/dataclips") and not path.startswith("//") and "\\" not in path:
        return path
    return "/dataclips"


@router.get("/dataclips/login", include_in_schema=False)
async def login_form(next: str | None = None) -> HTMLResponse:
    return _html(pages.login_page(_safe_next(next)))


@router.post("/dataclips/login", include_in_schema=False)
async def login(request: Request) -> Response:
    form = await _form(request)
    target = _safe_next(form.get("next"))
    token = _token(request)
    given = form.get("token", "").strip()
    if not token or not hmac.compare_digest(given, token):
        return _html(pages.login_page(target, "That token is not valid."), status=401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, session_value(token), httponly=True, samesite="lax", path="/dataclips")
    return response


@router.post("/dataclips/logout", include_in_schema=False)
async def logout() -> Response:
    response = RedirectResponse("/dataclips/login", status_code=303)
    response.delete_cookie(COOKIE, path="/dataclips")
    return response


@router.get("/dataclips/static/{name}", include_in_schema=False)
async def static(name: str) -> Response:
    if name not in STATIC_TYPES:
        return Response("not found", status_code=404)
    return FileResponse(STATIC / name, media_type=STATIC_TYPES[name], headers={"Cache-Control": "no-cache"})


# ---- pages --------------------------------------------------------------------------------
@router.get("/dataclips", include_in_schema=False)
@router.get("/dataclips/", include_in_schema=False)
async def list_page(request: Request) -> Response:
    if not logged_in(request):
        return _login_redirect(request)
    service = service_of(request)
    return _html(pages.list_page(service.all(), service.targets()))


@router.post("/dataclips/new", include_in_schema=False)
async def create_from_form(request: Request) -> Response:
    if not logged_in(request):
        return _login_redirect(request)
    service = service_of(request)
    form = await _form(request)
    target = form.get("target", PLATFORM)
    try:
        clip = service.create(form.get("title", ""), target, EXAMPLE_SQL if target == PLATFORM else "")
    except PaasError as e:
        return _html(pages.list_page(service.all(), service.targets(), e.message), status=e.status)
    return RedirectResponse(f"/dataclips/clips/{clip['id']}", status_code=303)


@router.get("/dataclips/clips/{clip_id}", include_in_schema=False)
async def editor(request: Request, clip_id: str) -> Response:
    if not logged_in(request):
        return _login_redirect(request)
    service = service_of(request)
    try:
        clip = service.get(clip_id)
    except PaasError:
        return _html(pages.not_found_page(), status=404)
    return _html(pages.editor_page(clip, service.targets(), f"{_base(request)}{clip['share_path']}"))


# ---- JSON API (web editor and CLI) --------------------------------------------------------
class ClipCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(max_length=200)
    target: str | None = Field(default=None, max_length=100)
    addon: str | None = Field(default=None, max_length=100)  # the CLI's --addon
    sql: str = ""


class ClipUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, max_length=200)
    target: str | None = Field(default=None, max_length=100)
    sql: str | None = None


class ClipRun(ClipUpdate):
    fresh: bool = True
    limit: int = Field(default=pages.DISPLAY_ROWS, ge=0, le=100_000)


class Revert(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int


def _guard(request: Request) -> JSONResponse | None:
    return None if logged_in(request) else _unauthorized()


@router.get("/dataclips/api/targets")
async def api_targets(request: Request) -> Any:
    return _guard(request) or service_of(request).targets()


@router.get("/dataclips/api/status")
async def api_status(request: Request) -> Any:
    if (denied := _guard(request)) is not None:
        return denied
    service = service_of(request)
    platform = service.platform.stats() if service.platform is not None else None
    return {
        "cluster_running": service.provider.cluster.running,
        "external": service.provider.cluster.external,
        "platform_events": platform,
        "running_queries": service.runner.running,
        "timeout_seconds": service.runner.timeout,
        "row_cap": service.runner.row_cap,
    }


@router.get("/dataclips/api/schema")
async def api_schema(request: Request, target: str) -> Any:
    return _guard(request) or await service_of(request).schema(target)


@router.get("/dataclips/api/clips")
async def api_list(request: Request) -> Any:
    return _guard(request) or service_of(request).all()


@router.post("/dataclips/api/clips", status_code=201)
async def api_create(request: Request, body: ClipCreate) -> Any:
    if (denied := _guard(request)) is not None:
        return denied
    target = body.target or body.addon
    if not target:
        raise PaasError(
            422, "invalid_params", "Pick a database: --addon NAME (a Postgres add-on) or platform."
        )
    return service_of(request).create(body.title, target, body.sql)


@router.get("/dataclips/api/clips/{clip_id}")
async def api_get(request: Request, clip_id: str) -> Any:
    return _guard(request) or service_of(request).get(clip_id)


@router.patch("/dataclips/api/clips/{clip_id}")
async def api_update(request: Request, clip_id: str, body: ClipUpdate) -> Any:
    if (denied := _guard(request)) is not None:
        return denied
    return service_of(request).save(clip_id, title=body.title, target=body.target, sql=body.sql)


@router.delete("/dataclips/api/clips/{clip_id}")
async def api_delete(request: Request, clip_id: str) -> Any:
    return _guard(request) or service_of(request).delete(clip_id)


@router.post("/dataclips/api/clips/{clip_id}/run")
async def api_run(request: Request, clip_id: str, body: ClipRun | None = None) -> Any:
    """Save (a new version when anything changed), then run. Every save runs the query again."""
    if (denied := _guard(request)) is not None:
        return denied
    body = body or ClipRun()
    service = service_of(request)
    clip = service.save(clip_id, title=body.title, target=body.target, sql=body.sql)
    try:
        clip, result = await service.run(clip["id"], fresh=body.fresh)
    except ClipError as e:
        return clip_error_response(e, clip["sql"], clip)
    data = await asyncio.to_thread(result_json, result, body.limit)
    return {"clip": clip, "result": data}


@router.post("/dataclips/api/clips/{clip_id}/cancel")
async def api_cancel(request: Request, clip_id: str) -> Any:
    if (denied := _guard(request)) is not None:
        return denied
    return {"cancelled": await service_of(request).cancel(clip_id)}


@router.post("/dataclips/api/clips/{clip_id}/revert")
async def api_revert(request: Request, clip_id: str, body: Revert) -> Any:
    return _guard(request) or service_of(request).revert(clip_id, body.version)


def _links(request: Request, clip: dict[str, Any]) -> dict[str, Any]:
    url = f"{_base(request)}{clip['share_path']}"
    return {"clip": clip, "url": url, "csv_url": url + ".csv", "json_url": url + ".json"}


@router.post("/dataclips/api/clips/{clip_id}/share")
async def api_share(request: Request, clip_id: str) -> Any:
    return _guard(request) or _links(request, service_of(request).get(clip_id, with_versions=False))


@router.post("/dataclips/api/clips/{clip_id}/revoke")
async def api_revoke(request: Request, clip_id: str) -> Any:
    if (denied := _guard(request)) is not None:
        return denied
    service = service_of(request)
    old = service.get(clip_id, with_versions=False)["slug"]
    data = _links(request, service.rotate_slug(clip_id))
    data["revoked_slug"] = old
    return data


# ---- secret links (no login) --------------------------------------------------------------
@router.head("/dataclips/{share}", include_in_schema=False)
async def shared_head(request: Request, share: str) -> Response:
    """HEAD answers whether the link is live (spreadsheet importers ask first) without running it."""
    match = SHARE_PATH.match(share)
    if match is None or service_of(request).by_slug(match.group(1)) is None:
        return Response(status_code=404)
    media = {"csv": "text/csv; charset=utf-8", "json": "application/json"}.get(
        match.group(2) or "", "text/html; charset=utf-8"
    )
    return Response(status_code=200, media_type=media, headers={"Cache-Control": "no-cache, private"})


@router.get("/dataclips/{share}", include_in_schema=False)
async def shared(request: Request, share: str) -> Response:
    match = SHARE_PATH.match(share)
    service = service_of(request)
    clip = service.by_slug(match.group(1)) if match else None
    if match is None or clip is None:
        if match is not None and match.group(2):
            return JSONResponse(
                {"id": "not_found", "message": "Couldn't find that dataclip."}, status_code=404
            )
        return _html(pages.not_found_page(), status=404)
    fmt = match.group(2)
    # the server caches results for a minute; browsers must ask again, so a revoked link dies at once
    headers = {"Cache-Control": "no-cache, private", "X-Robots-Tag": "noindex"}
    if fmt == "csv":
        try:
            chunks = await service.csv(clip)
        except ClipError as e:
            return clip_error_response(e, clip["sql"])
        filename = re.sub(r"[^A-Za-z0-9._-]+", "-", clip["title"]).strip("-") or "dataclip"
        headers["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
        return StreamingResponse(chunks, media_type="text/csv; charset=utf-8", headers=headers)
    try:
        _, result = await service.run(clip["id"])
    except ClipError as e:
        if fmt == "json":
            return clip_error_response(e, clip["sql"])
        return _html(pages.share_page(clip, None, e, _base(request)))
    if fmt == "json":
        body = await asyncio.to_thread(_json_bytes, share_json, clip["title"], result)
        return Response(body, media_type="application/json", headers=headers)
    page = await asyncio.to_thread(pages.share_page, clip, result, None, _base(request))
    return HTMLResponse(page, headers=headers)
