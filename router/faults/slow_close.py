"""slow_close: the source's close is passed on `delay` ms late."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from router.faults.toxic import Fault

if TYPE_CHECKING:
    from router.faults.relay import Link


@dataclass
class SlowClose(Fault):
    type: ClassVar[str] = "slow_close"
    summary: ClassVar[str] = "pass the close on delay ms late"
    delay: int = 0

    async def on_eof(self, link: Link) -> None:
        await asyncio.sleep(self.delay / 1000)
