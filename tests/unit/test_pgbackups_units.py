"""pg:backups pieces without a server: the schedule's clock, retention by plan, signed links, names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from common.errors import PaasError
from paas.addons.pgbackups.clock import next_run, parse_at
from paas.addons.pgbackups.links import Links
from paas.addons.pgbackups.retention import Kept, expired, retention_of
from paas.addons.pgbackups.transfers import parse_name
from paas.cli.pgbackups_view import filesize


def test_at_takes_herokus_format_and_abbreviations() -> None:
    assert parse_at("02:00 UTC") == (2, "UTC")
    assert parse_at("2:00") == (2, "UTC")
    assert parse_at("23:00 PST") == (23, "America/Los_Angeles")
    assert parse_at("09:00 Europe/Paris") == (9, "Europe/Paris")


@pytest.mark.parametrize("bad", ["02:30 UTC", "24:00", "noon", "02:00 Mars/Olympus"])
def test_a_bad_at_is_a_precise_422(bad: str) -> None:
    with pytest.raises(PaasError) as err:
        parse_at(bad)
    assert err.value.status == 422
    assert "expected --at '[HOUR]:00 [TIMEZONE]'" in err.value.message or "time zone" in err.value.message


def test_next_run_is_the_next_hour_on_a_real_day() -> None:
    now = datetime(2026, 12, 5, 1, 30, tzinfo=UTC).timestamp()
    assert next_run(now, 2, "UTC", 86400) == datetime(2026, 12, 5, 2, 0, tzinfo=UTC).timestamp()
    later = datetime(2026, 12, 5, 2, 0, tzinfo=UTC).timestamp()
    assert next_run(later, 2, "UTC", 86400) == datetime(2026, 12, 6, 2, 0, tzinfo=UTC).timestamp()
    ny = next_run(now, 2, "America/New_York", 86400)
    assert datetime.fromtimestamp(ny, UTC) == datetime(2026, 12, 5, 7, 0, tzinfo=UTC)


def test_a_shortened_day_fires_once_per_day_length() -> None:
    day = 60.0
    now = 1_800_000_000.0
    first = next_run(now, 2, "UTC", day)
    second = next_run(first, 2, "UTC", day)
    assert now < first <= now + day
    assert second - first == pytest.approx(day)
    assert (first % day) == pytest.approx(day * 2 / 24)  # 02:00 is 2/24 into each day


def test_retention_keeps_the_plans_manual_count_and_dailies_plus_weeklies() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    manual = [Kept(f"m{i}", start + timedelta(hours=i), False) for i in range(8)]
    assert retention_of("essential-0").manual == 5
    assert sorted(expired(manual, retention_of("essential-0"), 86400)) == ["m0", "m1", "m2"]
    assert expired(manual, retention_of("standard-0"), 86400) == []
    daily = [Kept(f"d{i}", start + timedelta(days=i), True) for i in range(40)]
    gone = expired(daily, retention_of("standard-0"), 86400)
    kept = {k.id for k in daily} - set(gone)
    assert {f"d{i}" for i in range(33, 40)} <= kept  # the last 7 days
    assert len(kept) == 7 + 4  # and one a week for 4 weeks
    assert len(daily) - len(expired(daily, retention_of("essential-0"), 86400)) == 7


def test_links_are_refused_when_tampered_or_expired() -> None:
    links = Links("token", "http://127.0.0.1:5100", ttl=60)
    url, _ = links.make("abc")
    parsed = links.parse(url)
    assert parsed is not None and parsed[0] == "abc"
    _, exp, sig = parsed
    assert links.valid("abc", exp, sig)
    assert not links.valid("abd", exp, sig)
    assert not links.valid("abc", exp, sig[:-1] + ("0" if sig[-1] != "0" else "1"))
    assert not links.valid("abc", exp, "")
    old, _ = links.make("abc", now=0)
    assert not links.valid("abc", *(links.parse(old) or ("", "", ""))[1:])
    assert Links("other token", "http://127.0.0.1:5100", 60).valid("abc", exp, sig) is False
    assert links.parse("http://example.com/pgbackups/abc.dump") is None


def test_names_and_sizes_as_herokus_cli_shows_them() -> None:
    assert parse_name("b001") == 1 and parse_name("a012") == 12 and parse_name("r3") == 3
    assert parse_name("x001") is None and parse_name("b") is None
    assert filesize(512) == "512.00B" and filesize(6678) == "6.52KB" and filesize(3 * 1024**2) == "3.00MB"
