"""limit_data: the connection closes once `bytes` bytes went through (at once for 0)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from router.faults.toxic import Fault

if TYPE_CHECKING:
    from router.faults.relay import Link

_Bytes = bytes  # the attribute is named `bytes` (toxiproxy's name)


@dataclass
class LimitData(Fault):
    type: ClassVar[str] = "limit_data"
    summary: ClassVar[str] = "close the connection after bytes bytes"
    bytes: int = 0
    _passed: int = field(default=0, init=False, repr=False, compare=False)

    def on_open(self, link: Link) -> None:
        if self.bytes <= 0:
            link.conn.later(0, link.conn.close)

    async def pipe(self, data: _Bytes, arrived: float, link: Link) -> AsyncIterator[_Bytes]:
        room = self.bytes - self._passed
        if room > 0:
            piece = data[:room]
            self._passed += len(piece)
            yield piece
        if self._passed >= self.bytes:
            link.conn.close_after_flush()
