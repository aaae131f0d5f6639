"""One app's dynos as the manager holds them, and what a deploy strategy may ask of the manager.

`AppDynos` is the manager's record of one app: its desired state, the formation dynos by name
(`slots`), those being stopped (`retiring`), its one-offs, and the lock every change to them
takes. A restart strategy (preboot) works on that record through `FleetHost`, never on the
manager's own state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from dynos.oneoff import OneOff
from dynos.supervisor import Context, Supervisor
from dynos.types import AppDesired


@dataclass
class AppDynos:
    desired: AppDesired | None = None
    slots: dict[str, Supervisor] = field(default_factory=dict)
    retiring: dict[str, Supervisor] = field(default_factory=dict)
    oneoffs: dict[str, OneOff] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class FleetHost(Protocol):
    """The manager, as a restart strategy sees it."""

    ctx: Context

    def track(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run `coro` in the background; the manager waits for it at shutdown."""

    def retire(self, entry: AppDynos, sup: Supervisor) -> None:
        """Stop `sup` for good (SIGTERM, grace, SIGKILL), keeping it listed until it is gone."""

    def holds(self, app: str, entry: AppDynos) -> bool:
        """`entry` is still the app's record and the manager is not shutting down."""
