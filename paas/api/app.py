"""The HTTP API: a Platform-API-shaped skin over the control plane, on 127.0.0.1.

Every route module exposes `router = APIRouter()` and is listed once in ROUTE_MODULES; this
file registers them, hands them the daemon's services (`paas.api.deps`), installs Heroku-style
error bodies `{"id", "message"}` and the bearer-token check.
"""

from __future__ import annotations

import hmac
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from common.errors import PaasError
from paas.api import (
    routes_addons,
    routes_apps,
    routes_autoscale,
    routes_builds,
    routes_certs,
    routes_dataclips,
    routes_drains,
    routes_dynos,
    routes_faults,
    routes_git,
    routes_kafka,
    routes_logs,
    routes_metrics,
    routes_metrics_page,
    routes_pg,
    routes_pgbackups,
    routes_pipelines,
    routes_redis,
    routes_reviewapps,
    routes_router,
    routes_scheduler,
    routes_stack,
    routes_webhooks,
)
from paas.api.answers import allowed_methods, document_errors
from paas.api.deps import Services
from paas.api.routersync import RouterSync

JSON_BODY_LIMIT = 1024 * 1024  # 1 MiB for JSON bodies; uploads have their own limits
PUBLIC_PREFIXES = ("/dataclips", "/git/", "/health", "/attach/", "/pgbackups/", "/streams/")

# Every route module of the API, registered in this order (a new module is added here).
ROUTE_MODULES = (
    routes_apps,
    routes_addons,
    routes_builds,
    routes_certs,
    routes_logs,
    routes_drains,
    routes_webhooks,
    routes_dynos,
    routes_kafka,
    routes_pg,
    routes_pgbackups,
    routes_redis,
    routes_dataclips,
    routes_git,
    routes_pipelines,
    routes_reviewapps,
    routes_faults,
    routes_router,
    routes_scheduler,
    routes_autoscale,
    routes_stack,
    routes_metrics,
    routes_metrics_page,
)


def token_ok(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        # as bytes: a str holding non-ASCII (any byte a client may send) cannot be compared
        return hmac.compare_digest(header[7:].strip().encode(), token.encode())
    return False


def refusal(request: Request, token: str) -> JSONResponse | None:
    """Why the guard turns this request away before any route sees it (None: it does not)."""
    path = request.url.path
    public = path == "/openapi.json" or path.startswith(PUBLIC_PREFIXES)
    if not public and not token_ok(request, token):
        return JSONResponse(
            {"id": "unauthorized", "message": "Invalid credentials provided."}, status_code=401
        )
    return refuse_early(request)


def refuse_early(request: Request) -> JSONResponse | None:
    """What no route should see: a path with control characters (Starlette's path routes would
    match `info/refs` for `info/refs%0A`), a JSON body over the limit."""
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in request.scope["path"]):
        return JSONResponse(
            {"id": "bad_request", "message": "Request paths may not contain control characters."},
            status_code=400,
        )
    length = request.headers.get("content-length", "")
    ctype = request.headers.get("content-type", "")
    declared = int(length) if length.isascii() and length.isdigit() else 0
    if ctype.startswith("application/json") and declared > JSON_BODY_LIMIT:
        return JSONResponse(
            {
                "id": "request_entity_too_large",
                "message": f"Request body is larger than {JSON_BODY_LIMIT} bytes.",
            },
            status_code=413,
        )
    return None


def create_api(services: Services) -> FastAPI:
    api = FastAPI(title="paas", version="3", docs_url="/docs", redoc_url=None)
    api.state.services = services  # read only through paas.api.deps.services

    @api.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        return refusal(request, services.token) or await call_next(request)

    @api.exception_handler(PaasError)
    async def paas_error(_request: Request, exc: PaasError) -> JSONResponse:
        return JSONResponse(exc.to_json(), status_code=exc.status)

    @api.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error_response(exc)

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return http_error_response(request, exc)

    @api.exception_handler(Exception)
    async def internal_error(_request: Request, exc: Exception) -> JSONResponse:
        services.report_error(exc)
        return JSONResponse(
            {"id": "internal_error", "message": f"Internal error: {exc.__class__.__name__}"}, status_code=500
        )

    for module in ROUTE_MODULES:
        api.include_router(module.router)
    api.add_middleware(RouterSync, synced=services.router.synced)  # changes reach the routers first
    api.add_middleware(GitPathAlias)  # outermost: the guard sees the path it rewrites to
    spec_of = api.openapi
    api.openapi = lambda: document_errors(spec_of(), PUBLIC_PREFIXES)  # type: ignore[method-assign]
    return api


# `/<app>.git/<git path>`: where Heroku's CLI points git (`https://<git host>/<app>.git`)
GIT_ALIAS = re.compile(r"/[a-z][a-z0-9-]{0,29}\.git/.*")


class GitPathAlias:
    """Serve git at `/<app>.git/...` as well as `/git/<app>.git/...`: `heroku git:remote`
    writes `https://<HEROKU_GIT_HOST>/<app>.git`, a path no API resource has."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and GIT_ALIAS.fullmatch(scope["path"]):
            scope = {
                **scope,
                "path": "/git" + scope["path"],
                "raw_path": b"/git" + (scope.get("raw_path") or scope["path"].encode()),
            }
        await self.app(scope, receive, send)


HTTP_ERROR_IDS = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_entity_too_large",
}


def validation_error_response(exc: RequestValidationError) -> JSONResponse:
    """A body that is not JSON is a 400; anything else that fails validation a 422 naming the
    first problems."""
    errors = exc.errors()
    if errors and errors[0].get("type") == "json_invalid":
        return JSONResponse(
            {"id": "bad_request", "message": "Request body is not valid JSON."}, status_code=400
        )
    parts = []
    for err in errors[:3]:
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
        parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
    return JSONResponse({"id": "invalid_params", "message": "; ".join(parts)}, status_code=422)


def http_error_response(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Starlette's and FastAPI's own errors in Heroku's shape; a 405 names every allowed method."""
    message = exc.detail if isinstance(exc.detail, str) else "Request failed."
    if exc.status_code == 404 and message == "Not Found":
        message = "Couldn't find that resource."
    elif exc.status_code == 400 and message == "There was an error parsing the body":
        message = "Request body is not valid JSON."
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request.app.router.routes, request.scope)
    return JSONResponse(
        {"id": HTTP_ERROR_IDS.get(exc.status_code, "error"), "message": message},
        status_code=exc.status_code,
        headers=headers,
    )
