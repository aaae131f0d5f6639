"""The fixed-delay timer queue behind every request's first-byte and idle timers."""

from __future__ import annotations

import asyncio

from router.deadlines import Deadlines
from tests.support.router_mocks import ManualClock


class Owner:
    def __init__(self, name: str, fired: list[tuple[str, float]], clock: ManualClock) -> None:
        self.name = name
        self.timer_ticket = 0
        self.fired = fired
        self.clock = clock
        self.again: Deadlines | None = None

    def arm(self, queue: Deadlines) -> None:
        self.timer_ticket += 1
        queue.arm(self, self.timer_ticket)

    def cancel(self) -> None:
        self.timer_ticket += 1

    def deadline_passed(self) -> None:
        self.fired.append((self.name, self.clock.time()))
        if self.again is not None:  # arming from inside the callback
            queue, self.again = self.again, None
            self.arm(queue)


async def test_due_owners_fire_in_order_and_cancelled_ones_never() -> None:
    clock = ManualClock(asyncio.get_running_loop())
    queue = Deadlines(clock, 30.0)  # type: ignore[arg-type]
    fired: list[tuple[str, float]] = []
    a, b, c = (Owner(n, fired, clock) for n in "abc")
    a.arm(queue)
    clock.advance(1)
    b.arm(queue)
    c.arm(queue)
    b.cancel()
    clock.advance(28.9)
    assert fired == []
    clock.advance(0.2)
    assert fired == [("a", 1030.0)]
    clock.advance(1)
    assert fired == [("a", 1030.0), ("c", 1031.0)]  # b was cancelled
    assert clock.pending() == 0 and len(queue) == 0


async def test_a_finished_request_leaves_nothing_behind() -> None:
    """100,000 requests that each arm and cancel keep the queue at the size of what is in flight."""
    clock = ManualClock(asyncio.get_running_loop())
    queue = Deadlines(clock, 30.0)  # type: ignore[arg-type]
    fired: list[tuple[str, float]] = []
    owners = [Owner(str(i), fired, clock) for i in range(64)]
    for n in range(100_000):
        owner = owners[n % 64]
        owner.cancel()  # its previous request finished
        owner.arm(queue)
        clock.advance(0.0001)
    assert len(queue) <= 65
    assert clock.pending() == 1  # one loop timer serves the queue
    clock.advance(31)
    assert len(fired) == 64 and len(queue) == 0


async def test_arming_again_when_fired_and_closing() -> None:
    clock = ManualClock(asyncio.get_running_loop())
    queue = Deadlines(clock, 5.0)  # type: ignore[arg-type]
    fired: list[tuple[str, float]] = []
    owner = Owner("x", fired, clock)
    owner.again = queue
    owner.arm(queue)
    clock.advance(5)
    clock.advance(5)
    assert fired == [("x", 1005.0), ("x", 1010.0)]
    owner.arm(queue)
    queue.close()
    clock.advance(10)
    assert len(fired) == 2 and clock.pending() == 0
