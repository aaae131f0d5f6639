"""Single-use attach tickets: the secret in a one-off dyno's `attach_url` (Heroku's rendezvous URL).

The secret is the credential: it names one run of one app, is forgotten once used, and expires
when nobody attaches in time. The table is bounded; past the bound the oldest ticket goes first.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

ATTACH_SECRET_TTL = 300.0  # an attach URL not used within this time is forgotten
MAX_TICKETS = 1000


@dataclass(frozen=True)
class Ticket:
    app: str
    dyno: str
    issued: float
    # the terminal the creator asked for: the rendezvous protocol has no start message to say it
    tty: bool = True
    rows: int = 24
    cols: int = 80


class AttachTickets:
    def __init__(self, ttl: float = ATTACH_SECRET_TTL, limit: int = MAX_TICKETS) -> None:
        self.ttl = ttl
        self.limit = limit
        self.evicted = 0  # tickets dropped because the table was full
        self._tickets: OrderedDict[str, Ticket] = OrderedDict()

    def issue(self, app: str, dyno: str, tty: bool = True, rows: int = 24, cols: int = 80) -> str:
        self._expire()
        while len(self._tickets) >= self.limit:
            self._tickets.popitem(last=False)
            self.evicted += 1
        secret = secrets.token_urlsafe(24)
        self._tickets[secret] = Ticket(app, dyno, time.monotonic(), tty, rows, cols)
        return secret

    def redeem(self, secret: str) -> Ticket | None:
        """The ticket, once: a second use (or an expired one) finds nothing."""
        self._expire()
        return self._tickets.pop(secret, None)

    def _expire(self) -> None:
        now = time.monotonic()
        while self._tickets:
            secret, ticket = next(iter(self._tickets.items()))
            if now - ticket.issued <= self.ttl:
                return
            del self._tickets[secret]

    def __len__(self) -> int:
        return len(self._tickets)
