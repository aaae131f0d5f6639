"""The scheduler's clock and the autoscaling rule, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from common.errors import PaasError
from paas.autoscale.policy import Goal, Step, decide, p95
from paas.scheduler.schedule import Schedule, parse_schedule


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("every", "at", "now", "expected", "describe"),
    [
        ("10m", None, "2026-01-01T10:03:00", "2026-01-01T10:10:00", "Every 10 minutes"),
        ("10m", None, "2026-01-01T10:10:00", "2026-01-01T10:20:00", "Every 10 minutes"),
        ("1h", ":30", "2026-01-01T10:31:00", "2026-01-01T11:30:00", "Every hour at :30"),
        ("1h", "20", "2026-01-01T10:05:00", "2026-01-01T10:20:00", "Every hour at :20"),
        ("1d", "02:30", "2026-01-01T10:00:00", "2026-01-02T02:30:00", "Every day at 02:30 UTC"),
        ("daily", "23:50 UTC", "2026-01-01T23:49:59", "2026-01-01T23:50:00", "Every day at 23:50 UTC"),
    ],
)
def test_next_run_falls_on_the_utc_clock(
    every: str, at: str | None, now: str, expected: str, describe: str
) -> None:
    schedule = parse_schedule(every, at)
    assert schedule.describe() == describe
    assert schedule.next_after(epoch(now), 1.0) == epoch(expected)


def test_time_scale_shortens_every_period() -> None:
    every_10m = Schedule(10)
    assert every_10m.period(60.0) == 10.0
    assert every_10m.next_after(1_000_003.0, 60.0) == 1_000_010.0
    hourly = Schedule(60, 30)  # every 60 s, at 30 s past each scaled "hour"
    assert hourly.next_after(1_000_000.0, 60.0) == 1_000_050.0  # 30 + 60 k: 999_990, 1_000_050


@pytest.mark.parametrize(
    ("every", "at", "message"),
    [
        ("5m", None, "Invalid frequency '5m'"),
        ("10m", ":10", "--at applies to hourly"),
        ("1h", "1:30", "Invalid time '1:30' for an hourly job"),
        ("1d", "24:00", "Invalid time '24:00' for a daily job"),
        ("1d", "02:35", "minutes must be a multiple of 10"),
    ],
)
def test_bad_schedules_are_refused(every: str, at: str | None, message: str) -> None:
    with pytest.raises(PaasError) as caught:
        parse_schedule(every, at)
    assert caught.value.status == 422 and message in caught.value.message


def test_p95_is_the_nearest_rank() -> None:
    assert p95([5]) == 5
    assert p95(list(range(1, 101))) == 95
    assert p95([10] * 19 + [1000]) == 10  # one slow request in 20 is the 5 % p95 ignores
    assert p95([10] * 18 + [1000] * 2) == 1000


GOAL = Goal(1, 3, 200)
SLOW = [500] * 20
FAST = [20] * 20


def test_one_step_up_when_over_the_goal_after_the_cooldown() -> None:
    assert decide(GOAL, 1, SLOW, since_step=10, cooldown=5) == Step(2, "p95 500 ms > goal 200 ms")
    assert decide(GOAL, 1, SLOW, since_step=4, cooldown=5) is None  # cooling down
    assert decide(GOAL, 3, SLOW, since_step=10, cooldown=5) is None  # at the max
    assert decide(GOAL, 1, SLOW[:5], since_step=10, cooldown=5) is None  # too few requests to judge


def test_down_more_slowly_than_up() -> None:
    assert decide(GOAL, 2, FAST, since_step=9, cooldown=5) is None  # one cool-down is not enough
    assert decide(GOAL, 2, FAST, since_step=10, cooldown=5) == Step(1, "p95 20 ms < half the goal 200 ms")
    assert decide(GOAL, 3, [], since_step=10, cooldown=5) == Step(2, "no requests, goal 200 ms")
    assert decide(GOAL, 1, [], since_step=100, cooldown=5) is None  # at the min
    assert decide(GOAL, 2, [150] * 20, since_step=100, cooldown=5) is None  # under the goal, not by half


def test_out_of_range_goes_to_the_bound_at_once() -> None:
    assert decide(Goal(2, 4, 200), 1, [], since_step=0, cooldown=60) == Step(2, "below the minimum 2")
    assert decide(Goal(1, 2, 200), 5, SLOW, since_step=0, cooldown=60) == Step(2, "above the maximum 2")
