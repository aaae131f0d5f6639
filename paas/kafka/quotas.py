"""Client quotas as Kafka has them: `producer_byte_rate`, `consumer_byte_rate`, `request_percentage`.

Quotas are set per entity with AlterClientQuotas: a user, a client id, or both, each a name or the
default (None), and the most specific entity that sets a key applies (Kafka's precedence: user +
client id, user + default client, user, default user + client id, default user + default client,
default user, client id, default client). Connections that resolve to the same entity share one
budget.

Each budget is a token bucket holding one second of its rate: produced or fetched bytes (or, for
`request_percentage`, the handler time in percent-seconds) take tokens; a budget in debt owes
`debt / rate` seconds. The broker reports that as `throttle_time_ms` and does not read the
connection again for that long (KIP-219: clients that honour the field wait on their side too,
those that don't are held anyway).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

PRODUCER_BYTE_RATE = "producer_byte_rate"
CONSUMER_BYTE_RATE = "consumer_byte_rate"
REQUEST_PERCENTAGE = "request_percentage"
KEYS = (PRODUCER_BYTE_RATE, CONSUMER_BYTE_RATE, REQUEST_PERCENTAGE)
USER, CLIENT_ID = "user", "client-id"

Entity = tuple[tuple[str, str | None], ...]  # sorted (entity type, name or None for the default)


class QuotaError(ValueError):
    """An entity or key Kafka would refuse (INVALID_REQUEST with this message)."""


def entity(user: str | bool | None = False, client_id: str | bool | None = False) -> Entity:
    """`False` leaves a component out; `None` means its default."""
    parts: list[tuple[str, str | None]] = []
    if user is not False:
        parts.append((USER, None if user is None or user is True else str(user)))
    if client_id is not False:
        parts.append((CLIENT_ID, None if client_id is None or client_id is True else str(client_id)))
    return tuple(sorted(parts))


def _precedence(user: str, client_id: str) -> list[tuple[Entity, Entity]]:
    """(entity to look up, budget it charges) from most to least specific."""
    return [
        (entity(user, client_id), entity(user, client_id)),
        (entity(user, None), entity(user, client_id)),
        (entity(user), entity(user)),
        (entity(None, client_id), entity(user, client_id)),
        (entity(None, None), entity(user, client_id)),
        (entity(None), entity(user)),
        (entity(client_id=client_id), entity(client_id=client_id)),
        (entity(client_id=None), entity(client_id=client_id)),
    ]


@dataclass
class Bucket:
    rate: float  # units per second
    burst_seconds: float = 1.0
    tokens: float = field(init=False)
    last: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.rate * self.burst_seconds

    def charge(self, amount: float, now: float) -> int:
        """Take `amount`; returns the throttle in ms the debt now amounts to (0 within quota)."""
        elapsed = now - self.last
        if elapsed > 0:
            self.tokens = min(self.rate * self.burst_seconds, self.tokens + elapsed * self.rate)
            self.last = now
        self.tokens -= amount
        if self.tokens >= 0:
            return 0
        return math.ceil(-self.tokens / self.rate * 1000)


@dataclass
class ThrottleStats:
    throttled: int = 0  # responses that carried a throttle
    throttle_ms_total: int = 0
    last_throttle_ms: int = 0
    last_throttled_at: float = 0.0

    def record(self, ms: int) -> None:
        self.throttled += 1
        self.throttle_ms_total += ms
        self.last_throttle_ms = ms
        self.last_throttled_at = time.time()

    def to_json(self) -> dict[str, float | int]:
        return {
            "throttled_responses": self.throttled,
            "throttle_ms_total": self.throttle_ms_total,
            "last_throttle_ms": self.last_throttle_ms,
            "last_throttled_at": self.last_throttled_at,
        }


class QuotaManager:
    def __init__(self) -> None:
        self.configs: dict[Entity, dict[str, float]] = {}
        self.keys: frozenset[str] = frozenset()  # the quota keys set on any entity
        self._buckets: dict[tuple[str, Entity], Bucket] = {}
        self._resolved: dict[tuple[str, str, str], Bucket | None] = {}
        self.stats: dict[tuple[str, str], ThrottleStats] = {}  # (user, key) -> what the user was throttled

    # ------------------------------------------------------------ admin
    def load(self, configs: dict[Entity, dict[str, float]]) -> None:
        self.configs = {e: dict(v) for e, v in configs.items() if v}
        self._forget()

    def alter(
        self, target: Entity, changes: list[tuple[str, float, bool]], validate_only: bool = False
    ) -> None:
        """changes: (key, value, remove)."""
        types = [t for t, _n in target]
        if not types or len(set(types)) != len(types) or not set(types) <= {USER, CLIENT_ID}:
            raise QuotaError("a quota entity is a user, a client-id, or both")
        for key, value, remove in changes:
            if key not in KEYS:
                raise QuotaError(f"unknown quota key {key!r}; known: {', '.join(KEYS)}")
            if not remove and not value > 0:
                raise QuotaError(f"{key} must be positive")
        if validate_only:
            return
        values = self.configs.setdefault(target, {})
        for key, value, remove in changes:
            if remove:
                values.pop(key, None)
            else:
                values[key] = float(value)
        if not values:
            del self.configs[target]
        self._forget()

    def describe(
        self, match: list[tuple[str, int, str | None]], strict: bool
    ) -> list[tuple[Entity, dict[str, float]]]:
        """match: (entity type, match type 0 exact / 1 default / 2 any, name)."""
        out = []
        for ent, values in sorted(self.configs.items(), key=lambda kv: str(kv[0])):
            components = dict(ent)
            if strict and set(components) != {t for t, _m, _n in match}:
                continue
            if all(_component_matches(components, t, m, n) for t, m, n in match):
                out.append((ent, dict(values)))
        return out

    def _forget(self) -> None:
        self.keys = frozenset(k for values in self.configs.values() for k in values)
        self._buckets.clear()
        self._resolved.clear()

    # ------------------------------------------------------------ enforcement
    def _bucket(self, key: str, user: str, client_id: str) -> Bucket | None:
        """The budget this user/client charges for `key` (cached until the quotas change)."""
        cache_key = (key, user, client_id)
        if cache_key in self._resolved:
            return self._resolved[cache_key]
        bucket = None
        for lookup, budget in _precedence(user, client_id):
            rate = self.configs.get(lookup, {}).get(key)
            if rate is not None:
                bucket = self._buckets.get((key, budget))
                if bucket is None:
                    if len(self._buckets) > 10_000:  # bounded: endless client ids under a default quota
                        self._forget()
                    bucket = self._buckets[(key, budget)] = Bucket(rate)
                break
        if len(self._resolved) > 10_000:
            self._resolved.clear()
        self._resolved[cache_key] = bucket
        return bucket

    def limited(self, user: str, client_id: str) -> bool:
        return any(self._bucket(k, user, client_id) is not None for k in self.keys)

    def charge(self, key: str, user: str, client_id: str, amount: float, now: float | None = None) -> int:
        """Charge `amount` to the budget that applies; returns the throttle time in ms."""
        if key not in self.keys:
            return 0
        bucket = self._bucket(key, user, client_id)
        if bucket is None:
            return 0
        delay = bucket.charge(amount, time.monotonic() if now is None else now)
        if delay:
            stats = self.stats.get((user, key))
            if stats is None:
                stats = self.stats[(user, key)] = ThrottleStats()
            stats.record(delay)
        return delay

    def owed(self, key: str, user: str, client_id: str) -> int:
        """Throttle still owed without charging anything (a throttled Fetch returns no data)."""
        return self.charge(key, user, client_id, 0)

    def user_stats(self, user: str) -> dict[str, ThrottleStats]:
        """The throttling each quota key caused for `user` (a copy: the counters keep moving)."""
        return {key: replace(s) for (u, key), s in self.stats.items() if u == user}


def _component_matches(
    components: dict[str, str | None], etype: str, match_type: int, name: str | None
) -> bool:
    if etype not in components:
        return False
    value = components[etype]
    if match_type == 0:
        return value is not None and value == name
    if match_type == 1:
        return value is None
    return True
