"""The `/` filter: a few `key:value` terms, all of which must match.

code:H13            router code (also bare `H13`); `code:H1*` any H1x; `code:H10,H13` either
status:503          client status (also bare `503`); `status:5xx` a class
dyno:web            Heroku's -d: `web` matches web.1, web.2; `web.1` only itself
path:/api           substring of the request path
source:app|heroku   where the line came from (Logs screen)
method:POST  at:error
words               anything else: case-insensitive substring of the whole line
!term               negates one term (`!code:H10`, `!/health`)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from tui.model import LogEntry

KEYS = ("code", "status", "dyno", "path", "source", "method", "at", "app")
_CODE = re.compile(r"[HRL][0-9][0-9]", re.I)
_STATUS = re.compile(r"[0-9]{3}")

Predicate = Callable[[LogEntry], bool]


class FilterError(ValueError):
    pass


def dyno_matches(pattern: str, dyno: str) -> bool:
    if "." in pattern:
        return dyno == pattern
    return dyno == pattern or dyno.startswith(pattern + ".")


def _field(entry: LogEntry, key: str) -> str:
    if key == "dyno":
        fields = entry.fields
        return (fields.get("dyno", "") if fields is not None else entry.dyno) or ""
    if key == "code":
        return entry.code or ""
    if key == "source":
        return entry.source
    if key == "app":
        return entry.app
    if key == "at":
        return entry.level
    fields = entry.fields
    return fields.get(key, "") if fields is not None else ""


def _alternatives(value: str) -> list[str]:
    return [v for v in value.split(",") if v]


def _code_term(options: list[str]) -> Predicate:
    wanted = [o.upper() for o in options]

    def code(e: LogEntry) -> bool:
        c = e.code or ""
        return any(c == w or (w.endswith("*") and c.startswith(w[:-1])) for w in wanted)

    return code


def _status_term(options: list[str]) -> Predicate:
    for o in options:
        if not re.fullmatch(r"\d{3}|[1-5]xx", o, re.I):
            raise FilterError(f"status:{o} - use a status like 503 or a class like 5xx")

    def status(e: LogEntry) -> bool:
        s = _field(e, "status")
        return bool(s) and any(s == o or (o.lower().endswith("xx") and s[0] == o[0]) for o in options)

    return status


def _term(key: str, value: str) -> Predicate:
    options = _alternatives(value)
    if not options:
        raise FilterError(f"{key}: needs a value")
    if key == "code":
        return _code_term(options)
    if key == "status":
        return _status_term(options)
    if key == "dyno":
        return lambda e: any(dyno_matches(o, _field(e, "dyno")) for o in options)
    if key == "path":
        return lambda e: any(o in _field(e, "path") for o in options)
    if key in ("method", "source", "at", "app"):
        lowered = [o.lower() for o in options]
        return lambda e: _field(e, key).lower() in lowered
    raise FilterError(f"unknown filter key {key!r}; use one of {', '.join(KEYS)}")


@dataclass(frozen=True)
class LineFilter:
    text: str
    predicates: tuple[Predicate, ...]

    def __call__(self, entry: LogEntry) -> bool:
        return all(p(entry) for p in self.predicates)

    @property
    def empty(self) -> bool:
        return not self.predicates

    def code(self) -> str | None:
        """The single code this filter asks for, if it asks for exactly one (for the side pane)."""
        found = [
            t.split(":", 1)[1] if ":" in t else t
            for t in self.text.split()
            if (t.lower().startswith("code:") or _CODE.fullmatch(t)) and not t.startswith(("!", "-"))
        ]
        if len(found) == 1 and _CODE.fullmatch(found[0]):
            return found[0].upper()
        return None


def parse_filter(text: str) -> LineFilter:
    predicates: list[Predicate] = []
    for raw in text.split():
        negate = raw.startswith("!")
        token = raw[1:] if negate else raw
        if not token:
            continue
        key, sep, value = token.partition(":")
        if sep and key.lower() in KEYS:
            pred = _term(key.lower(), value)
        elif sep and key.isalpha() and key.lower() not in KEYS and not value.startswith("/"):
            raise FilterError(f"unknown filter key {key!r}; use one of {', '.join(KEYS)}")
        elif _CODE.fullmatch(token):
            pred = _term("code", token)
        elif _STATUS.fullmatch(token):
            pred = _term("status", token)
        else:
            needle = token.lower()

            def pred(e: LogEntry, needle: str = needle) -> bool:
                return needle in e.text.lower() or needle in e.dyno.lower()

        if negate:
            pred = _negate(pred)
        predicates.append(pred)
    return LineFilter(text.strip(), tuple(predicates))


def _negate(pred: Predicate) -> Predicate:
    return lambda e: not pred(e)


EMPTY = LineFilter("", ())
