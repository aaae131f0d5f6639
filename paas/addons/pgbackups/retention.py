"""How many backups a plan keeps (Heroku's PGBackups retention, by tier).

Manual backups: Essential 5, Standard 25, Premium and above 50; capturing one more expires
the oldest manual backup. Scheduled backups: the last 7 daily ones, plus one a week for 4
weeks (Standard) or 12 weeks (Premium and above).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Retention:
    manual: int
    daily: int
    weekly: int


TIERS = {
    "essential": Retention(manual=5, daily=7, weekly=0),
    "standard": Retention(manual=25, daily=7, weekly=4),
    "premium": Retention(manual=50, daily=7, weekly=12),
}


def retention_of(plan: str) -> Retention:
    tier = plan.split("-", 1)[0]
    return TIERS.get(tier, TIERS["premium"] if tier in ("private", "shield") else TIERS["essential"])


@dataclass(frozen=True)
class Kept:
    """What retention looks at: a finished backup's id, when it was made, and how."""

    id: str
    created_at: datetime
    scheduled: bool


def expired(backups: Sequence[Kept], rule: Retention, day_seconds: float) -> list[str]:
    """The ids beyond the plan's limits (`day_seconds`: the schedule's day, for weeks)."""
    newest_first = sorted(backups, key=lambda b: b.created_at, reverse=True)
    manual = [b for b in newest_first if not b.scheduled]
    scheduled = [b for b in newest_first if b.scheduled]
    gone = [b.id for b in manual[rule.manual :]]
    weeks_kept: set[int] = set()
    for b in scheduled[rule.daily :]:
        week = int(b.created_at.timestamp() // (7 * day_seconds))
        if week not in weeks_kept and len(weeks_kept) < rule.weekly:
            weeks_kept.add(week)
            continue
        gone.append(b.id)
    return gone
