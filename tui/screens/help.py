"""`?`: every key, grouped, in one place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

SECTIONS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Views",
        [
            ("1", "Overview: apps, formation, dyno states, request/error sparklines, errors by code"),
            ("2", "App: dynos, releases, add-ons, config"),
            ("3", "Router log: live heroku[router] lines in columns, code explained on the side"),
            ("4", "Logs: the app's whole stream"),
            ("5", "Kafka: topics, rates, data size, consumer lag"),
            ("6", "Dataclips: list, run, show the table"),
            ("7", "Metrics: response time, throughput, errors, memory, load, events (w: window)"),
            ("8", "Pipelines: apps by stage, review apps with their branch, state and URL"),
            ("[ / ]", "Previous / next app"),
            ("enter", "Open the highlighted app (overview); roll back to the highlighted release (app view)"),
            ("esc", "Close filter / clear filter / back to the overview"),
        ],
    ),
    (
        "Actions (on the current app)",
        [
            ("+ / -", "Scale web up / down by one dyno"),
            ("r", "Restart the selected dyno (else the first web dyno)"),
            ("s", "Stop the selected dyno"),
            ("c", "Crash the selected dyno with SIGKILL - then watch H10/H13 in the router log"),
            ("m", "Toggle maintenance mode (H80)"),
            ("b", "Roll back (to the highlighted release in the app view, else the previous one)"),
            ("o", "Open the app in a browser"),
        ],
    ),
    (
        "Logs and router log",
        [
            ("/", "Filter: code:H13 dyno:web.1 status:5xx path:/api source:app words; !term negates"),
            ("p", "Pause / resume (moving the cursor up pauses too)"),
            ("↑ ↓ k j", "Move the cursor (or click a line); the side pane explains the line's code"),
            ("end G", "Follow the tail again"),
            ("enter", "The selected (else the newest) line whole, its code explained, its fields"),
            ("y", "Copy that line to the clipboard, exactly as `paas logs` prints it"),
            ("w", "Router columns or compact lines / every line exactly as Heroku writes it"),
            ("tab", "Move focus (log, code pane: ↑/↓ scroll the explanation)"),
        ],
    ),
    (
        "Narrow terminals",
        [
            ("< 120 cols", "Side panes fold away and tables keep the columns that fit"),
            ("", "Router log and logs: the info line names the code, enter explains it"),
        ],
    ),
    (
        "Everywhere",
        [
            (":", "Command palette (every action, every view, every app)"),
            ("?", "This help"),
            ("q", "Quit"),
        ],
    ),
]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "Close"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 96; max-width: 100%; max-height: 100%; border: round $accent; background: $surface; padding: 0 1; }
    """

    def __init__(self, bindings: Sequence[Any] = ()):
        super().__init__()
        self._keys = bindings

    def compose(self) -> ComposeResult:
        parts: list[Any] = []
        for title, rows in SECTIONS:
            parts.append(Text(title, style="bold underline"))
            table = Table(show_header=False, box=None, padding=(0, 1), expand=False)
            table.add_column("key", style="bold cyan", no_wrap=True, width=10)
            table.add_column("what")
            for key, what in rows:
                table.add_row(Text(key), Text(what))
            parts += [table, Text("")]
        box = VerticalScroll()
        box.border_title = "paas - keys (esc closes)"
        with box:
            yield Static(Group(*parts))

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
