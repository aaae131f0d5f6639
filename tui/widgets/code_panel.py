"""The side pane: what the selected code means, its usual causes and the fix."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.binding import Binding
from textual.widgets import Static

from tui.codes import CodeHelp, explain
from tui.widgets.lines import code_style


class CodePanel(Static, can_focus=True):
    DEFAULT_CSS = """
    CodePanel { padding: 0 1; overflow-y: auto; height: 100%; }
    CodePanel:focus { border: round $accent; }
    """
    BINDINGS = [
        Binding("up,k", "scroll_up", "Scroll up", show=False),
        Binding("down,j", "scroll_down", "Scroll down", show=False),
    ]

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.code: str | None = None
        self._stale = True  # the explanation shown is not that of `code` yet
        self.hint = "Select a line with ↑/↓ (or filter by code) to see what its code means."

    def show(self, code: str | None, hint: str | None = None) -> None:
        if hint is not None:
            self.hint = hint
        if code == self.code and code is not None:
            return
        self.code = code
        if not self.display:
            # folded: the code is kept for the info line; rendering the explanation (and the
            # layout pass an update asks for) waits until the pane is shown again
            self._stale = True
            return
        self._render_code()

    def _render_code(self) -> None:
        self._stale = False
        help_ = explain(self.code)
        self.update(render_help(help_) if help_ else Text(self.hint, style="dim"))
        self.border_title = f"{self.code} explained" if help_ else "Codes"

    def on_show(self) -> None:
        if self._stale:
            self._render_code()


def summary(h: CodeHelp) -> Text:
    """`H13 Connection closed without response`: the one line a folded pane leaves behind."""
    return Text.assemble((f" {h.code} ", code_style(h.code)), " ", (h.title, "bold"))


def render_help(h: CodeHelp) -> Group:
    """What the code means, its usual causes, how to fix it (and its story, when there is one)."""
    parts: list[Text] = [
        Text.assemble(summary(h), (f"  ({h.kind})", "dim")),
        Text(""),
        Text(h.meaning),
        Text(""),
        Text("Usual causes", style="bold underline"),
    ]
    parts += [Text(f"• {c}") for c in h.causes]
    parts += [Text(""), Text("How to fix it", style="bold underline")]
    parts += [Text(f"• {f}") for f in h.fixes]
    if h.story:
        parts += [Text(""), Text("The story", style="bold underline"), Text(h.story, style="italic")]
    return Group(*parts)
