"""Heroku Kafka "Basic" (multi-tenant) plans and their limits.

Byte rates and capacity are Heroku's published figures. Heroku counts partitions as
*replicas* (partitions × replication factor 3, "N / M partition replicas"), so the simulator
does too, although it stores one copy. Topic counts and retention bounds are not published
for Basic; the values here are the simulator's.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.durations import DAY_MS, HOUR_MS
from common.errors import invalid

KB = 1024
GB = 1024**3
REPLICATION_FACTOR = 3


@dataclass(frozen=True)
class Plan:
    name: str
    produce_bytes_per_sec: int
    consume_bytes_per_sec: int
    capacity_bytes: int
    max_partition_replicas: int
    max_topics: int
    default_partitions: int = 8
    default_retention_ms: int = DAY_MS
    min_retention_ms: int = HOUR_MS
    max_retention_ms: int = 7 * DAY_MS

    def limits(self) -> dict[str, int]:
        """The `limits` object of Heroku's data API."""
        return {
            "max_topics": self.max_topics,
            "max_partition_replica_count": self.max_partition_replicas,
            "data_size_limit_bytes": self.capacity_bytes,
            "produce_bytes_per_sec": self.produce_bytes_per_sec,
            "consume_bytes_per_sec": self.consume_bytes_per_sec,
            "default_retention_ms": self.default_retention_ms,
            "minimum_retention_ms": self.min_retention_ms,
            "maximum_retention_ms": self.max_retention_ms,
            "default_partitions": self.default_partitions,
        }


PLANS: dict[str, Plan] = {
    "basic-0": Plan("basic-0", 64 * KB, 256 * KB, 4 * GB, 240, 40),
    "basic-1": Plan("basic-1", 512 * KB, 2048 * KB, 32 * GB, 480, 80),
    "basic-2": Plan("basic-2", 4096 * KB, 16384 * KB, 64 * GB, 960, 160),
}


def plan(name: str) -> Plan:
    try:
        return PLANS[name]
    except KeyError:
        raise invalid(f"Unknown Kafka plan {name!r}. Plans: {', '.join(PLANS)}.") from None
