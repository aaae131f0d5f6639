"""The HTTP API: a Platform-API-shaped skin over the control plane, on 127.0.0.1.

Every route module exposes `router = APIRouter()` and is listed once in ROUTE_MODULES; this
file registers them, hands them the daemon's services (`paas.api.deps`), installs Heroku-style
error bodies `{"id", "message"}` and the bearer-token check.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from common.errors import PaasError
from paas.api import (
    routes_addons,
    routes_apps,
    routes_builds,
    routes_certs,
    routes_dynos,
    routes_faults,
    routes_git,
    routes_kafka,
    routes_logs,
    routes_pg,
    routes_pipelines,
    routes_redis,
    routes_router,
)
from paas.api.deps import Services
from paas.dataclips import web as dataclips_web

JSON_BODY_LIMIT = 1024 * 1024  # 1 MiB for JSON bodies; uploads have their own limits
PUBLIC_PREFIXES = ("/dataclips", "/git/", "/health", "/attach/")

# Every route module of the API, registered in this order (a new module is added here).
ROUTE_MODULES = (
    routes_apps,
    routes_addons,
    routes_builds,
    routes_certs,
    routes_logs,
    routes_dynos,
    routes_kafka,
    routes_pg,
    routes_redis,
    dataclips_web,
    routes_git,
    routes_pipelines,
    routes_faults,
    routes_router,
)


def token_ok(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return hmac.compare_digest(header[7:].strip(), token)
    return False


def create_api(services: Services) -> FastAPI:
    api = FastAPI(title="paas", version="3", docs_url="/docs", redoc_url=None)
    api.state.services = services  # read only through paas.api.deps.services
    api.state.dataclips_pages = dataclips_web.DataclipsPages(services.dataclips, services.token)
    token = services.token

    @api.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        path = request.url.path
        public = path == "/openapi.json" or path.startswith(PUBLIC_PREFIXES)
        if not public and not token_ok(request, token):
            return JSONResponse(
                {"id": "unauthorized", "message": "Invalid credentials provided."}, status_code=401
            )
        length = request.headers.get("content-length")
        ctype = request.headers.get("content-type", "")
        if (
            length
            and ctype.startswith("application/json")
            and length.isdigit()
            and int(length) > JSON_BODY_LIMIT
        ):
            return JSONResponse(
                {
                    "id": "request_entity_too_large",
                    "message": f"Request body is larger than {JSON_BODY_LIMIT} bytes.",
                },
                status_code=413,
            )
        return await call_next(request)

    @api.exception_handler(PaasError)
    async def paas_error(_request: Request, exc: PaasError) -> JSONResponse:
        return JSONResponse(exc.to_json(), status_code=exc.status)

    @api.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
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

    @api.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        ids = {
            404: "not_found",
            405: "method_not_allowed",
            401: "unauthorized",
            413: "request_entity_too_large",
        }
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if exc.status_code == 404 and message == "Not Found":
            message = "Couldn't find that resource."
        return JSONResponse(
            {"id": ids.get(exc.status_code, "error"), "message": message}, status_code=exc.status_code
        )

    @api.exception_handler(Exception)
    async def internal_error(_request: Request, exc: Exception) -> JSONResponse:
        services.report_error(exc)
        return JSONResponse(
            {"id": "internal_error", "message": f"Internal error: {exc.__class__.__name__}"}, status_code=500
        )

    for module in ROUTE_MODULES:
        api.include_router(module.router)
    return api
