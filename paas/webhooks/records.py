"""What webhooks remember in memory: events and deliveries, bounded per app.

Heroku keeps them for days; here each app keeps its newest `KEPT` events and deliveries
(the oldest are forgotten first, counted in `forgotten`), and they start empty with the
daemon. The webhooks themselves are in the state database.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")

KEPT = 1000


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class WebhookEvent:
    id: str
    app: str
    include: str
    resource: str
    action: str
    data: dict[str, Any]
    created_at: datetime = field(default_factory=now)


@dataclass
class Attempt:
    id: str
    code: int | None
    error_class: str | None
    status: str  # succeeded | failed
    created_at: datetime
    updated_at: datetime


@dataclass
class Delivery:
    id: str
    app: str
    webhook_id: str
    level: str
    event: WebhookEvent
    status: str = "pending"  # pending | retrying | succeeded | failed
    num_attempts: int = 0
    next_attempt_at: datetime | None = None
    last_attempt: Attempt | None = None
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)


class Kept(Generic[T]):
    """An app's newest records by id, oldest forgotten first."""

    def __init__(self, limit: int = KEPT):
        self.limit = limit
        self.items: OrderedDict[str, T] = OrderedDict()
        self.forgotten = 0

    def add(self, key: str, item: T) -> None:
        self.items[key] = item
        while len(self.items) > self.limit:
            self.items.popitem(last=False)
            self.forgotten += 1

    def get(self, key: str) -> T | None:
        return self.items.get(key)

    def values(self) -> list[T]:
        return list(self.items.values())
