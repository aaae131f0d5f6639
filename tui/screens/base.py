"""What every paas screen has: the status bar on top, the key footer below, and the hooks the
app calls — `on_tick(changes)` ~10×/s with what changed in the store, `on_second()` once a
second, `full_refresh()` whenever the screen comes back into view or the current app changes.

Terminal width: each screen carries one of `-narrow` / `-medium` / `-wide` (Textual's
breakpoints), and tui/paas.tcss folds side panes and reflows grids on them. Below NARROW
columns side panes fold away. Why 120: the router log's code pane needs 36 columns to explain
a code readably, and the log beside it 84 - time, code, status, method, dyno and service take
49 with their gaps, a path worth reading 32 more (router_columns.PATH_ROOM), border and
scrollbar 3. Narrower than that, the pane would cut every path, so the log gets the width and
the pane's explanation moves to the full-line view. WIDE is where optional columns pay off.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Static

if TYPE_CHECKING:
    from tui.app import PaasApp
    from tui.model import AppState

NARROW = 120  # below this many columns side panes fold away
WIDE = 160  # from this many columns on, tables show their optional columns
BREAKPOINTS = [(0, "-narrow"), (NARROW, "-medium"), (WIDE, "-wide")]


def width_classes(width: int) -> Mapping[str, bool]:
    """The breakpoint classes for a terminal `width` columns wide (exactly one is on)."""
    on = [name for least, name in BREAKPOINTS if width >= least][-1]
    return {name: name == on for _least, name in BREAKPOINTS}


class Line(Static):
    """A one-line Static that repaints only when its text really changed, and never asks for
    a layout pass (its size is fixed by CSS): cheap enough to feed from a 10 Hz tick."""

    DEFAULT_CSS = """
    Line { height: 1; }
    """

    _shown: Text | None = None

    def show(self, text: Text) -> None:
        if text == self._shown:
            return
        self._shown = text
        self.update(text, layout=False)


class StatusBar(Line):
    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text; padding: 0 1; }
    """


class KeyBar(Line):
    """The keys of this screen and the app in one line: as many as fit the width, in the order
    they are declared (this screen's first). Built on mount and on resize only. (Textual's
    Footer rebuilds its widgets on every focus change - a relayout we do not want mid-stream.)"""

    DEFAULT_CSS = """
    KeyBar { dock: bottom; height: 1; background: $panel; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._keys: list[Text] = []

    def on_mount(self) -> None:
        seen: set[str] = set()
        for node in (self.screen, self.app):
            for binding in getattr(node, "BINDINGS", ()):
                if not isinstance(binding, Binding) or not binding.show or binding.description in seen:
                    continue
                seen.add(binding.description)
                key = self.app.get_key_display(replace(binding, key=binding.key.split(",")[0]))
                self._keys.append(Text.assemble((key, "bold orange1"), f" {binding.description}"))
        self._fit()

    def on_resize(self, event: events.Resize) -> None:
        self._fit()

    def _fit(self) -> None:
        room = self.content_region.width or self.app.size.width - 2
        text = Text()
        for key in self._keys:
            if text.cell_len + 2 + key.cell_len > room:
                break
            if text:
                text.append("  ")
            text.append_text(key)
        self.show(text)


class PaasScreen(Screen[None]):
    VIEW_NAME = ""
    ready = False  # set once mounted: the app's ticks start reaching the screen then

    def on_mount(self) -> None:
        self.ready = True
        self.apply_width()

    def apply_width(self) -> None:
        """Textual sets the breakpoint class on resize of the visible screen only; a screen that
        was in the background while the terminal changed size catches up here."""
        self.update_classes(width_classes(self.app.size.width), animate=False)

    @property
    def narrow(self) -> bool:
        return self.has_class("-narrow")

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield from self.body()
        yield KeyBar()

    def body(self) -> Iterable[Widget]:
        return ()

    @property
    def paas(self) -> PaasApp:
        return cast("PaasApp", self.app)

    @property
    def state(self) -> AppState | None:
        name = self.paas.current_app
        return self.paas.store.apps.get(name) if name else None

    # hooks (override what you need)
    def on_tick(self, changes: set[str]) -> None:
        """Called ~10 times a second with the kinds of change since the last tick."""

    def on_second(self) -> None:
        """Called once a second (sparklines, relative times)."""

    def full_refresh(self) -> None:
        """Redraw everything from the store (and fetch what the store does not hold)."""

    def selected_dyno(self) -> str | None:
        return None

    def selected_release(self) -> str | None:
        return None

    def on_screen_resume(self) -> None:
        self.apply_width()
        self.full_refresh()
        self.paas.update_status()
