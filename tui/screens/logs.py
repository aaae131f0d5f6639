"""The live log screens: Router (`heroku[router]` lines only) and Logs (the app's whole stream).

Both follow the tail, filter with `/` (see tui/filters.py), pause with `p` (or by moving the
cursor up) and explain the selected line's code in the side pane. `enter` shows the selected
line whole (with its fields and code explained), `y` copies it. New lines are taken from the
store's bounded per-app buffers by sequence number on each tick, so at most ~10 redraws happen
a second whatever the line rate, and a paused view costs nothing but a counter.

Below `NARROW` columns (tui/screens/base.py) the code pane folds away: the log keeps the
width and the info line names the code instead; the explanation is in the full-line view.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Input

from tui.codes import explain, find_code
from tui.filters import EMPTY, FilterError, LineFilter, parse_filter
from tui.model import AppState, LogEntry
from tui.screens.base import Line, PaasScreen
from tui.screens.line import LineScreen, copy_line
from tui.widgets.code_panel import CodePanel, summary
from tui.widgets.renderers import LineRenderer, RouterTable, WholeLines
from tui.widgets.stream_log import StreamLog

VIEW_LINES = 5000
PANEL_SECONDS = 3  # while following, the code pane moves to the latest code this often


class StreamScreen(PaasScreen):
    AUTO_FOCUS = "#stream"
    BINDINGS = [
        Binding("enter", "full_line", "Full line"),
        Binding("slash", "filter", "Filter"),
        Binding("p", "pause", "Pause"),
        Binding("y", "copy_line", "Copy", show=False),
        Binding("w", "whole", "Whole lines", show=False),
    ]
    PLACEHOLDER = "/ filter: code:H13 dyno:web.1 status:5xx path:/api !words  (enter: apply · esc: leave · esc again: clear)"

    def body(self) -> Iterable[Widget]:
        # Always there (one line, no border): showing and hiding it would cost a relayout of the
        # whole screen on every `/`, and k9s users expect to see the active filter anyway.
        yield Input(placeholder=self.PLACEHOLDER, id="filter", select_on_focus=True)
        with Horizontal(classes="stream-body"):
            log = StreamLog(self.default_renderer(), VIEW_LINES, id="stream")
            log.border_title = self.VIEW_NAME
            yield log
            panel = CodePanel(id="code-panel")
            panel.border_title = "Codes"
            yield panel
        yield Line(id="stream-info")

    def __init__(self) -> None:
        super().__init__()
        self.filter: LineFilter = EMPTY
        self.filter_error = ""
        self.paused = False
        self._app: str | None = None
        self._last_seq = 0
        self._count_at_pause = 0
        self._latest_code: str | None = None
        self._seconds = 0

    # ---- what to show -----------------------------------------------------------------------
    def buffer(self, state: AppState) -> deque[LogEntry]:
        return state.logs

    def default_renderer(self) -> LineRenderer:
        return WholeLines()

    @property
    def folded(self) -> bool:
        """The code pane is folded away (a narrow terminal)."""
        return not self.query_one(CodePanel).display

    @property
    def stream(self) -> StreamLog:
        return self.query_one("#stream", StreamLog)

    def _matching(self, entries: Iterable[LogEntry]) -> list[LogEntry]:
        f = self.filter
        return list(entries) if f.empty else [e for e in entries if f(e)]

    def _new_entries(self, buf: deque[LogEntry]) -> list[LogEntry]:
        """Entries with seq > last seen, oldest first, without walking the whole buffer."""
        new: list[LogEntry] = []
        last = self._last_seq
        for entry in reversed(buf):
            if entry.seq <= last:
                break
            new.append(entry)
            if len(new) >= VIEW_LINES:
                break
        new.reverse()
        return new

    # ---- hooks ------------------------------------------------------------------------------
    def full_refresh(self) -> None:
        state = self.state
        self._app = state.name if state else None
        self.stream.border_title = f"{self.VIEW_NAME} · {self._app or 'no app'}"
        if state is None:
            self.stream.clear()
            self._update_info()
            return
        buf = self.buffer(state)
        self._last_seq = buf[-1].seq if buf else 0
        if not self.paused:
            self.stream.replace(self._matching(buf))
            self._latest_code = self._last_code(self.stream.rows)
            self._update_panel()
        self._update_info()

    def on_tick(self, changes: set[str]) -> None:
        state = self.state
        if (state.name if state else None) != self._app:
            self.full_refresh()  # the current app changed under us
            return
        if state is None:
            return
        buf = self.buffer(state)
        if not buf or buf[-1].seq <= self._last_seq:
            self._update_info()
            return
        if self.paused:
            self._update_info()
            return
        new = self._new_entries(buf)
        self._last_seq = buf[-1].seq
        shown = self._matching(new)
        if shown:
            self.stream.extend(shown)
            code = self._last_code(shown)
            if code:
                # While following, the pane explains the latest code - but it changes at most every
                # few seconds (on_second): flapping text is unreadable and each change is a relayout.
                self._latest_code = code
                if self.query_one(CodePanel).code is None:
                    self._update_panel()
        self._update_info()

    def on_second(self) -> None:
        self._seconds += 1
        if self._seconds % PANEL_SECONDS == 0 and self.stream.following:
            self._update_panel()
        self._update_info()

    @staticmethod
    def _last_code(entries: list[LogEntry]) -> str | None:
        for entry in reversed(entries[-500:]):
            if entry.code:
                return entry.code
        return None

    def _update_panel(self) -> None:
        panel = self.query_one(CodePanel)
        selected = self.stream.selected
        if selected is not None:
            panel.show(
                selected.code or find_code(selected.text),
                "The selected line has no code. ↓/↑ to move, end to follow.",
            )
        else:
            panel.show(
                self.filter.code() or self._latest_code,
                "No error codes yet. Crash a dyno with `c` and send traffic to watch H10/H13 appear.",
            )

    def on_resize(self, event: events.Resize) -> None:
        self.call_after_refresh(self._update_info)  # the code pane may have folded or come back

    def _update_info(self) -> None:
        """`● following · 7 shown of 7 buffered · filter: …`; folded, shorter, and naming the code
        the pane would explain."""
        folded = self.folded
        head = self._state_text(folded)
        if folded:
            help_ = explain(self.query_one(CodePanel).code)
            if help_ is not None:
                head.append(" ·")
                head.append_text(summary(help_))
                head.append(" (enter)", style="dim")
        state = self.state
        shown = len(self.stream.rows)
        buffered = len(self.buffer(state)) if state is not None else None
        if folded:
            head.append(f" · {shown:,}" + (f"/{buffered:,}" if buffered is not None else ""))
        else:
            head.append(
                f" · {shown:,} shown" + (f" of {buffered:,} buffered" if buffered is not None else "")
            )
        if self.filter_error:
            head.append(f" · {self.filter_error}", style="bold red")
        elif not self.filter.empty:
            head.append(" · filter: ")
            head.append(self.filter.text, style="bold cyan")
        self.query_one("#stream-info", Line).show(head)

    def _state_text(self, short: bool) -> Text:
        if not self.paused:
            return Text.assemble(("● following", "green"))
        state = self.state
        new = len(self._new_entries(self.buffer(state))) if state else 0
        count = f"{new:,}{'+' if new >= VIEW_LINES else ''} new"
        return Text.assemble(
            ("‖ paused", "bold yellow"),
            f" ({count}, p resumes)" if short else f" ({count}) - p or end to resume",
        )

    # ---- keys -------------------------------------------------------------------------------
    def _line_for_action(self) -> LogEntry | None:
        """The selected line, else (following) the newest one shown."""
        stream = self.stream
        entry = stream.selected or (stream.rows[-1] if stream.rows else None)
        if entry is None:
            self.notify("No line to show yet.", severity="warning", timeout=3)
        return entry

    def action_full_line(self) -> None:
        entry = self._line_for_action()
        if entry is not None:
            self.app.push_screen(LineScreen(entry))

    def action_copy_line(self) -> None:
        entry = self._line_for_action()
        if entry is not None:
            copy_line(self.app, entry)

    def action_whole(self) -> None:
        """Compact lines (or the router table) / every line exactly as Heroku writes it."""
        whole = not isinstance(self.stream.renderer, WholeLines) or not self.stream.renderer.whole_router
        self.stream.set_renderer(WholeLines(whole_router=True) if whole else self.default_renderer())

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.focus()

    def action_pause(self) -> None:
        if self.paused:
            self._resume()
        else:
            self.paused = True
            self._update_info()

    def _resume(self) -> None:
        self.paused = False
        if not self.stream.following:
            self.stream.cursor = None
        self.full_refresh()

    def on_stream_log_moved(self, event: StreamLog.Moved) -> None:
        if event.entry is None:
            if self.paused:
                self._resume()
        elif not self.paused:
            self.paused = True
        self._update_panel()
        self._update_info()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._apply_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._apply_filter(event.value)
        if not self.filter_error:
            self.stream.focus()

    def on_key(self, event: events.Key) -> None:
        if event.key == "escape" and self._escape():
            event.stop()
            event.prevent_default()

    def _escape(self) -> bool:
        """Close the filter box, else clear the filter; False lets escape go back to the overview."""
        box = self.query_one("#filter", Input)
        if box.has_focus:
            self.stream.focus()
            return True
        if not self.filter.empty or self.filter_error:
            box.value = ""
            self._apply_filter("")
            return True
        return False

    def _apply_filter(self, text: str) -> None:
        try:
            new = parse_filter(text)
        except FilterError as exc:
            self.filter_error = str(exc)
            self.query_one("#filter", Input).add_class("invalid")
            self._update_info()
            return
        self.filter_error = ""
        self.query_one("#filter", Input).remove_class("invalid")
        if new.text == self.filter.text:
            self._update_info()
            return
        self.filter = new
        state = self.state
        if state is not None:
            self.stream.cursor = None
            self.paused = False
            self.stream.replace(self._matching(self.buffer(state)))
            self._last_seq = self.buffer(state)[-1].seq if self.buffer(state) else 0
        self._update_panel()
        self._update_info()

    def selected_dyno(self) -> str | None:
        entry = self.stream.selected
        if entry is None:
            return None
        dyno = (entry.fields or {}).get("dyno") if entry.is_router else entry.dyno
        return dyno if dyno and "." in dyno and not dyno.startswith("run.") else None


class RouterScreen(StreamScreen):
    """The router's lines as a table that fits the terminal (tui/widgets/router_columns.py)."""

    VIEW_NAME = "router"

    def buffer(self, state: AppState) -> deque[LogEntry]:
        return state.router

    def default_renderer(self) -> LineRenderer:
        return RouterTable()


class LogsScreen(StreamScreen):
    VIEW_NAME = "logs"
    PLACEHOLDER = (
        "/ filter: source:app dyno:web.1 code:R14 words  (enter: apply · esc: leave · esc again: clear)"
    )
