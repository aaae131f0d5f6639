"""This router's per-app backlog: requests admitted and not yet finished (H11 past the limit).

Heroku counts per router, 200 per web dyno. A request takes its place in `Admit` (the last
stage of router.chain) and gives it back when its exchange finishes, whatever the ending.
"""

from __future__ import annotations

from router.table import AppRoute


class Backlog:
    __slots__ = ("counts", "per_dyno")

    def __init__(self, per_dyno: int) -> None:
        self.per_dyno = per_dyno
        self.counts: dict[str, int] = {}

    def enter(self, route: AppRoute) -> bool:
        """Take a place for a request to `route`; False when its backlog is full."""
        counts = self.counts
        name = route.name
        count = counts.get(name, 0)
        if count >= self.per_dyno * max(1, len(route.backends)):
            return False
        counts[name] = count + 1
        return True

    def leave(self, app: str) -> None:
        counts = self.counts
        count = counts.get(app, 0) - 1
        if count > 0:
            counts[app] = count
        else:
            counts.pop(app, None)

    def inflight(self) -> dict[str, int]:
        """Requests in flight per app (apps with none are left out)."""
        return dict(self.counts)
