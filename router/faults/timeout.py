"""timeout: no data gets through; the connection closes after `timeout` ms (0 = held forever)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from router.faults.toxic import Fault

if TYPE_CHECKING:
    from router.faults.relay import Link


@dataclass
class Timeout(Fault):
    type: ClassVar[str] = "timeout"
    summary: ClassVar[str] = "stop all data; close after timeout ms (0 = hold forever)"
    timeout: int = 0

    def on_open(self, link: Link) -> None:
        if self.timeout > 0:
            link.conn.later(self.timeout / 1000, link.conn.close)

    async def pipe(self, data: bytes, arrived: float, link: Link) -> AsyncIterator[bytes]:
        await link.conn.closed.wait()  # the data is swallowed; nothing ever comes out
        return
        yield data  # pragma: no cover  (makes this an async generator)
