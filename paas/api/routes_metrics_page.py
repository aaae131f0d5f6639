"""The Metrics web page, beside dataclips and behind the same login: `/dataclips/metrics/<app>`.

Same guard as the dataclips pages (the token as a bearer, or the login session cookie; else to
the login page and back), same security headers (no script runs: the charts are inline SVG).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from common.errors import PaasError
from paas.api.dataclips_guard import SecureRoute, page_caller
from paas.api.deps import Svc
from paas.metrics.page import STATIC_DIR, STATIC_TYPES, metrics_page, not_found_page
from paas.metrics.timeline import WINDOW

router = APIRouter(route_class=SecureRoute)


@router.get("/dataclips/metrics/static/{name}", include_in_schema=False)
async def static(name: str) -> Response:
    if name not in STATIC_TYPES:
        return Response("not found", status_code=404)
    return FileResponse(
        STATIC_DIR / name, media_type=STATIC_TYPES[name], headers={"Cache-Control": "no-cache"}
    )


@router.get("/dataclips/metrics/{app}", include_in_schema=False)
async def page(
    request: Request, svc: Svc, app: str, window: Annotated[int, Query(ge=60, le=WINDOW)] = WINDOW
) -> Response:
    if page_caller(request, svc) is None:
        return RedirectResponse(f"/dataclips/login?next={quote(request.url.path)}", status_code=303)
    headers = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}
    try:
        name = svc.control.get_app(app).name
    except PaasError:
        return HTMLResponse(not_found_page(app), status_code=404, headers=headers)
    return HTMLResponse(metrics_page(svc.metrics.series(name, window)), headers=headers)
