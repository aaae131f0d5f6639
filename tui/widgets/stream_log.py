"""A bounded, cursor-able view of log lines that stays cheap at thousands of lines a second.

Why not `Log`/`RichLog`: we need a selectable line (the code side pane explains it) and
per-line styling without re-rendering the buffer. Lines are `LogEntry` objects; only the
visible ones are styled, and each styled line is cached by its sequence number. The owner
(a screen) decides what goes in: `extend()` while following, `replace()` after a filter
change or on resume. Moving the cursor posts `StreamLog.Moved`; the screen pauses on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.model import LogEntry

Renderer = Callable[[LogEntry], list[tuple[str, str]]]
CURSOR = Style(bgcolor="grey23", bold=True)


class StreamLog(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    StreamLog { background: $surface; overflow: auto auto; }
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

    def __init__(self, render_entry: Renderer, max_lines: int = 5000, *, id: str | None = None):
        super().__init__(id=id)
        self.render_entry = render_entry
        self.max_lines = max_lines
        self.rows: list[LogEntry] = []
        self.cursor: int | None = None  # None = following the tail
        self._width = 0
        self._strips: LRUCache[int, Strip] = LRUCache(512)
        self._styles: dict[str, Style] = {}
        self._styles_base: Style | None = None

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

    def set_renderer(self, render_entry: Renderer) -> None:
        self.render_entry = render_entry
        self._strips.clear()
        self.refresh()

    @staticmethod
    def _round_width(width: int) -> int:
        return -(-width // 40) * 40  # grow in steps, not on every longer line

    @staticmethod
    def _line_width(entry: LogEntry) -> int:
        return len(entry.text) + len(entry.dyno) + 24

    def _resize(self) -> None:
        size = Size(self._width, len(self.rows))
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

    def _show_cursor(self) -> None:
        assert self.cursor is not None
        top = int(self.scroll_offset.y)
        height = max(1, self.size.height)
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

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        base = self.rich_style
        if index >= len(self.rows):
            return Strip.blank(width, base)
        entry = self.rows[index]
        strip = self._strips.get(entry.seq)
        if strip is None:
            parts = self.render_entry(entry)
            segments = [Segment(text, self._style(name, base)) for text, name in parts if text]
            strip = Strip(segments, sum(cell_len(text) for text, _ in parts))
            self._strips[entry.seq] = strip
        if index == self.cursor:
            # the cursor's colours go *over* the line's own (which already carry the background)
            strip = strip.extend_cell_length(width + scroll_x, base)
            strip = Strip(Segment.apply_style(list(strip), None, CURSOR), strip.cell_length)
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()
