"""What a dataclip run produces: columns, rows, how it was cut short, and errors worded for people.

A result is capped twice: at `row_cap` rows (Heroku's 100,000) and at `byte_cap` bytes of text
(about what the rows take as CSV), so one wide result cannot take the daemon's memory. Where a
cap cut it, `notice` says so in words the page, the JSON and the CSV all show.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

ROW_CAP = 100_000
BYTE_CAP = 32 * 1024 * 1024

TIME_TYPES = {"date", "timestamp", "timestamptz"}
NUMBER_TYPES = {"int2", "int4", "int8", "float4", "float8", "numeric", "oid", "money"}
TEXT_TYPES = {"text", "varchar", "bpchar", "name", "char", "citext", "uuid", "inet", "cidr"}
STRING_TYPES = {"text", "varchar", "bpchar", "name", "char", "citext"}  # loaded as str: len() is enough
# text width of fixed-size types (their longest usual form); everything else is measured
FIXED_WIDTH = {
    "bool": 1, "int2": 6, "int4": 11, "int8": 20, "oid": 10, "float4": 15, "float8": 24,
    "date": 13, "time": 15, "timetz": 21, "timestamp": 29, "timestamptz": 35, "uuid": 36,
}  # fmt: skip
_not_none = partial(operator.is_not, None)


@dataclass(frozen=True)
class Column:
    name: str
    type_name: str
    kind: str  # time | number | text | other


def kind_of(type_name: str) -> str:
    if type_name in TIME_TYPES:
        return "time"
    if type_name in NUMBER_TYPES:
        return "number"
    if type_name in TEXT_TYPES:
        return "text"
    return "other"


def rows_size(columns: Sequence[Column], rows: Sequence[tuple[Any, ...]]) -> int:
    """About how many bytes `rows` take as text: exact for strings, a fixed width for fixed-size
    types, str() for the rest. Column by column, so the work stays in C (~0.3 µs a row)."""
    total = len(rows) * max(1, len(columns))  # separators and line ends
    for column, values in zip(columns, zip(*rows, strict=False), strict=False):
        width = FIXED_WIDTH.get(column.type_name)
        if width is not None:
            total += width * len(values)
        elif column.type_name in STRING_TYPES:
            total += sum(map(len, filter(_not_none, values)))
        else:
            total += sum(map(len, map(str, filter(_not_none, values))))
    return total


def format_bytes(n: int) -> str:
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} kB"
    return f"{n:,}-byte"


def truncation_notice(truncated_by: str | None, rows: int, row_cap: int, byte_cap: int) -> str | None:
    if truncated_by == "rows":
        return f"The result has more than {row_cap:,} rows; only the first {row_cap:,} are included."
    if truncated_by == "bytes":
        return (
            f"The result is larger than the {format_bytes(byte_cap)} limit; "
            f"only the first {rows:,} rows are included."
        )
    return None


@dataclass
class ClipResult:
    columns: list[Column]
    values: list[tuple[Any, ...]]
    truncated: bool
    row_cap: int
    duration_ms: float
    ran_at: float = field(default_factory=time.time)
    message: str | None = None  # e.g. "The statement returned no rows."
    truncated_by: str | None = None  # "rows" | "bytes" when a cap cut the result
    size: int = 0  # about how many bytes the values take as text
    byte_cap: int = BYTE_CAP

    @property
    def fields(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def notice(self) -> str | None:
        by = self.truncated_by or ("rows" if self.truncated else None)
        return truncation_notice(by, len(self.values), self.row_cap, self.byte_cap)


class ClipError(Exception):
    """A query that did not produce a result, worded for the person who wrote it."""

    def __init__(
        self,
        message: str,
        kind: str = "error",
        position: int | None = None,
        sqlstate: str | None = None,
        hint: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        # read_only | timeout | lock_timeout | canceled | syntax | multiple | no_result
        # | unavailable | busy | error
        self.kind = kind
        self.position = position  # 1-based character offset in the clip's SQL
        self.sqlstate = sqlstate
        self.hint = hint

    @property
    def status(self) -> int:
        """The HTTP status that answers it: the database is missing or full (503), or the SQL (422)."""
        return 503 if self.kind in ("unavailable", "busy") else 422

    def line_col(self, sql: str) -> tuple[int, int] | None:
        if self.position is None:
            return None
        before = sql[: self.position - 1]
        return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1

    def to_json(self, sql: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"message": self.message, "kind": self.kind, "position": self.position}
        if self.sqlstate:
            data["sqlstate"] = self.sqlstate
        if self.hint:
            data["hint"] = self.hint
        if sql is not None and (lc := self.line_col(sql)):
            data["line"], data["column"] = lc
        return data


class ClipBusy(ClipError):
    """Dataclips already use their whole share of this database's connections: try again soon."""

    def __init__(self, message: str, retry_after: int = 5):
        super().__init__(message, "busy")
        self.retry_after = retry_after


class NotCopyable(Exception):
    """COPY cannot wrap this SQL; format the rows in Python instead."""
