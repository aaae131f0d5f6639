"""Dataclips over HTTP: the web pages, their JSON API (also the CLI's), and the secret links.

The pages' HTML is `paas.dataclips.pages`, their script and style `paas/dataclips/static`; this
module is the HTTP edge. `/dataclips/...` is outside the API's bearer check, so these routes
guard themselves (`paas.api.dataclips_guard`): the bearer token, or a login session cookie;
state changes only from the daemon's own origin, with the session's CSRF token when a cookie
authenticates them.
`/dataclips/<28 lowercase letters>` and its `.csv` / `.json` open without login.
Every response carries the security headers (CSP, no framing, no sniffing, no Referer).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from typing import Annotated, Any, Literal
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
from paas.api.dataclips_guard import (
    CHANGE,
    CSRF_FIELD,
    READ,
    Caller,
    SecureRoute,
    check_change,
    content_security_policy,
    forbidden,
    page_caller,
    same_origin,
)
from paas.api.deps import Svc
from paas.dataclips import pages
from paas.dataclips.chart import AUTO, MAX_SERIES, ChartSettings, chart_for, render_svg
from paas.dataclips.export import json_rows, share_json
from paas.dataclips.platform import EXAMPLE_SQL
from paas.dataclips.results import ClipBusy, ClipError, ClipResult
from paas.dataclips.service import DataclipsService
from paas.dataclips.sessions import COOKIE, same_secret
from paas.dataclips.sources import PLATFORM

SHARE_PATH = re.compile(r"([a-z]{28})(?:\.(csv|json))?")
FORM_LIMIT = 200_000


router = APIRouter(route_class=SecureRoute)


def _login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/dataclips/login?next={quote(request.url.path)}", status_code=303)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > FORM_LIMIT:
        raise PaasError(413, "request_entity_too_large", "Form is too large.")
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def _html(text: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    base = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}
    return HTMLResponse(text, status_code=status, headers={**base, **(headers or {})})


def _retry_after(e: ClipError) -> dict[str, str]:
    return {"Retry-After": str(e.retry_after)} if isinstance(e, ClipBusy) else {}


def clip_error_response(e: ClipError, sql: str | None, clip: dict[str, Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"id": f"query_{e.kind}", "message": e.message, "error": e.to_json(sql)}
    if clip is not None:
        body["clip"] = clip
    return JSONResponse(body, status_code=e.status, headers=_retry_after(e))


def result_json(result: ClipResult, limit: int, settings: ChartSettings = AUTO) -> dict[str, Any]:
    chart = chart_for(result, settings)
    return {
        "fields": result.fields,
        "types": [c.type_name for c in result.columns],
        "kinds": [c.kind for c in result.columns],
        "values": json_rows(result.values[:limit]),
        "rows": len(result.values),
        "shown": min(limit, len(result.values)),
        "truncated": result.truncated,
        "truncated_by": result.truncated_by,
        "notice": result.notice,
        "row_cap": result.row_cap,
        "byte_cap": result.byte_cap,
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
async def login(request: Request, svc: Svc) -> Response:
    if not same_origin(request):  # nobody else's page logs a browser in
        raise forbidden("Cross-origin request refused: dataclips only accept changes from their own pages.")
    form = await _form(request)
    target = _safe_next(form.get("next"))
    sessions = svc.dataclips.sessions
    token = svc.token
    if not token or not same_secret(form.get("token", "").strip(), token):
        return _html(pages.login_page(target, "That token is not valid."), status=401)
    value, _session = sessions.issue()
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE, value, max_age=sessions.ttl, httponly=True, samesite="strict", path="/dataclips"
    )
    return response


@router.post("/dataclips/logout", include_in_schema=False)
async def logout(request: Request, svc: Svc) -> Response:
    found = page_caller(request, svc)
    if found is not None and found.session is not None:
        form = await _form(request)
        check_change(request, found, svc.dataclips.sessions, form.get(CSRF_FIELD))
        svc.dataclips.sessions.revoke(found.session)
    response = RedirectResponse("/dataclips/login", status_code=303)
    response.delete_cookie(COOKIE, path="/dataclips", httponly=True, samesite="strict")
    return response


@router.get("/dataclips/static/{name}", include_in_schema=False)
async def static(name: str) -> Response:
    if name not in pages.STATIC_TYPES:
        return Response("not found", status_code=404)
    path, media = pages.STATIC_DIR / name, pages.STATIC_TYPES[name]
    return FileResponse(path, media_type=media, headers={"Cache-Control": "no-cache"})


# ---- pages --------------------------------------------------------------------------------
def _page_csrf(svc: Svc, found: Caller) -> str:
    return svc.dataclips.sessions.csrf_token(found.session) if found.session is not None else ""


@router.get("/dataclips", include_in_schema=False)
@router.get("/dataclips/", include_in_schema=False)
async def list_page(request: Request, svc: Svc) -> Response:
    found = page_caller(request, svc)
    if found is None:
        return _login_redirect(request)
    service = svc.dataclips
    return _html(pages.list_page(service.all(), service.targets(), csrf=_page_csrf(svc, found)))


@router.post("/dataclips/new", include_in_schema=False)
async def create_from_form(request: Request, svc: Svc) -> Response:
    found = page_caller(request, svc)
    if found is None:
        return _login_redirect(request)
    form = await _form(request)
    check_change(request, found, svc.dataclips.sessions, form.get(CSRF_FIELD))
    service = svc.dataclips
    target = form.get("target", PLATFORM)
    try:
        clip = service.create(form.get("title", ""), target, EXAMPLE_SQL if target == PLATFORM else "")
    except PaasError as e:
        page = pages.list_page(service.all(), service.targets(), e.message, csrf=_page_csrf(svc, found))
        return _html(page, status=e.status)
    return RedirectResponse(f"/dataclips/clips/{clip['id']}", status_code=303)


@router.get("/dataclips/clips/{clip_id}", include_in_schema=False)
async def editor(request: Request, svc: Svc, clip_id: str) -> Response:
    found = page_caller(request, svc)
    if found is None:
        return _login_redirect(request)
    service = svc.dataclips
    try:
        clip = service.get(clip_id)
    except PaasError:
        return _html(pages.not_found_page(), status=404)
    share = f"{_base(request)}{clip['share_path']}"
    kept = service.latest(clip_id)  # the latest result, shown at once: opening a clip runs nothing
    nonce = secrets.token_urlsafe(18)
    page = await asyncio.to_thread(
        pages.editor_page, clip, service.targets(), share, _page_csrf(svc, found), kept, nonce
    )
    return _html(page, headers={"Content-Security-Policy": content_security_policy(nonce)})


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


@router.get("/dataclips/api/targets", dependencies=READ)
async def api_targets(svc: Svc) -> Any:
    return svc.dataclips.targets()


@router.get("/dataclips/api/status", dependencies=READ)
async def api_status(svc: Svc) -> Any:
    return svc.dataclips.status()


@router.get("/dataclips/api/schema", dependencies=READ)
async def api_schema(svc: Svc, target: str) -> Any:
    try:
        return await svc.dataclips.schema(target)
    except ClipError as e:
        return clip_error_response(e, None)


@router.get("/dataclips/api/clips", dependencies=READ)
async def api_list(svc: Svc) -> Any:
    return svc.dataclips.all()


@router.post("/dataclips/api/clips", status_code=201, dependencies=CHANGE)
async def api_create(svc: Svc, body: ClipCreate) -> Any:
    target = body.target or body.addon
    if not target:
        raise PaasError(
            422, "invalid_params", "Pick a database: --addon NAME (a Postgres add-on) or platform."
        )
    return svc.dataclips.create(body.title, target, body.sql)


@router.get("/dataclips/api/clips/{clip_id}", dependencies=READ)
async def api_get(svc: Svc, clip_id: str) -> Any:
    return svc.dataclips.get(clip_id)


@router.patch("/dataclips/api/clips/{clip_id}", dependencies=CHANGE)
async def api_update(svc: Svc, clip_id: str, body: ClipUpdate) -> Any:
    return svc.dataclips.save(clip_id, title=body.title, target=body.target, sql=body.sql)


@router.delete("/dataclips/api/clips/{clip_id}", dependencies=CHANGE)
async def api_delete(svc: Svc, clip_id: str) -> Any:
    return svc.dataclips.delete(clip_id)


@router.post("/dataclips/api/clips/{clip_id}/run", dependencies=CHANGE)
async def api_run(svc: Svc, clip_id: str, body: ClipRun | None = None) -> Any:
    """Save (a new version when anything changed), then run. Every save runs the query again."""
    body = body or ClipRun()
    service = svc.dataclips
    clip = service.save(clip_id, title=body.title, target=body.target, sql=body.sql)
    try:
        clip, result = await service.run(clip["id"], fresh=body.fresh)
    except ClipError as e:
        return clip_error_response(e, clip["sql"], clip)
    data = await asyncio.to_thread(result_json, result, body.limit, _settings(clip))
    return {"clip": clip, "result": data}


def _settings(clip: dict[str, Any]) -> ChartSettings:
    return ChartSettings.from_json(clip["chart"])


class ChartBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["auto", "line", "bar", "none"] = "auto"
    x: str | None = Field(default=None, max_length=200)
    y: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list, max_length=MAX_SERIES)


@router.get("/dataclips/api/clips/{clip_id}/result", dependencies=READ)
async def api_latest(svc: Svc, clip_id: str, limit: int = pages.DISPLAY_ROWS) -> Any:
    """The clip's latest result, as kept from its last run (nothing runs)."""
    service = svc.dataclips
    clip = service.get(clip_id, with_versions=False)
    kept = service.latest(clip_id)
    if kept is None:
        raise PaasError(404, "not_found", "This dataclip has not run since its SQL last changed.")
    limit = max(0, limit)
    data = await asyncio.to_thread(result_json, kept.result, limit, _settings(clip))
    data["rows"], data["summary"] = kept.rows, pages.result_summary(kept.result, limit, kept.rows)
    return {"clip": clip, "result": data}


@router.put("/dataclips/api/clips/{clip_id}/chart", dependencies=CHANGE)
async def api_chart(svc: Svc, clip_id: str, body: ChartBody) -> Any:
    """Save the chart picked in the page; answer it drawn from the latest result."""
    service = svc.dataclips
    settings = ChartSettings(body.kind, body.x, tuple(body.y))
    clip = service.set_chart(clip_id, settings)
    kept = service.latest(clip_id)
    chart = None if kept is None else chart_for(kept.result, settings)
    drawn = None if chart is None else {"kind": chart.kind, "points": chart.points, "svg": render_svg(chart)}
    return {"clip": clip, "chart": drawn}


@router.post("/dataclips/api/clips/{clip_id}/fork", status_code=201, dependencies=CHANGE)
async def api_fork(svc: Svc, clip_id: str) -> Any:
    return svc.dataclips.fork(clip_id)


@router.post("/dataclips/api/clips/{clip_id}/cancel", dependencies=CHANGE)
async def api_cancel(svc: Svc, clip_id: str) -> Any:
    return {"cancelled": await svc.dataclips.cancel(clip_id)}


@router.post("/dataclips/api/clips/{clip_id}/revert", dependencies=CHANGE)
async def api_revert(svc: Svc, clip_id: str, body: Revert) -> Any:
    return svc.dataclips.revert(clip_id, body.version)


def _links(request: Request, clip: dict[str, Any]) -> dict[str, Any]:
    url = f"{_base(request)}{clip['share_path']}"
    return {"clip": clip, "url": url, "csv_url": url + ".csv", "json_url": url + ".json"}


@router.post("/dataclips/api/clips/{clip_id}/share", dependencies=CHANGE)
async def api_share(request: Request, svc: Svc, clip_id: str) -> Any:
    return _links(request, svc.dataclips.get(clip_id, with_versions=False))


@router.post("/dataclips/api/clips/{clip_id}/revoke", dependencies=CHANGE)
async def api_revoke(request: Request, svc: Svc, clip_id: str) -> Any:
    service = svc.dataclips
    old = service.get(clip_id, with_versions=False)["slug"]
    data = _links(request, service.rotate_slug(clip_id))
    data["revoked_slug"] = old
    return data


# ---- secret links (no login) --------------------------------------------------------------
@router.head("/dataclips/{share}", include_in_schema=False)
async def shared_head(svc: Svc, share: str) -> Response:
    """HEAD answers whether the link is live (spreadsheet importers ask first) without running it."""
    match = SHARE_PATH.fullmatch(share)
    if match is None or svc.dataclips.by_slug(match.group(1)) is None:
        return Response(status_code=404)
    media = {"csv": "text/csv; charset=utf-8", "json": "application/json"}.get(
        match.group(2) or "", "text/html; charset=utf-8"
    )
    return Response(status_code=200, media_type=media, headers={"Cache-Control": "no-cache, private"})


@router.get("/dataclips/{share}", include_in_schema=False)
async def shared(request: Request, svc: Svc, share: str) -> Response:
    match = SHARE_PATH.fullmatch(share)
    service = svc.dataclips
    clip = service.by_slug(match.group(1)) if match else None
    if match is None or clip is None:
        if match is not None and match.group(2):
            return JSONResponse(
                {"id": "not_found", "message": "Couldn't find that dataclip."}, status_code=404
            )
        return _html(pages.not_found_page(), status=404)
    fmt = match.group(2)
    if fmt == "csv":
        return await _shared_csv(service, clip)
    try:
        _, result = await service.run(clip["id"])
    except ClipError as e:
        if fmt == "json":
            return clip_error_response(e, clip["sql"])
        page = pages.share_page(clip, None, e, _base(request))
        return _html(page, status=e.status, headers=_retry_after(e))
    if fmt == "json":
        body = await asyncio.to_thread(_json_bytes, share_json, clip["title"], result)
        return Response(body, media_type="application/json", headers=SHARE_HEADERS)
    page = await asyncio.to_thread(pages.share_page, clip, result, None, _base(request))
    return HTMLResponse(page, headers=SHARE_HEADERS)


# the server caches results for a minute; browsers must ask again, so a revoked link dies at once
SHARE_HEADERS = {"Cache-Control": "no-cache, private", "X-Robots-Tag": "noindex"}


async def _shared_csv(service: DataclipsService, clip: dict[str, Any]) -> Response:
    try:
        chunks = await service.csv(clip)
    except ClipError as e:
        return clip_error_response(e, clip["sql"])
    filename = re.sub(r"[^A-Za-z0-9._-]+", "-", clip["title"]).strip("-") or "dataclip"
    headers = {**SHARE_HEADERS, "Content-Disposition": f'attachment; filename="{filename}.csv"'}
    return StreamingResponse(chunks, media_type="text/csv; charset=utf-8", headers=headers)
