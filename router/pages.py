"""Heroku's error pages, as whole HTTP responses built once at import time.

Heroku serves an iframe pointing at herokucdn.com; this simulator works offline, so each page
carries the same title and wording inline. `Server: Cowboy` is what the legacy router
(vegur, on cowboy) answers with.
"""

from __future__ import annotations

from functools import lru_cache

_REASONS = {
    400: "Bad Request",
    404: "Not Found",
    417: "Expectation Failed",
    502: "Bad Gateway",
    503: "Service Unavailable",
}

_PAGES: dict[str, tuple[str, str, str]] = {
    # page id → (title, heading, text)
    "application-error": (
        "Application Error",
        "Application error",
        "An error occurred in the application and your page could not be served. If you are the "
        "application owner, check your logs for details. You can do this from the Heroku CLI with "
        "the command <code>heroku logs --tail</code>",
    ),
    "no-web-dynos": (
        "No web dynos running",
        "Application error",
        "An error occurred in the application and your page could not be served. If you are the "
        "application owner, check your logs for details. You can do this from the Heroku CLI with "
        "the command <code>heroku logs --tail</code>",
    ),
    "maintenance": (
        "Offline for Maintenance",
        "Offline for maintenance",
        "This app is undergoing maintenance right now. Please check back later.",
    ),
    "blank-app": (
        "Heroku | Welcome to your new app!",
        "Welcome to your new app!",
        "Refer to the documentation if you need help deploying.",
    ),
    "no-such-app": (
        "Heroku | No such app",
        "There's nothing here, yet.",
        "There is no app configured at that hostname. Perhaps the app owner has renamed it, or "
        "you mistyped the URL.",
    ),
    "bad-gateway": (
        "Bad Gateway",
        "Bad gateway",
        "The application's response could not be passed on.",
    ),
    "bad-request": ("Bad Request", "Bad request", "The request could not be understood."),
    "expectation-failed": (
        "Expectation Failed",
        "Expectation failed",
        "Only <code>Expect: 100-continue</code> is supported.",
    ),
}

_TEMPLATE = (
    "<!DOCTYPE html>\n<html>\n  <head>\n"
    '    <meta name="viewport" content="width=device-width, initial-scale=1">\n'
    '    <meta charset="utf-8">\n'
    "    <title>{title}</title>\n"
    "  </head>\n  <body>\n"
    "    <h1>{heading}</h1>\n    <p>{text}</p>\n"
    "  </body>\n</html>\n"
)


def page_body(page: str) -> bytes:
    title, heading, text = _PAGES[page]
    return _TEMPLATE.format(title=title, heading=heading, text=text).encode()


@lru_cache(maxsize=64)
def error_response(page: str, status: int, keep_alive: bool) -> bytes:
    """The complete response (head and body) for an error page."""
    body = page_body(page) if page else b""
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        "Server: Cowboy\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        "Cache-Control: no-cache, no-store\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body
