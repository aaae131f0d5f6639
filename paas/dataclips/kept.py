"""The latest result of a clip, kept in the state database so opening the clip shows it at once.

Heroku keeps a clip's latest result and shows it without running the query again; here the first
`KEPT_ROWS` rows (what the editor shows) are kept as JSON with the column types, and read back
into a `ClipResult` whose dates and times are dates and times again, so tables and charts render
from it exactly as from a fresh run. `rows` remembers how many rows the run had in all. A kept
result is at most `KEPT_BYTES` of JSON (wide rows: fewer of them kept).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from paas.dataclips.export import json_rows
from paas.dataclips.results import ClipResult, Column

KEPT_ROWS = 1_000
KEPT_BYTES = 2 * 1024 * 1024  # a wide result keeps fewer rows: the state database stays small


@dataclass(frozen=True)
class KeptResult:
    result: ClipResult
    rows: int  # rows the run produced (the result holds at most KEPT_ROWS of them)


def dump(result: ClipResult, limit: int = KEPT_ROWS, max_bytes: int = KEPT_BYTES) -> str:
    """The result as kept: at most `limit` rows, and fewer when they would pass `max_bytes`."""
    payload = _dump(result, limit)
    while len(payload.encode()) > max_bytes and limit > 0:
        limit //= 2
        payload = _dump(result, limit)
    return payload


def _dump(result: ClipResult, limit: int) -> str:
    return json.dumps(
        {
            "columns": [[c.name, c.type_name, c.kind] for c in result.columns],
            "values": json_rows(result.values[:limit]),
            "rows": len(result.values),
            "truncated": result.truncated,
            "truncated_by": result.truncated_by,
            "row_cap": result.row_cap,
            "byte_cap": result.byte_cap,
            "duration_ms": result.duration_ms,
            "ran_at": result.ran_at,
            "message": result.message,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def load(payload: str) -> KeptResult:
    data = json.loads(payload)
    columns = [Column(name, type_name, kind) for name, type_name, kind in data["columns"]]
    values = [tuple(_typed(v, c) for v, c in zip(row, columns, strict=False)) for row in data["values"]]
    result = ClipResult(
        columns=columns,
        values=values,
        truncated=data["truncated"],
        row_cap=data["row_cap"],
        duration_ms=data["duration_ms"],
        ran_at=data["ran_at"],
        message=data["message"],
        truncated_by=data["truncated_by"],
        byte_cap=data["byte_cap"],
    )
    return KeptResult(result, int(data["rows"]))


def _typed(value: Any, column: Column) -> Any:
    """JSON made dates and times text; the chart needs them back as moments."""
    if column.kind != "time" or not isinstance(value, str):
        return value
    try:
        return date.fromisoformat(value) if column.type_name == "date" else datetime.fromisoformat(value)
    except ValueError:  # 'infinity' and friends stay text
        return value
