"""The autoscaling rule, as a pure function of the monitor, the formation and the samples.

Heroku's rule: web dynos only, one dyno added or removed per event, events at least a minute
apart (the cool-down), scaling down less eagerly than up. Its engine estimates the dynos needed
for the throughput over the past hour; ours compares the router's p95 service time since the
last step (at most `window` seconds back) with the goal:

- out of the range (the range was just set or the formation was scaled by hand): go to the
  nearest bound at once;
- p95 over the goal, with enough requests to judge, below the max: one dyno more;
- p95 under half the goal, or no requests at all, above the min, and twice the cool-down since
  the last step: one dyno less.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_SAMPLES = 10  # fewer requests say nothing about a p95


@dataclass(frozen=True)
class Goal:
    min_quantity: int
    max_quantity: int
    p95_ms: int


@dataclass(frozen=True)
class Step:
    quantity: int  # the new web quantity
    reason: str  # why, as the app[api] line says it


def p95(values: list[int]) -> int:
    """Nearest-rank 95th percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-95 * len(ordered) // 100))  # ceil(0.95 n)
    return ordered[rank - 1]


def decide(goal: Goal, quantity: int, samples: list[int], since_step: float, cooldown: float) -> Step | None:
    """`samples`: service times (ms) since the last step within the window; `since_step`:
    seconds since the last step."""
    if quantity < goal.min_quantity:
        return Step(goal.min_quantity, f"below the minimum {goal.min_quantity}")
    if quantity > goal.max_quantity:
        return Step(goal.max_quantity, f"above the maximum {goal.max_quantity}")
    if since_step < cooldown:
        return None
    if not samples:
        if quantity > goal.min_quantity and since_step >= 2 * cooldown:
            return Step(quantity - 1, f"no requests, goal {goal.p95_ms} ms")
        return None
    observed = p95(samples)
    if observed > goal.p95_ms and len(samples) >= MIN_SAMPLES and quantity < goal.max_quantity:
        return Step(quantity + 1, f"p95 {observed} ms > goal {goal.p95_ms} ms")
    if observed * 2 < goal.p95_ms and quantity > goal.min_quantity and since_step >= 2 * cooldown:
        return Step(quantity - 1, f"p95 {observed} ms < half the goal {goal.p95_ms} ms")
    return None
