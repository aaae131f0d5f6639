"""Turning result rows into JSON values, CSV and table text."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from paas.dataclips.results import ClipResult


def json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() and abs(value) < 2**53 else float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, dict | list):
        return value
    return str(value)


def text_value(value: Any) -> str:
    """How a value reads in a table cell or a CSV field (close to psql's text output)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value)


def json_rows(rows: Iterable[tuple[Any, ...]]) -> list[list[Any]]:
    return [[json_value(v) for v in row] for row in rows]


def share_json(title: str, result: ClipResult) -> dict[str, Any]:
    data: dict[str, Any] = {"title": title, "fields": result.fields, "values": json_rows(result.values)}
    if result.notice is not None:  # only when a cap cut the rows: the usual shape stays Heroku's
        data["truncated"] = result.truncated_by or "rows"
        data["notice"] = result.notice
    return data


def csv_chunks(result: ClipResult, rows_per_chunk: int = 5_000) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.fields)
    for start in range(0, len(result.values), rows_per_chunk):
        writer.writerows(
            [text_value(v) for v in row] for row in result.values[start : start + rows_per_chunk]
        )
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()
