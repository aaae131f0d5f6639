"""`enter` on a log line: the whole line as Heroku wrote it, its code explained, its fields.

The line is shown exactly as `paas logs` prints it (RFC 5424 time, `source[dyno]:`, text), wrapped
to the terminal so nothing is cut at any width; `y` copies it to the clipboard (OSC 52: most
terminals, tmux with `set-clipboard on`; the text can also be selected with the mouse).
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.codes import explain, find_code
from tui.model import LogEntry
from tui.widgets.code_panel import render_help

# The order Heroku writes a router line's fields in (router/logline.py).
FIELD_ORDER = (
    "sock", "at", "code", "desc", "cause", "method", "path", "host", "request_id", "fwd", "dyno",
    "connect", "service", "status", "bytes", "protocol", "tls",
)  # fmt: skip


def copy_line(app: Any, entry: LogEntry) -> None:
    """Put the line, as `paas logs` prints it, on the clipboard and say so."""
    app.copy_to_clipboard(entry.formatted())
    app.notify(f"Copied the {entry.source}[{entry.dyno}] line to the clipboard.", timeout=3)


def fields_table(fields: dict[str, str]) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 1), expand=False)
    table.add_column("field", style="bold cyan", no_wrap=True)
    table.add_column("value", overflow="fold")
    known = [k for k in FIELD_ORDER if k in fields]
    for key in known + sorted(set(fields) - set(known)):
        table.add_row(key, fields[key] or Text("(empty)", style="dim"))
    return table


class LineScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("y", "copy", "Copy"),
        Binding("escape,enter,q", "close", "Close"),
    ]
    DEFAULT_CSS = """
    LineScreen { align: center middle; }
    LineScreen > VerticalScroll {
        width: 100%; max-width: 120; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    LineScreen #line-text { margin-bottom: 1; }
    """

    def __init__(self, entry: LogEntry):
        super().__init__()
        self.entry = entry

    def compose(self) -> ComposeResult:
        entry = self.entry
        box = VerticalScroll(id="line-box")
        box.border_title = escape(f"{entry.source}[{entry.dyno}] line")
        box.border_subtitle = "y copy · esc close"
        with box:
            yield Static(Text(entry.formatted()), id="line-text")
            # the explanation first: on a narrow terminal it is what the folded code pane held
            parts: list[Any] = []
            help_ = explain(entry.code or find_code(entry.text))
            if help_ is not None:
                parts += [render_help(help_), Text("")]
            if entry.fields:
                parts.append(fields_table(entry.fields))
            if parts:
                yield Static(Group(*parts), id="line-details")

    def on_mount(self) -> None:
        self.query_one("#line-box").focus()

    def action_copy(self) -> None:
        copy_line(self.app, self.entry)

    def action_close(self) -> None:
        self.dismiss(None)
