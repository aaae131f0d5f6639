"""latency: every chunk is delayed `latency` ms (± `jitter` ms) from when it arrived."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from router.faults.toxic import Fault

if TYPE_CHECKING:
    from router.faults.relay import Link


@dataclass
class Latency(Fault):
    type: ClassVar[str] = "latency"
    summary: ClassVar[str] = "add latency ± jitter ms to every chunk"
    latency: int = 0
    jitter: int = 0

    async def pipe(self, data: bytes, arrived: float, link: Link) -> AsyncIterator[bytes]:
        jitter = random.uniform(-self.jitter, self.jitter) if self.jitter else 0.0
        await link.until(arrived + max(0.0, self.latency + jitter) / 1000)
        yield data
