"""The H-code catalog: one table, code → Heroku's `desc=`, client status and log level.

Every router error line is built from this table; nothing else in `router/` spells a
description. Sources: Heroku Dev Center "Error codes" (devcenter.heroku.com/articles/error-codes),
"HTTP routing" and `vegur`'s sources. `sock=` marks the codes whose log line
starts with the side that hung up (H18 backend, H27 client).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HCode:
    code: str
    desc: str
    status: int  # what the client is sent (and what the log line says)
    level: str  # info | warning | error
    sock: str | None = None  # "client" / "backend": the line starts `sock=<side>`
    page: str = "application-error"  # which error page the client sees (router.pages)


CATALOG: dict[str, HCode] = {
    c.code: c
    for c in (
        HCode("H10", "App crashed", 503, "error"),
        HCode("H11", "Backlog too deep", 503, "error"),
        HCode("H12", "Request timeout", 503, "error"),
        HCode("H13", "Connection closed without response", 503, "error"),
        HCode("H14", "No web processes running", 503, "error", page="no-web-dynos"),
        HCode("H15", "Idle connection", 503, "error"),
        HCode("H17", "Poorly formatted HTTP response", 503, "error"),
        HCode("H18", "Server Request Interrupted", 503, "error", sock="backend"),
        HCode("H19", "Backend connection timeout", 503, "error"),
        HCode("H20", "App boot timeout", 503, "error"),
        HCode("H21", "Backend connection refused", 503, "error"),
        HCode("H22", "Connection limit reached", 503, "error"),
        # desc gets a detail: "HTTP restriction: oversized cookie" (see h25_desc)
        HCode("H25", "HTTP restriction", 502, "error", page="bad-gateway"),
        # status 400, or 417 for an unsupported Expect (see H26_EXPECT)
        HCode("H26", "Request Error", 400, "error", page="bad-request"),
        HCode("H27", "Client Request Interrupted", 499, "warning", sock="client", page=""),
        HCode("H28", "Client Connection Idle", 499, "warning", page=""),
        HCode("H80", "Maintenance mode", 503, "info", page="maintenance"),
        HCode("H81", "Blank app", 503, "info", page="blank-app"),
        HCode("H99", "Platform error", 503, "error"),
    )
}

# H26 with an Expect other than 100-continue answers 417, with its own page.
H26_EXPECT = HCode("H26", "Request Error", 417, "error", page="expectation-failed")

# H25 details, as Heroku words them after "HTTP restriction: "
H25_INVALID_CONTENT_LENGTH = "invalid content length"
H25_OVERSIZED_COOKIE = "oversized cookie"
H25_OVERSIZED_HEADER = "oversized header"
H25_OVERSIZED_STATUS_LINE = "oversized status line"

# H26 causes (the `cause="…"` field)
CAUSE_EXPECT = "unsupported expect header value"
CAUSE_BAD_HEADER = "bad header"
CAUSE_BAD_CHUNK = "bad chunk"
CAUSE_BAD_REQUEST_LINE = "bad request line"  # ours: Heroku documents only the three above


def h25_desc(detail: str) -> str:
    return f"HTTP restriction: {detail}"
