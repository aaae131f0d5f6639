"""When a job runs: Heroku Scheduler's three frequencies, parsed, described and timed.

Every 10 minutes (at :00, :10, ...), every hour at :MM, every day at HH:MM UTC; MM a multiple
of 10 (the scheduler ticks every 10 minutes, as Heroku's dashboard offers). Runs fall on the
UTC clock: the next one is the first boundary after now, so runs missed while the daemon was
down are not replayed. A time scale S makes every period S times shorter (60: every 10 minutes
is every 10 s), boundaries still counted from the epoch, so a class sees runs come on time.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from common.errors import invalid

EVERY_MINUTES = {10: "10m", 60: "1h", 1440: "1d"}
_EVERY_WORDS = {
    "10m": 10,
    "10min": 10,
    "10 minutes": 10,
    "every 10 minutes": 10,
    "1h": 60,
    "60m": 60,
    "hourly": 60,
    "every hour": 60,
    "1d": 1440,
    "24h": 1440,
    "daily": 1440,
    "every day": 1440,
}
_HOURLY_AT = re.compile(r":?([0-5][0-9])")
_DAILY_AT = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])(?: ?UTC)?")


@dataclass(frozen=True)
class Schedule:
    every: int  # minutes
    at: int = 0  # minutes past the hour (hourly) or past 00:00 UTC (daily)

    @property
    def flag(self) -> str:
        return EVERY_MINUTES[self.every]

    def describe(self) -> str:
        if self.every == 10:
            return "Every 10 minutes"
        if self.every == 60:
            return f"Every hour at :{self.at:02d}"
        return f"Every day at {self.at // 60:02d}:{self.at % 60:02d} UTC"

    def at_text(self) -> str | None:
        if self.every == 60:
            return f":{self.at:02d}"
        if self.every == 1440:
            return f"{self.at // 60:02d}:{self.at % 60:02d}"
        return None

    def period(self, scale: float) -> float:
        """Seconds between two runs at this time scale."""
        return self.every * 60 / scale

    def next_after(self, now: float, scale: float) -> float:
        """The first run time strictly after `now` (epoch seconds)."""
        period, offset = self.period(scale), self.at * 60 / scale
        return offset + (math.floor((now - offset) / period) + 1) * period


def parse_every(text: str) -> int:
    minutes = _EVERY_WORDS.get(text.strip().lower())
    if minutes is None:
        raise invalid(f"Invalid frequency {text!r}: use --every 10m, 1h or 1d.")
    return minutes


def parse_at(every: int, text: str | None) -> int:
    """Minutes past the hour (hourly: `:MM`) or past midnight UTC (daily: `HH:MM`)."""
    if text is None or text.strip() == "":
        return 0
    text = text.strip()
    if every == 10:
        raise invalid("--at applies to hourly (:MM) and daily (HH:MM) jobs only.")
    if every == 60:
        match = _HOURLY_AT.fullmatch(text)
        if match is None:
            raise invalid(f"Invalid time {text!r} for an hourly job: use :MM (e.g. :30).")
        minutes = int(match.group(1))
    else:
        match = _DAILY_AT.fullmatch(text)
        if match is None:
            raise invalid(f"Invalid time {text!r} for a daily job: use HH:MM in UTC (e.g. 02:30).")
        minutes = int(match.group(1)) * 60 + int(match.group(2))
    if minutes % 10:
        raise invalid(f"Invalid time {text!r}: minutes must be a multiple of 10 (:00, :10, ... :50).")
    return minutes


def parse_schedule(every: str, at: str | None) -> Schedule:
    minutes = parse_every(every)
    return Schedule(minutes, parse_at(minutes, at))
