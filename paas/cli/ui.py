"""Heroku CLI look: `=== Title`, padded `Key: value`, tables, `... done`, ` ›   Error:`."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click

APP_GLYPH = "⬢"


def echo(text: str = "") -> None:
    click.echo(text)


def header(title: str) -> None:
    click.echo(f"=== {title}")


def key_values(pairs: Sequence[tuple[str, Any]]) -> None:
    if not pairs:
        return
    width = max(len(k) for k, _ in pairs) + 2
    for key, value in pairs:
        click.echo(f"{(key + ':').ljust(width)}{'' if value is None else value}")


def table(rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
    cells = [[str(c) for c in columns]] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    click.echo(" " + "  ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)).rstrip())
    click.echo(" " + "  ".join("─" * w for w in widths))
    for row in cells[1:]:
        click.echo(" " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def warn(message: str) -> None:
    click.echo(f" ›   Warning: {message}", err=True)


def error_line(message: str) -> None:
    click.echo(f" ›   Error: {message}", err=True)


@contextmanager
def action(text: str) -> Iterator[dict[str, str]]:
    """`Doing X... done[, suffix]` — a spinner on a TTY; on failure `!`."""
    result = {"suffix": ""}
    tty = sys.stderr.isatty()
    status = None
    if tty:
        from rich.console import Console

        status = Console(stderr=True).status(text + "...")
        status.start()
    try:
        yield result
    except BaseException:
        if status is not None:
            status.stop()
        click.echo(f"{text}... !", err=True)
        raise
    if status is not None:
        status.stop()
    suffix = f", {result['suffix']}" if result["suffix"] else ""
    click.echo(f"{text}... done{suffix}", err=True)
