"""reset_peer: the connection is reset (TCP RST) `timeout` ms after it opens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from router.faults.toxic import Fault

if TYPE_CHECKING:
    from router.faults.relay import Link


@dataclass
class ResetPeer(Fault):
    type: ClassVar[str] = "reset_peer"
    summary: ClassVar[str] = "TCP RST timeout ms after the connection opens"
    timeout: int = 0

    def on_open(self, link: Link) -> None:
        link.conn.later(self.timeout / 1000, link.conn.reset)
