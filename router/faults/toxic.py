"""The base of every toxic: a name, the stream it acts on, a toxicity, and three hooks.

A toxic is a dataclass whose extra fields are its named attributes (whole numbers, as
toxiproxy's). A fresh copy runs on each connection it applies to, so it may keep per-connection
state. Hooks: `on_open` when the connection opens (timers start here), `pipe` for every chunk
going through its stream (yield what passes on), `on_eof` when the source closes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from router.faults.relay import Link

DOWNSTREAM = "downstream"  # dyno → router
UPSTREAM = "upstream"  # router → dyno
STREAMS = (DOWNSTREAM, UPSTREAM)
BASE_FIELDS = frozenset({"name", "stream", "toxicity"})


class FaultError(ValueError):
    """Bad fault input, worded for the person who typed it."""


@dataclass
class Fault:
    """Base: name, stream, toxicity. Subclasses add their named attributes (ints)."""

    type: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    name: str = ""
    stream: str = DOWNSTREAM
    toxicity: float = 1.0

    @classmethod
    def attribute_names(cls) -> set[str]:
        return {f.name for f in fields(cls) if f.init} - BASE_FIELDS

    def attributes(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.init and f.name not in BASE_FIELDS}

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": self.attributes(),
        }

    def describe(self) -> str:
        attrs = " ".join(f"{k}={v}" for k, v in self.attributes().items())
        extra = f" toxicity={self.toxicity:g}" if self.toxicity < 1 else ""
        return f"{self.type} {attrs} ({self.stream}{extra})".replace("  ", " ")

    # per-connection behaviour; a fresh copy of the fault runs on each connection
    def on_open(self, link: Link) -> None:
        """Called when the connection opens (timers start here)."""

    async def pipe(self, data: bytes, arrived: float, link: Link) -> AsyncIterator[bytes]:
        yield data

    async def on_eof(self, link: Link) -> None:
        """Called when the source closed, before the close is passed on."""
