"""Heroku Key-Value Store plans (memory, connections) and the eviction policies it offers.

Figures from Heroku's "Key-Value Store Technical Characterization" (RAM and connection limit
per plan); Private and Shield plans need a Private Space and are not offered here.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.errors import invalid

MB = 1024 * 1024


@dataclass(frozen=True)
class Plan:
    name: str
    memory_mb: int
    connections: int

    @property
    def title(self) -> str:
        """What `redis:info` shows: `Mini`, `Premium 0`."""
        tier, _, number = self.name.partition("-")
        return f"{tier.capitalize()} {number}".strip()

    @property
    def memory_bytes(self) -> int:
        return self.memory_mb * MB


PLANS: dict[str, Plan] = {
    p.name: p
    for p in (
        Plan("mini", 25, 20),
        Plan("premium-0", 50, 40),
        Plan("premium-1", 100, 80),
        Plan("premium-2", 250, 200),
        Plan("premium-3", 500, 400),
        Plan("premium-4", 750, 700),
        Plan("premium-5", 1024, 1000),
        Plan("premium-7", 7 * 1024, 10000),
        Plan("premium-9", 10 * 1024, 25000),
        Plan("premium-10", 25 * 1024, 40000),
        Plan("premium-12", 50 * 1024, 65000),
        Plan("premium-14", 100 * 1024, 65000),
    )
}
DEFAULT_PLAN = "mini"

# Heroku's defaults: no eviction (writes fail when memory is full), idle connections closed
# after 300 seconds.
DEFAULT_POLICY = "noeviction"
DEFAULT_TIMEOUT = 300
MAX_TIMEOUT = 2**31 - 1  # what redis-server accepts

# `heroku redis:maxmemory --help`: each policy and what it does
POLICIES: dict[str, str] = {
    "noeviction": "returns errors when memory limit is reached",
    "allkeys-lfu": "removes less frequently used keys first",
    "volatile-lfu": "removes less frequently used keys first that have an expiry set",
    "allkeys-lru": "removes less recently used keys first",
    "volatile-lru": "removes less recently used keys first that have an expiry set",
    "allkeys-random": "evicts random keys",
    "volatile-random": "evicts random keys but only those that have an expiry set",
    "volatile-ttl": "only evicts keys with an expiry set and a short TTL",
}


def check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise invalid(f"Invalid policy {policy!r}. Policies: {', '.join(POLICIES)}.")
    return policy


def check_timeout(seconds: int) -> int:
    if not 0 <= seconds <= MAX_TIMEOUT:
        raise invalid(f"The timeout is a number of seconds from 0 (never) to {MAX_TIMEOUT}, not {seconds}.")
    return seconds
