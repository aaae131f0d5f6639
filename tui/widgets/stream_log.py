"""A bounded, cursor-able view of log lines that stays cheap at thousands of lines a second.

Why not `Log`/`RichLog`: we need a selectable line (the code side pane explains it) and
per-line styling without re-rendering the buffer. Lines are `LogEntry` objects; only the
visible ones are styled, and each styled line is cached by its sequence number. The owner
(a screen) decides what goes in: `extend()` while following, `replace()` after a filter
change or on resume. Moving the cursor (keys or a click) posts `StreamLog.Moved`; the screen
pauses on it.

A renderer that `fits` lays lines out to the view's width (the router table) and may draw a
fixed header row; one column is always kept for the vertical scrollbar, so the layout does not
change when the scrollbar comes and goes.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.model import LogEntry
from tui.widgets.renderers import LineRenderer

CURSOR = Style(bgcolor="grey23", bold=True)
SCROLLBAR = 1  # cells kept for the vertical scrollbar


class StreamLog(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    StreamLog { background: $surface; overflow: auto auto; scrollbar-size-vertical: 1; }
    """
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "cursor(-20)", "Page up", show=False),
        Binding("pagedown", "cursor(20)", "Page down", show=False),
        Binding("home,g", "top", "Top", show=False),
        Binding("end,G", "follow", "Follow", show=False),
    ]

    class Moved(Message):
        """The cursor moved (entry is None when the view went back to following the tail)."""

        def __init__(self, log: StreamLog, entry: LogEntry | None):
            super().__init__()
            self.stream_log = log
            self.entry = entry

    def __init__(self, renderer: LineRenderer, max_lines: int = 5000, *, id: str | None = None):
        super().__init__(id=id)
        self.renderer = renderer
        self.max_lines = max_lines
        self.rows: list[LogEntry] = []
        self.cursor: int | None = None  # None = following the tail
        self._width = 0
        self._strips: LRUCache[int, Strip] = LRUCache(512)
        self._styles: dict[str, Style] = {}
        self._styles_base: Style | None = None
        self._header: Strip | None = None  # the renderer's header row, styled, while it has one

    # ---- content ---------------------------------------------------------------------------
    @property
    def following(self) -> bool:
        return self.cursor is None

    @property
    def selected(self) -> LogEntry | None:
        if self.cursor is None or not self.rows:
            return None
        return self.rows[min(self.cursor, len(self.rows) - 1)]

    def replace(self, entries: Sequence[LogEntry]) -> None:
        self.rows = list(entries[-self.max_lines :])
        self._width = self._round_width(max((self._line_width(e) for e in self.rows[-200:]), default=0))
        self._strips.clear()
        if self.cursor is not None:
            self.cursor = min(self.cursor, len(self.rows) - 1) if self.rows else None
        self._resize()

    def extend(self, entries: Sequence[LogEntry]) -> None:
        if not entries:
            return
        rows = self.rows
        rows.extend(entries[-self.max_lines :])
        # Trim to exactly max_lines: once full, the virtual size stops changing, and a changed
        # virtual size means a layout pass of the whole screen, not just a repaint of this one.
        if len(rows) > self.max_lines:
            del rows[: len(rows) - self.max_lines]
        widest = max(self._line_width(e) for e in entries[-50:])
        if widest > self._width:
            self._width = self._round_width(widest)
        self._resize()

    def clear(self) -> None:
        self.replace([])

    def set_renderer(self, renderer: LineRenderer) -> None:
        self.renderer = renderer
        renderer.layout(self.draw_width)
        self._relayout()

    @property
    def draw_width(self) -> int:
        """The cells a line may use: the view less the scrollbar's column."""
        return max(1, self.size.width - SCROLLBAR)

    @property
    def header_rows(self) -> int:
        return 1 if self._header is not None else 0

    def on_resize(self, event: events.Resize) -> None:
        if self.renderer.layout(self.draw_width) or self.renderer.fits:
            self._relayout()

    def _relayout(self) -> None:
        """The renderer's layout changed: every cached line and the header are stale."""
        self._strips.clear()
        self._header = None
        self._resize()

    @staticmethod
    def _round_width(width: int) -> int:
        return -(-width // 40) * 40  # grow in steps, not on every longer line

    @staticmethod
    def _line_width(entry: LogEntry) -> int:
        return len(entry.text) + len(entry.dyno) + 24

    def _resize(self) -> None:
        header = self.renderer.header()
        if bool(header) != (self._header is not None):
            self._header = self._strip(header, self.rich_style) if header else None
        width = self.draw_width if self.renderer.fits else self._width
        size = Size(width, len(self.rows) + self.header_rows)
        if size != self.virtual_size:
            self.virtual_size = size
        if self.cursor is None and self.scroll_offset.y != self.max_scroll_y:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

    # ---- cursor ----------------------------------------------------------------------------
    def action_cursor(self, delta: int) -> None:
        if not self.rows:
            return
        start = len(self.rows) - 1 if self.cursor is None else self.cursor
        self.cursor = max(0, min(len(self.rows) - 1, start + (delta if self.cursor is not None else 0)))
        self._show_cursor()

    def action_top(self) -> None:
        if self.rows:
            self.cursor = 0
            self._show_cursor()

    def action_follow(self) -> None:
        self.cursor = None
        self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()
        self.post_message(self.Moved(self, None))

    def on_click(self, event: events.Click) -> None:
        row = event.y - self.header_rows  # a click on the header selects nothing
        index = int(self.scroll_offset.y) + row
        if row >= 0 and index < len(self.rows):
            self.cursor = index
            self._show_cursor()

    def _show_cursor(self) -> None:
        assert self.cursor is not None
        top = int(self.scroll_offset.y)
        height = max(1, self.size.height - self.header_rows)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)
        self.refresh()
        self.post_message(self.Moved(self, self.selected))

    # ---- rendering -------------------------------------------------------------------------
    def _style(self, name: str, base: Style) -> Style:
        if base is not self._styles_base:
            self._styles.clear()
            self._styles_base = base
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = base + Style.parse(name) if name else base
        return style

    def _strip(self, parts: list[tuple[str, str]], base: Style) -> Strip:
        segments = [Segment(text, self._style(name, base)) for text, name in parts if text]
        return Strip(segments, sum(cell_len(text) for text, _ in parts))

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self.rich_style
        header = self._header
        if header is not None:
            if y == 0:
                return header.crop_extend(scroll_x, scroll_x + width, base)
            y -= 1
        index = scroll_y + y
        if index >= len(self.rows):
            return Strip.blank(width, base)
        entry = self.rows[index]
        strip = self._strips.get(entry.seq)
        if strip is None:
            strip = self._strips[entry.seq] = self._strip(self.renderer(entry), base)
        if index == self.cursor:
            # the cursor's colours go *over* the line's own (which already carry the background)
            strip = strip.extend_cell_length(width + scroll_x, base)
            strip = Strip(Segment.apply_style(list(strip), None, CURSOR), strip.cell_length)
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()
        self._header = None
        if self.is_mounted:
            self._resize()
