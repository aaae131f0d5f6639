"""What a `StreamLog` draws each entry with, given the width it has.

`RouterTable` lays router lines out as columns that fit the view (and draws a header);
`WholeLines` draws each line as Heroku writes it - router lines compacted (no host, request id,
fwd, protocol) or whole - and lets the view scroll sideways. Switching renderer, or a resize
that changes the layout, re-renders only the visible lines.
"""

from __future__ import annotations

from tui.model import LogEntry
from tui.widgets import router_columns
from tui.widgets.lines import Parts, log_parts, router_parts


class LineRenderer:
    fits = False  # True: lines are laid out to the view's width (no sideways scrolling)

    def layout(self, width: int) -> bool:
        """The width the view draws into; True when lines now render differently."""
        return False

    def header(self) -> Parts:
        """A fixed first row (column titles), or nothing."""
        return []

    def __call__(self, entry: LogEntry) -> Parts:
        raise NotImplementedError


class RouterTable(LineRenderer):
    fits = True

    def __init__(self) -> None:
        self.width = 0
        self.columns: router_columns.Layout = router_columns.fit(80)
        self._header = router_columns.header(self.columns)

    def layout(self, width: int) -> bool:
        if width == self.width:
            return False
        self.width = width
        columns = router_columns.fit(width)
        changed = columns != self.columns
        self.columns = columns
        self._header = router_columns.header(columns)
        return changed

    def header(self) -> Parts:
        return self._header

    def __call__(self, entry: LogEntry) -> Parts:
        return router_columns.cells(entry, self.columns)


class WholeLines(LineRenderer):
    """`HH:MM:SS.mmm source[dyno]: text`; router lines compact unless `whole_router`."""

    def __init__(self, whole_router: bool = False) -> None:
        self.whole_router = whole_router

    def __call__(self, entry: LogEntry) -> Parts:
        if entry.is_router:
            return router_parts(entry, full=self.whole_router)
        return log_parts(entry)
