"""The dataclips pages' own guard: who is calling, may they change state, and the headers every
dataclips response carries.

`/dataclips/...` sits outside the API's bearer check (share links open without login), so the
pages check for themselves: the daemon's token as a bearer (the CLI, the TUI) or a session cookie
(browsers). A state-changing request must come from the daemon's own origin (`Origin`, else
`Referer`, else `Sec-Fetch-Site`: an app on the router is the same *site* as the daemon but never
the same *origin*), and when the cookie is what authenticates it, it must also carry the session's
CSRF token.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from common.errors import PaasError
from paas.api.deps import Svc
from paas.dataclips.chart import SVG_STYLE
from paas.dataclips.sessions import COOKIE, Session, Sessions, same_secret

CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _style_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def content_security_policy(style_nonce: str | None = None) -> str:
    """Scripts only from the daemon's files, never inline. Styles from its files, the chart's one
    style by hash, and on the editor page the style elements CodeMirror writes (its `cspNonce`),
    allowed by a nonce made for that one response."""
    nonce = f" 'nonce-{style_nonce}'" if style_nonce else ""
    return (
        "default-src 'none'; script-src 'self'; "
        f"style-src 'self' {_style_hash(SVG_STYLE)}{nonce}; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


CONTENT_SECURITY_POLICY = content_security_policy()
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # share links are secrets: never let a page's URL leave in a Referer
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@dataclass(frozen=True)
class Caller:
    via: str  # "bearer" | "cookie"
    session: Session | None = None


def caller_of(request: Request, token: str, sessions: Sessions) -> Caller | None:
    if not token:
        return None
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer " and same_secret(header[7:].strip(), token):
        return Caller("bearer")
    session = sessions.check(request.cookies.get(COOKIE, ""))
    return Caller("cookie", session) if session is not None else None


def own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', '')}".lower()


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(request: Request) -> bool:
    """Where a browser says the request comes from; a client that says nothing (curl) passes."""
    origin = request.headers.get("origin")
    if origin is not None:
        return origin.lower() == own_origin(request)
    referer = request.headers.get("referer")
    if referer:
        return _origin_of(referer) == own_origin(request)
    return request.headers.get("sec-fetch-site", "none") in ("same-origin", "none")


def forbidden(message: str) -> PaasError:
    return PaasError(403, "forbidden", message)


def check_change(request: Request, caller: Caller, sessions: Sessions, form_token: str | None = None) -> None:
    """Raise 403 unless a state-changing request is same-origin and, by cookie, carries the CSRF token."""
    if not same_origin(request):
        raise forbidden("Cross-origin request refused: dataclips only accept changes from their own pages.")
    if caller.via != "cookie" or caller.session is None:
        return
    given = request.headers.get(CSRF_HEADER) or form_token or ""
    if not sessions.csrf_ok(caller.session, given):
        raise forbidden("Missing or invalid CSRF token: reload the page and try again.")


# ---- for the routes -----------------------------------------------------------------------
class SecureRoute(APIRoute):
    """Every dataclips response, errors included, carries the security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def secured(request: Request) -> Response:
            try:
                response = await handler(request)
            except PaasError as e:
                response = JSONResponse(e.to_json(), status_code=e.status)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return secured


def page_caller(request: Request, svc: Svc) -> Caller | None:
    """Who calls a page (None: send them to the login page)."""
    return caller_of(request, svc.token, svc.dataclips.sessions)


def api_caller(request: Request, svc: Svc) -> Caller:
    found = caller_of(request, svc.token, svc.dataclips.sessions)
    if found is None:
        raise PaasError(401, "unauthorized", "Invalid credentials provided.")
    return found


def api_change(request: Request, svc: Svc) -> Caller:
    found = api_caller(request, svc)
    check_change(request, found, svc.dataclips.sessions)
    return found


READ = [Depends(api_caller)]
CHANGE = [Depends(api_change)]
