"""The routing decisions, one small stage each (after vegur's middlewares).

A stage looks at the request head (and, once the Host is known, the app's route) and either
lets the request go on (`None`) or ends it with a `Verdict`. Stages keep no per-request state;
the order they run in is declared once, in router.chain.

    validate          limits, framing, Expect, CONNECT, request-target   → 400/417 H26
    connection_limit  this router's client connections                   → 503 H22
    app_state         maintenance, blank app, web scaled to zero          → 503 H80, H81, H14
    admit             this router's per-app backlog (router.backlog)      → 503 H11
"""

from __future__ import annotations

from router.backlog import Backlog
from router.codes import CATALOG, HCode
from router.head import RequestHead
from router.table import AppRoute


class Verdict:
    """How a request ends before reaching a dyno.

    With an `hcode`, the request belongs to an app: it is logged and answered with the code's
    page. Without one, no app could be named (404 "no such app", or a request too broken to
    route, 400): the client gets `page`/`status` and no app's log sees it.
    """

    __slots__ = ("cause", "hcode", "page", "status")

    def __init__(
        self, hcode: HCode | None, cause: str | None = None, page: str = "", status: int = 0
    ) -> None:
        self.hcode = hcode
        self.cause = cause
        self.page = page if hcode is None else hcode.page
        self.status = status if hcode is None else hcode.status


NO_SUCH_APP = Verdict(None, page="no-such-app", status=404)
UNROUTABLE = Verdict(None, page="bad-request", status=400)
_BY_CODE = {code: Verdict(hcode) for code, hcode in CATALOG.items()}


def verdict(code: str) -> Verdict:
    """The verdict for an H-code with no cause (shared: verdicts are never changed)."""
    return _BY_CODE[code]


class Stage:
    """One routing concern. `check` returns None to let the request go on."""

    name = ""

    def check(self, head: RequestHead, route: AppRoute) -> Verdict | None:
        raise NotImplementedError


class Validate(Stage):
    """vegur_validate_headers + the continue middleware's check: what reading the head found."""

    name = "validate"

    def check(self, head: RequestHead, route: AppRoute) -> Verdict | None:
        problem = head.problem
        if problem is None:
            return None
        hcode, cause = problem
        return Verdict(hcode, cause)


class ConnectionLimit(Stage):
    name = "connection_limit"

    def check(self, head: RequestHead, route: AppRoute) -> Verdict | None:
        return verdict("H22") if head.over_limit else None


class AppState(Stage):
    name = "app_state"

    def check(self, head: RequestHead, route: AppRoute) -> Verdict | None:
        if route.maintenance:
            return verdict("H80")
        if not route.released:
            return verdict("H81")
        if route.web_quantity <= 0:
            return verdict("H14")
        return None


class Admit(Stage):
    """Take a place in the app's backlog on this router; it is given back when the request ends."""

    name = "admit"

    def __init__(self, backlog: Backlog) -> None:
        self.backlog = backlog

    def check(self, head: RequestHead, route: AppRoute) -> Verdict | None:
        return None if self.backlog.enter(route) else verdict("H11")
