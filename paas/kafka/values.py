"""What the Kafka service answers, as typed values (JSON is made at the API edge, in
`paas.api.presenters_kafka`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .quotas import ThrottleStats


@dataclass(frozen=True)
class Rates:
    """A topic's (or a tenant's summed) traffic: rates over the recent window, and totals."""

    messages_in_per_sec: float = 0.0
    bytes_in_per_sec: float = 0.0
    bytes_out_per_sec: float = 0.0
    messages_in_total: int = 0
    bytes_in_total: int = 0
    bytes_out_total: int = 0

    def __add__(self, other: Rates) -> Rates:
        return Rates(
            self.messages_in_per_sec + other.messages_in_per_sec,
            self.bytes_in_per_sec + other.bytes_in_per_sec,
            self.bytes_out_per_sec + other.bytes_out_per_sec,
            self.messages_in_total + other.messages_in_total,
            self.bytes_in_total + other.bytes_in_total,
            self.bytes_out_total + other.bytes_out_total,
        )


@dataclass(frozen=True)
class TopicInfo:
    name: str
    prefix_free_name: str
    partition_count: int
    retention_ms: int
    compaction: bool
    data_size: int = 0
    messages: int = 0
    created_at: float | None = None
    rates: Rates = field(default_factory=Rates)

    @property
    def cleanup_policy(self) -> str:
        return "compact,delete" if self.compaction else "delete"


@dataclass(frozen=True)
class PartitionInfo:
    partition: int
    log_start_offset: int
    high_watermark: int
    size_bytes: int
    segments: int


@dataclass(frozen=True)
class QuotaUse:
    """One quota of a tenant (None: no byte quota, as for request time) and how often it bit."""

    quota: float | None
    stats: ThrottleStats


@dataclass(frozen=True)
class Throttle:
    produce: QuotaUse
    consume: QuotaUse
    request: QuotaUse


@dataclass(frozen=True)
class TopicDetail:
    """`kafka:topics:info`: the topic, its configs as the cluster reports them, its partitions
    (embedded cluster only) and how its tenant is throttled."""

    topic: TopicInfo
    config: Mapping[str, str]
    throttle: Throttle | None
    partitions: tuple[PartitionInfo, ...] | None


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed_offset: int
    high_watermark: int
    lag: int | None  # None: nothing committed yet


@dataclass(frozen=True)
class GroupInfo:
    name: str
    state: str
    members: int
    protocol: str | None
    lag: int = 0
    partitions: tuple[PartitionLag, ...] = ()
    generation: int | None = None  # known on the embedded cluster only


@dataclass(frozen=True)
class TenantMetrics:
    """One tenant (one Kafka add-on): plan, usage against it, traffic, topics and groups."""

    tenant: str
    app: str
    plan: str
    prefix: str
    principal: str
    data_size_limit: int
    limits: Mapping[str, object]
    throttle: Throttle | None
    topics: tuple[TopicInfo, ...]
    groups: tuple[GroupInfo, ...]
    partition_replicas: int

    @property
    def data_size(self) -> int:
        return sum(t.data_size for t in self.topics)

    @property
    def rates(self) -> Rates:
        total = Rates()
        for t in self.topics:
            total = total + t.rates
        return total


@dataclass(frozen=True)
class ClusterInfo:
    """What `kafka:info` shows: the tenant's metrics and how to reach the cluster."""

    metrics: TenantMetrics
    status: str
    version: str
    cluster: str
    created_at: float
    kafka_url: str
    sasl_bootstrap_servers: str


@dataclass(frozen=True)
class Record:
    """One stored record (or a row naming a corrupt batch, with `error`)."""

    topic: str
    partition: int
    offset: int
    timestamp: int | None = None
    key: bytes | None = None
    value: bytes | None = None
    error: str | None = None


@dataclass(frozen=True)
class Written:
    topic: str
    partition: int
    offset: int
