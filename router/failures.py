"""A failure that repeats at request rate: counted always, told sparingly.

A broken log function or record callback fails for every request; logging each one would flood
stderr at line rate and slow the router down further. The first failure and every thousandth
are logged with their traceback; the count is shown in the router's figures.
"""

from __future__ import annotations

import logging

log = logging.getLogger("router")

TELL_EVERY = 1000


class FailureCounter:
    __slots__ = ("count", "who")

    def __init__(self, who: str) -> None:
        self.who = who  # "router", "router fleet": who says it in the log
        self.count = 0

    def failed(self, what: str) -> None:
        """Call from an `except` block: the traceback is the one being handled."""
        self.count += 1
        if self.count == 1 or self.count % TELL_EVERY == 0:
            log.exception("%s: %s failed (%d failures so far)", self.who, what, self.count)
