"""How many connections dataclips may hold on each database at once.

Each database gives dataclips a bounded share of its connections (an add-on's reader role has a
CONNECTION LIMIT of its own; the platform reader has one too). The budget refuses a run past that
share at once, before it connects, with a 503 and `Retry-After` (a queue would only hold HTTP
requests open while the same slow queries run), and counts what it refused.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from paas.dataclips.results import ClipBusy

RETRY_AFTER = 5  # seconds; about how long a typical dataclip takes


@dataclass
class _Usage:
    limit: int
    in_use: int = 0
    refused: int = 0


class ConnectionBudget:
    def __init__(self, retry_after: int = RETRY_AFTER):
        self.retry_after = retry_after
        self._usage: dict[str, _Usage] = {}

    def take(self, target: str, limit: int) -> Callable[[], None]:
        """One connection's worth of `target`'s share; call the returned function to give it back."""
        usage = self._usage.setdefault(target, _Usage(limit))
        usage.limit = limit
        if usage.in_use >= limit:
            usage.refused += 1
            raise ClipBusy(
                f"Dataclips already use all {limit} connections they may take on {target}; "
                f"try again in a few seconds.",
                self.retry_after,
            )
        usage.in_use += 1
        given_back = False

        def give_back() -> None:
            nonlocal given_back
            if not given_back:
                given_back = True
                usage.in_use -= 1

        return give_back

    @contextlib.contextmanager
    def slot(self, target: str, limit: int) -> Iterator[None]:
        give_back = self.take(target, limit)
        try:
            yield
        finally:
            give_back()

    def in_use(self, target: str) -> int:
        usage = self._usage.get(target)
        return 0 if usage is None else usage.in_use

    def stats(self) -> dict[str, dict[str, int]]:
        return {
            target: {"in_use": u.in_use, "limit": u.limit, "refused": u.refused}
            for target, u in sorted(self._usage.items())
        }
