"""Heroku's `Range` header for list endpoints: `<field> [first]..[last][; max=N[, order=asc|desc]]`.

The official CLI asks `GET /apps/{app}/releases` with `Range: version ..; max=1, order=desc` to
learn the newest release (what `config:set` prints): without it the oldest came first. Bounds
are inclusive; `]` before the first bound makes it exclusive (what `Next-Range` hands back).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from common.errors import PaasError, bad_request

T = TypeVar("T")

DEFAULT_MAX = 1000
RANGE = re.compile(
    r"\s*(?P<field>[a-z_]+)\s*(?P<excl>\]?)(?P<first>[^.;\s]*)\s*\.\.\s*(?P<last>[^;\s]*)\s*"
    r"(?:;\s*(?P<opts>.*))?"
)
OPTION = re.compile(r"\s*(max|order)\s*=\s*([A-Za-z0-9]+)\s*")


def bad_range(message: str) -> PaasError:
    return bad_request(f"Invalid Range header: {message}")


def _bound(text: str) -> int | None:
    if text == "":
        return None
    if not text.isdigit():
        raise bad_range(f"{text!r} is not a number.")
    return int(text)


@dataclass(frozen=True)
class RangeSpec:
    first: int | None = None
    last: int | None = None
    exclusive_first: bool = False
    max: int = DEFAULT_MAX
    descending: bool = False

    @classmethod
    def parse(cls, header: str | None, field: str) -> RangeSpec:
        if not header:
            return cls()
        match = RANGE.fullmatch(header)
        if match is None or match["field"] != field:
            raise bad_range(f"expected `{field} [first]..[last][; max=N, order=asc|desc]`.")
        limit, descending = DEFAULT_MAX, False
        for part in (match["opts"] or "").split(","):
            if not part.strip():
                continue
            option = OPTION.fullmatch(part)
            if option is None:
                raise bad_range(f"unknown option {part.strip()!r}.")
            name, value = option.groups()
            if name == "max":
                limit = _bound(value) or DEFAULT_MAX
            elif value in ("asc", "desc"):
                descending = value == "desc"
            else:
                raise bad_range("order must be asc or desc.")
        return cls(
            _bound(match["first"]),
            _bound(match["last"]),
            bool(match["excl"]),
            min(limit, DEFAULT_MAX),
            descending,
        )

    def apply(self, items: Sequence[T], key: Callable[[T], int]) -> tuple[list[T], bool]:
        """The page this range picks from `items` (sorted by `key` ascending), and whether
        more remain past it."""
        chosen = [item for item in items if self._within(key(item))]
        if self.descending:
            chosen.reverse()
        return chosen[: self.max], len(chosen) > self.max

    def _within(self, value: int) -> bool:
        # `first`/`last` are in the order asked for: with desc, first is the higher bound
        low, high = (self.last, self.first) if self.descending else (self.first, self.last)
        low_excl, high_excl = (
            (False, self.exclusive_first) if self.descending else (self.exclusive_first, False)
        )
        if low is not None and (value < low or (low_excl and value == low)):
            return False
        return not (high is not None and (value > high or (high_excl and value == high)))

    def next_range_header(self, page: Sequence[T], more: bool, key: Callable[[T], int]) -> dict[str, str]:
        if not more or not page:
            return {}
        order = "desc" if self.descending else "asc"
        return {"Next-Range": f"version ]{key(page[-1])}..; max={self.max}, order={order}"}
