"""What every paas screen has: the status bar on top, the key footer below, and the hooks the
app calls — `on_tick(changes)` ~10×/s with what changed in the store, `on_second()` once a
second, `full_refresh()` whenever the screen comes back into view or the current app changes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static

if TYPE_CHECKING:
    from tui.app import PaasApp
    from tui.model import AppState


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text; padding: 0 1; }
    """


class PaasScreen(Screen[None]):
    VIEW_NAME = ""
    ready = False  # set once mounted: the app's ticks start reaching the screen then

    def on_mount(self) -> None:
        self.ready = True

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield from self.body()
        yield Footer()

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
