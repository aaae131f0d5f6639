"""When a daily schedule fires, on a clock whose day may be shortened (`PAAS_PG_BACKUP_DAY`).

With a day of D seconds, platform time runs 86400/D times faster than the wall clock:
`--at '02:00 UTC'` with D = 60 fires every minute, 5 seconds into it. Missed runs (the
daemon was down) are not replayed: the next run is always the next one from now.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from common.errors import invalid

DAY = 86400.0
AT = re.compile(r"(0?\d|1\d|2[0-3]):00 ?(\S*)")
# the abbreviations Heroku's CLI maps to zones
ABBREVIATIONS = {
    "BST": "Europe/London",
    "CDT": "America/Chicago",
    "CEST": "Europe/Paris",
    "CET": "Europe/Paris",
    "CST": "America/Chicago",
    "EDT": "America/New_York",
    "EST": "America/New_York",
    "GMT": "Europe/London",
    "MDT": "America/Boise",
    "MST": "America/Boise",
    "PDT": "America/Los_Angeles",
    "PST": "America/Los_Angeles",
    "Z": "UTC",
}


def parse_at(at: str) -> tuple[int, str]:
    """`'02:00 UTC'` → (2, "UTC"); Heroku's format, whole hours only."""
    found = AT.fullmatch(at.strip())
    if found is None:
        raise invalid("Invalid schedule format: expected --at '[HOUR]:00 [TIMEZONE]'")
    hour, zone = int(found.group(1)), found.group(2)
    zone = ABBREVIATIONS.get(zone.upper(), zone) or "UTC"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid(f"Unknown time zone {zone!r}: use an IANA name such as America/New_York") from None
    return hour, zone


def next_run(now: float, hour: int, zone: str, day_seconds: float) -> float:
    """The wall-clock time (epoch seconds) of the next `hour:00` in `zone` after `now`."""
    if day_seconds == DAY:  # a real day: the zone's calendar, daylight saving included
        local = datetime.fromtimestamp(now, ZoneInfo(zone))
        candidate = local.replace(hour=hour, minute=0, second=0, microsecond=0)
        if candidate <= local:
            candidate = (candidate.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=ZoneInfo(zone))
        return candidate.timestamp()
    # a shortened day: platform time runs DAY/day_seconds times faster; the zone's offset of today
    scale = DAY / day_seconds
    offset = (datetime.now(ZoneInfo(zone)).utcoffset() or timedelta()).total_seconds()
    into_day = (now * scale + offset) % DAY
    ahead = (hour * 3600 - into_day) % DAY or DAY
    return now + ahead / scale
