"""The router's chain, declared in one place (vegur's `default_middlewares`).

One request goes through, in this order:

    read the head       router.client + router.head     llhttp; framing decided (router.framing)
    lookup              Host → app (RouteTable.resolve)  404 "no such app" / 400, no app line
    validate            router.stages.Validate           H26 (400, 417)
    connection_limit    router.stages.ConnectionLimit    H22
    app_state           router.stages.AppState           H80, H81, H14
    admit               router.stages.Admit              H11 (takes a backlog place)
    100 Continue        answered by the router itself (vegur_continue_middleware)
    pick                router.pick                      H10, H19, H20, H21, H99 (async: connect, hold)
    proxy               router.exchange + router.upstream   H12, H13, H15, H17, H18, H25, H27, H28
    log                 Exchange.finish                  one heroku[router] line, one record

The synchronous part (lookup to admit) is `Chain.route`; the exchange runs it when the request's
turn comes, then picks and proxies. Nothing here depends on the daemon: a chain needs a route
table and a backlog, so it can run wherever a table is fed.
"""

from __future__ import annotations

from router.backlog import Backlog
from router.head import RequestHead
from router.stages import (
    NO_SUCH_APP,
    UNROUTABLE,
    Admit,
    AppState,
    ConnectionLimit,
    Stage,
    Validate,
    Verdict,
)
from router.table import AppRoute, RouteTable


class Chain:
    __slots__ = ("stages", "table")

    def __init__(self, table: RouteTable, stages: list[Stage]) -> None:
        self.table = table
        self.stages = stages

    def route(self, head: RequestHead) -> tuple[AppRoute | None, Verdict | None]:
        """(the app's route, or None) and the verdict, or None when the request may be proxied.

        No route always comes with a verdict that names no app (404, or 400 for a head too
        broken to route); a route with a verdict is an H-code logged for that app.
        """
        route = self.lookup(head)
        if route is None:
            host = head.host
            broken = host is None or not host.strip() or head.problem is not None
            return None, UNROUTABLE if broken else NO_SUCH_APP
        for stage in self.stages:
            verdict = stage.check(head, route)
            if verdict is not None:
                return route, verdict
        return route, None

    def lookup(self, head: RequestHead) -> AppRoute | None:
        """The app the request's host names (`<app>.localhost`, or a custom domain)."""
        host = head.host
        if host is None or not host.strip():
            return None
        return self.table.resolve(host.decode("latin-1"))


def routing_chain(table: RouteTable, backlog: Backlog) -> Chain:
    """The stages every request goes through, in order. `Admit` stays last: a request that
    passes the chain holds a backlog place until its exchange finishes."""
    return Chain(table, [Validate(), ConnectionLimit(), AppState(), Admit(backlog)])
