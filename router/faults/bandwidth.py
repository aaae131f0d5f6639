"""bandwidth: the stream is limited to `rate` KB/s (0: nothing gets through, as toxiproxy)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from router.faults.toxic import Fault

if TYPE_CHECKING:
    from router.faults.relay import Link


@dataclass
class Bandwidth(Fault):
    type: ClassVar[str] = "bandwidth"
    summary: ClassVar[str] = "limit the stream to rate KB/s"
    rate: int = 0

    async def pipe(self, data: bytes, arrived: float, link: Link) -> AsyncIterator[bytes]:
        per_second = self.rate * 1024
        if per_second <= 0:
            await link.conn.closed.wait()
            return
        step = max(1, per_second // 10)  # 100 ms worth at a time
        for i in range(0, len(data), step):
            piece = data[i : i + step]
            await asyncio.sleep(len(piece) / per_second)
            yield piece
