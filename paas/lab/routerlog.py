"""Reading `heroku[router]` lines back: the fields, and a count by code."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def fields(line: str) -> dict[str, str]:
    """`key=value` pairs of a router line (quotes removed); text before `heroku[router]:` ignored."""
    _, sep, rest = line.partition("heroku[router]: ")
    text = rest if sep else line
    return {k: v[1:-1] if v.startswith('"') else v for k, v in _FIELD.findall(text)}


def outcome(line: str) -> str:
    """What the router did: the H-code for an error line, else the status (`200`)."""
    f = fields(line)
    return f.get("code") or f.get("status") or "?"


def count_codes(lines: Iterable[str]) -> Counter[str]:
    return Counter(outcome(line) for line in lines if "heroku[router]" in line)


def ms(value: str | None) -> int | None:
    """`service=30000ms` → 30000; empty → None."""
    if not value:
        return None
    try:
        return int(value.removesuffix("ms"))
    except ValueError:
        return None
