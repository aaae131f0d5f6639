"""The router log as a table that fits the terminal: one column per field a user scans for.

A `heroku[router]` line is ~250 characters; at 80 columns the raw line is cut at `at=info metho`.
Here each line becomes the fields that matter - time, code, status, method, path, dyno, service -
laid out to the width the view really has, with more fields (desc, connect, bytes, request id,
...) as the width allows. The path takes what is left, and any cell that does not fit is cut
with `…`. The whole Heroku line is one key away (the full-line view), never lost.

`fit(width)` decides the columns once per width; `cells(entry, layout)` renders one line.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size

from tui.model import LogEntry
from tui.widgets.lines import BODY_STYLE, STATUS_STYLE, Parts, clean, code_style

GAP = 1  # blank cells between columns


@dataclass(frozen=True, slots=True)
class Column:
    key: str  # the router field it shows ("time" is the line's timestamp)
    title: str
    width: int  # cells; for the flexible path and desc columns, the least they get
    right: bool = False  # numbers line up on the right
    most: int = 0  # flexible columns: the most they take before the path gets the rest


TIME = Column("time", "TIME", 12)
TIME_SHORT = Column("time", "TIME", 8)  # HH:MM:SS, when even the essentials do not fit
CODE = Column("code", "CODE", 4)
STATUS = Column("status", "STATUS", 6)
METHOD = Column("method", "METHOD", 7)
PATH = Column("path", "PATH", 12)
DYNO = Column("dyno", "DYNO", 7)
SERVICE = Column("service", "SERVICE", 7, right=True)
DESC = Column("desc", "DESC", 20, most=36)
CONNECT = Column("connect", "CONNECT", 7, right=True)
BYTES = Column("bytes", "BYTES", 7, right=True)
REQUEST_ID = Column("request_id", "REQUEST ID", 36)
FWD = Column("fwd", "FWD", 15)
HOST = Column("host", "HOST", 24)
PROTOCOL = Column("protocol", "PROTOCOL", 8)

# The columns the brief of every router-log reader asks for, in display order.
ESSENTIAL = (TIME, CODE, STATUS, METHOD, PATH, DYNO, SERVICE)
# Dropped in this order when even the essentials do not fit (a 60-column pane).
SHED = ("method", "service", "dyno")
# Added in this order while the path keeps PATH_ROOM cells; shown in DISPLAY_ORDER.
EXTRAS = (DESC, CONNECT, BYTES, REQUEST_ID, FWD, HOST, PROTOCOL)
DISPLAY_ORDER = (
    "time", "code", "status", "method", "path", "dyno", "connect", "service", "bytes", "desc",
    "request_id", "fwd", "host", "protocol",
)  # fmt: skip
PATH_ROOM = 32  # a path narrower than this is cut too often to be worth an extra column


@dataclass(frozen=True, slots=True)
class Placed:
    column: Column
    width: int


Layout = tuple[Placed, ...]


def _needed(columns: list[Column]) -> int:
    return sum(c.width for c in columns) + GAP * (len(columns) - 1)


def _essentials(width: int) -> list[Column]:
    columns = list(ESSENTIAL)
    if _needed(columns) <= width:
        return columns
    columns[0] = TIME_SHORT
    for key in SHED:
        if _needed(columns) <= width:
            break
        columns = [c for c in columns if c.key != key]
    return columns


def fit(width: int) -> Layout:
    """The columns for a view `width` cells wide, each with its width; they fill `width` exactly
    (down to the narrowest sensible view: time, code, status and path)."""
    columns = _essentials(width)
    for extra in EXTRAS:
        if _needed([*columns, extra]) + PATH_ROOM - PATH.width > width:
            break  # in priority order: never a request id without the desc before it
        columns.append(extra)
    columns.sort(key=lambda c: DISPLAY_ORDER.index(c.key))
    spare = max(0, width - _needed(columns))
    widths = {c.key: c.width for c in columns}
    # the path first gets its room, then desc up to its most, then the path the rest
    to_path = min(spare, PATH_ROOM - PATH.width)
    spare -= to_path
    if "desc" in widths:
        to_desc = min(spare, DESC.most - DESC.width)
        widths["desc"] += to_desc
        spare -= to_desc
    widths["path"] += to_path + spare
    return tuple(Placed(c, widths[c.key]) for c in columns)


def layout_width(layout: Layout) -> int:
    return sum(p.width for p in layout) + GAP * (len(layout) - 1)


def cut(text: str, width: int, right: bool = False) -> str:
    """`text` in exactly `width` cells: padded, or cut with `…`."""
    size = len(text) if text.isascii() else cell_len(text)
    if size > width:
        return set_cell_size(text, width - 1) + "…" if width > 1 else set_cell_size(text, width)
    pad = " " * (width - size)
    return pad + text if right else text + pad


def header(layout: Layout) -> Parts:
    parts: Parts = []
    for i, placed in enumerate(layout):
        if i:
            parts.append((" " * GAP, ""))
        parts.append((cut(placed.column.title, placed.width, placed.column.right), "bold"))
    return parts


def _value(entry: LogEntry, fields: dict[str, str], key: str) -> str:
    if key == "time":
        return entry.clock
    if key == "code":
        return entry.code or ""
    return clean(fields.get(key, ""))


def _style(key: str, value: str, body: str) -> str:
    if key == "time":
        return "dim"
    if key == "code":
        return code_style(value) if value else ""
    if key == "status":
        return STATUS_STYLE.get(value[:1], "")
    if key == "dyno":
        return "cyan"
    if key in ("request_id", "fwd", "host", "protocol", "connect", "bytes"):
        return "dim"
    if key == "desc":
        return "bold " + body if body else "bold"
    return body


def cells(entry: LogEntry, layout: Layout) -> Parts:
    """One router line as `(text, style)` parts, one per column, `layout_width(layout)` cells."""
    fields = entry.fields or {}
    body = BODY_STYLE.get(entry.level, "")
    parts: Parts = []
    for i, placed in enumerate(layout):
        if i:
            parts.append((" " * GAP, ""))
        key = placed.column.key
        value = _value(entry, fields, key)
        parts.append((cut(value, placed.width, placed.column.right), _style(key, value, body)))
    return parts
