"""Timers of one fixed delay, cheap to set and to cancel: the per-request timers' common case.

Every request arms a first-byte timer (`router_timeout`) and almost always cancels it a
millisecond later. A loop timer per request (call_later: a TimerHandle, a libuv timer start and
stop) was ~7 % of the router's CPU per request. Here arming appends (deadline, owner, ticket) to
a queue; cancelling is the owner changing its `timer_ticket`, so a cancelled entry is merely
stale. Because the delay is fixed and the clock monotonic, the queue is in deadline order: one
loop timer, set for the head, serves them all, and stale entries are dropped from the head as
new ones come in, so the queue holds about as many entries as there are requests in flight.

An owner whose ticket still matches when its deadline passes gets `deadline_passed()`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol


class Timed(Protocol):
    timer_ticket: int

    def deadline_passed(self) -> None: ...


class Deadlines:
    __slots__ = ("_firing", "_handle", "_queue", "delay", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float) -> None:
        self.loop = loop
        self.delay = delay
        self._queue: deque[tuple[float, Timed, int]] = deque()
        self._handle: asyncio.TimerHandle | None = None
        self._firing = False

    def arm(self, owner: Timed, ticket: int) -> None:
        """`owner.deadline_passed()` in `delay` seconds, unless its ticket has changed by then."""
        queue = self._queue
        while queue:  # the head is usually a request that finished long ago
            _, head, head_ticket = queue[0]
            if head.timer_ticket == head_ticket:
                break
            queue.popleft()
        queue.append((self.loop.time() + self.delay, owner, ticket))
        if self._handle is None and not self._firing:
            self._handle = self.loop.call_at(queue[0][0], self._fire)

    def __len__(self) -> int:
        return len(self._queue)

    def close(self) -> None:
        """Forget every entry (the router stops)."""
        self._queue.clear()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        self._firing = True
        queue = self._queue
        now = self.loop.time()
        try:
            while queue:
                deadline, owner, ticket = queue[0]
                if owner.timer_ticket != ticket:
                    queue.popleft()
                    continue
                if deadline > now:
                    break
                queue.popleft()
                owner.deadline_passed()  # may arm again: that entry goes to the back
        finally:
            self._firing = False
            if queue and self._handle is None:
                # uvloop counts whole milliseconds and may wake us a little early: never ask for
                # less than a millisecond, or we would spin until the deadline
                self._handle = self.loop.call_at(max(queue[0][0], now + 0.001), self._fire)
