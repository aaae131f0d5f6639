"""A DataTable whose optional columns come and go with its width.

Screens give every cell of a row as before (`add_row`, `add_rows`, `update_cell`,
`remove_row`, `clear`); the table keeps them all and shows the columns its width allows. When
a resize changes that set, it rebuilds itself from what it kept - a resize is rare, a row
update is not, so nothing costs more on the 10 Hz path than a plain DataTable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import TextType
from textual import events
from textual.widgets import DataTable
from textual.widgets.data_table import CellType, ColumnKey, RowKey


@dataclass(frozen=True, slots=True)
class Col:
    title: str
    least: int = 0  # the table must be at least this many cells wide to show the column


class FitTable(DataTable[Any]):
    def __init__(self, columns: Sequence[Col | str], **kwargs: Any):
        super().__init__(**kwargs)
        self.all_columns = [c if isinstance(c, Col) else Col(c) for c in columns]
        self.shown: tuple[int, ...] = ()  # indexes into all_columns
        self._full: dict[RowKey, list[Any]] = {}

    # ---- which columns ---------------------------------------------------------------------
    def on_mount(self) -> None:
        # before the first layout the table has no size yet: the terminal's width will do
        self._fit(self.size.width or self.app.size.width)

    def on_resize(self, event: events.Resize) -> None:
        self._fit(event.size.width)

    def columns_for(self, width: int) -> tuple[int, ...]:
        return tuple(i for i, c in enumerate(self.all_columns) if width >= c.least)

    def _fit(self, width: int) -> None:
        shown = self.columns_for(width)
        if shown == self.shown:
            return
        self.shown = shown
        cursor = self.cursor_row
        rows = list(self._full.items())
        super().clear(columns=True)
        for i in shown:
            title = self.all_columns[i].title
            super().add_column(title, key=title)
        for key, cells in rows:
            super().add_row(*self._pick(cells), key=key.value)
        if rows:
            self.move_cursor(row=min(cursor, len(rows) - 1))

    def _pick(self, cells: Sequence[Any]) -> list[Any]:
        return [cells[i] if i < len(cells) else "" for i in self.shown]

    def _index(self, title: str) -> int:
        return next(i for i, c in enumerate(self.all_columns) if c.title == title)

    # ---- rows: every cell kept, the shown ones passed on -----------------------------------
    def add_row(
        self,
        *cells: CellType,
        height: int | None = 1,
        key: str | None = None,
        label: TextType | None = None,
    ) -> RowKey:
        row_key = super().add_row(*self._pick(cells), height=height, key=key, label=label)
        self._full[row_key] = list(cells)
        return row_key

    def update_cell(
        self,
        row_key: RowKey | str,
        column_key: ColumnKey | str,
        value: CellType,
        *,
        update_width: bool = False,
    ) -> None:
        title = column_key.value if isinstance(column_key, ColumnKey) else column_key
        index = self._index(str(title))
        cells = self._full[RowKey(row_key) if isinstance(row_key, str) else row_key]
        cells.extend([""] * (index + 1 - len(cells)))
        cells[index] = value
        if index in self.shown:
            super().update_cell(row_key, column_key, value, update_width=update_width)

    def remove_row(self, row_key: RowKey | str) -> None:
        super().remove_row(row_key)
        self._full.pop(RowKey(row_key) if isinstance(row_key, str) else row_key, None)

    def clear(self, columns: bool = False) -> FitTable:
        """Clear the rows (the columns belong to the table: `columns` is ignored)."""
        super().clear()
        self._full.clear()
        return self
