"""The OpenMetrics 1.0 text format (what Prometheus asks for first): families, samples, `# EOF`.

Only what `/metrics` needs: counters (`_total` samples), gauges, statesets and histograms
(`_bucket` with `le`, `_count`, `_sum`). Label values are escaped as the spec says (backslash,
double quote, newline); every family is written whole, in the order it was added.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
Labels = Mapping[str, str]


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e15):
        return str(int(value))
    return repr(float(value))


def label_text(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in labels.items()) + "}"


@dataclass
class Family:
    name: str
    type: str  # counter | gauge | stateset | histogram
    help: str
    lines: list[str] = field(default_factory=list)

    def sample(self, labels: Labels, value: float, suffix: str = "") -> None:
        self.lines.append(f"{self.name}{suffix}{label_text(labels)} {number(value)}")

    def counter(self, labels: Labels, value: float) -> None:
        self.sample(labels, value, "_total")

    def states(self, labels: Labels, states: Iterable[str], current: str) -> None:
        for state in states:
            self.sample({**labels, self.name: state}, 1 if state == current else 0)

    def histogram(
        self, labels: Labels, bounds: Iterable[float], cumulative: Iterable[int], total: float
    ) -> None:
        count = 0
        for bound, seen in zip(bounds, cumulative, strict=True):
            le = "+Inf" if math.isinf(bound) else repr(float(bound))
            self.sample({**labels, "le": le}, seen, "_bucket")
            count = seen
        self.sample(labels, count, "_count")
        self.sample(labels, total, "_sum")

    def text(self) -> str:
        head = f"# TYPE {self.name} {self.type}\n# HELP {self.name} {escape(self.help)}\n"
        return head + "".join(line + "\n" for line in self.lines)


class Exposition:
    def __init__(self) -> None:
        self._families: dict[str, Family] = {}

    def family(self, name: str, type_: str, help_: str) -> Family:
        found = self._families.get(name)
        if found is None:
            found = self._families[name] = Family(name, type_, help_)
        return found

    def text(self) -> str:
        return "".join(f.text() for f in self._families.values()) + "# EOF\n"
