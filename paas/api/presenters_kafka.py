"""The Kafka service's typed answers as the JSON of Heroku's Kafka data API (and the TUI's
`/kafka/tenants`)."""

from __future__ import annotations

from typing import Any

from paas.kafka.plans import REPLICATION_FACTOR
from paas.kafka.values import (
    ClusterInfo,
    GroupInfo,
    Rates,
    TenantMetrics,
    Throttle,
    TopicDetail,
    TopicInfo,
    Written,
)


def rates_json(r: Rates) -> dict[str, float | int]:
    return {
        "messages_in_per_sec": round(r.messages_in_per_sec, 2),
        "bytes_in_per_sec": round(r.bytes_in_per_sec, 2),
        "bytes_out_per_sec": round(r.bytes_out_per_sec, 2),
        "messages_in_total": r.messages_in_total,
        "bytes_in_total": r.bytes_in_total,
        "bytes_out_total": r.bytes_out_total,
    }


def topic_json(t: TopicInfo) -> dict[str, Any]:
    return {
        "name": t.name,
        "prefix_free_name": t.prefix_free_name,
        "partition_count": t.partition_count,
        "replication_factor": REPLICATION_FACTOR,
        "retention_time_ms": t.retention_ms,
        "compaction": t.compaction,
        "cleanup_policy": t.cleanup_policy,
        "data_size": t.data_size,
        "messages": t.messages,
        "created_at": t.created_at,
        **rates_json(t.rates),
    }


def throttle_json(t: Throttle | None) -> dict[str, Any] | None:
    """{"produce": {...}, "consume": {...}, "request": {...}}, each with the quota and the
    throttled responses, total and last throttle time, and when that last one was."""
    if t is None:
        return None
    return {
        name: {"quota": use.quota, **use.stats.to_json()}
        for name, use in (("produce", t.produce), ("consume", t.consume), ("request", t.request))
    }


def topic_detail_json(d: TopicDetail) -> dict[str, Any]:
    data = topic_json(d.topic)
    data["config"] = dict(d.config)
    data["throttle"] = throttle_json(d.throttle)
    if d.partitions is not None:
        data["partitions"] = [
            {
                "partition": p.partition,
                "log_start_offset": p.log_start_offset,
                "high_watermark": p.high_watermark,
                "size_bytes": p.size_bytes,
                "segments": p.segments,
            }
            for p in d.partitions
        ]
    return data


def group_json(g: GroupInfo) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": g.name,
        "state": g.state,
        "members": g.members,
        "protocol": g.protocol,
        "lag": g.lag,
        "partitions": [
            {
                "topic": p.topic,
                "partition": p.partition,
                "committed_offset": p.committed_offset,
                "high_watermark": p.high_watermark,
                "lag": p.lag,
            }
            for p in g.partitions
        ],
    }
    if g.generation is not None:
        data["generation"] = g.generation
    return data


def metrics_json(m: TenantMetrics) -> dict[str, Any]:
    rates = m.rates
    return {
        "tenant": m.tenant,
        "app": m.app,
        "plan": m.plan,
        "prefix": m.prefix,
        "principal": m.principal,
        "messages_in_per_sec": round(rates.messages_in_per_sec, 2),
        "bytes_in_per_sec": round(rates.bytes_in_per_sec, 2),
        "bytes_out_per_sec": round(rates.bytes_out_per_sec, 2),
        "data_size": m.data_size,
        "data_size_limit": m.data_size_limit,
        "data_size_percent": round(100 * m.data_size / m.data_size_limit, 4),
        "topic_count": len(m.topics),
        "partition_replicas": m.partition_replicas,
        "limits": dict(m.limits),
        "throttle": throttle_json(m.throttle),
        "topics": [topic_json(t) for t in m.topics],
        "consumer_groups": [group_json(g) for g in m.groups],
    }


def cluster_json(c: ClusterInfo) -> dict[str, Any]:
    return {
        **metrics_json(c.metrics),
        "status": c.status,
        "version": c.version,
        "cluster": c.cluster,
        "created_at": c.created_at,
        "kafka_url": c.kafka_url,
        "sasl_bootstrap_servers": c.sasl_bootstrap_servers,
    }


def written_json(w: Written) -> dict[str, Any]:
    return {"topic": w.topic, "partition": w.partition, "offset": w.offset}
