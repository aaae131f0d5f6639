"""What every paas screen has: the status bar on top, the key footer below, and the hooks the
app calls — `on_tick(changes)` ~10×/s with what changed in the store, `on_second()` once a
second, `full_refresh()` whenever the screen comes back into view or the current app changes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Static

if TYPE_CHECKING:
    from tui.app import PaasApp
    from tui.model import AppState


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
    """The keys of this screen and the app in one line, built once. (Textual's Footer rebuilds
    its widgets on every focus change - a relayout we do not want mid-stream.)"""

    DEFAULT_CSS = """
    KeyBar { dock: bottom; height: 1; background: $panel; padding: 0 1; }
    """

    def on_mount(self) -> None:
        text = Text()
        seen: set[str] = set()
        for node in (self.screen, self.app):
            for binding in getattr(node, "BINDINGS", ()):
                if not isinstance(binding, Binding) or not binding.show or binding.description in seen:
                    continue
                seen.add(binding.description)
                key = self.app.get_key_display(replace(binding, key=binding.key.split(",")[0]))
                if text:
                    text.append("  ")
                text.append(key, style="bold orange1")
                text.append(f" {binding.description}")
        self.show(text)


class PaasScreen(Screen[None]):
    VIEW_NAME = ""
    ready = False  # set once mounted: the app's ticks start reaching the screen then

    def on_mount(self) -> None:
        self.ready = True

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
        self.full_refresh()
        self.paas.update_status()
