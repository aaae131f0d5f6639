"""Kafka add-on endpoints, shaped after Heroku's data API (`/data/kafka/v0/clusters/<addon>`),
behind `kafka:*` commands and the TUI's Kafka screen.

    GET    /apps/{app}/kafka                                  every Kafka add-on of the app (kafka:info)
    GET    /apps/{app}/kafka/{addon}                          one cluster: plan, limits, usage, traffic
    GET    /apps/{app}/kafka/{addon}/metrics                  per-topic traffic, data size, group lag
    GET    /apps/{app}/kafka/{addon}/topics                   topics (kafka:topics)
    POST   /apps/{app}/kafka/{addon}/topics                   {"topic": {"name", "partition_count", "retention_time_ms", "compaction"}}
    GET    /apps/{app}/kafka/{addon}/topics/{topic}           partitions, offsets, config
    PATCH  /apps/{app}/kafka/{addon}/topics/{topic}           {"topic": {"retention_time_ms"?, "compaction"?}}
    DELETE /apps/{app}/kafka/{addon}/topics/{topic}
    POST   /apps/{app}/kafka/{addon}/topics/{topic}/messages  {"value", "key"?, "partition"?} (kafka:topics:write)
    GET    /apps/{app}/kafka/{addon}/topics/{topic}/tail      NDJSON stream of records (kafka:topics:tail)
    GET    /apps/{app}/kafka/{addon}/consumer_groups
    POST   /apps/{app}/kafka/{addon}/consumer_groups          {"consumer_group": {"name"}}
    DELETE /apps/{app}/kafka/{addon}/consumer_groups/{group}
    POST   /apps/{app}/kafka/{addon}/credentials/reset        new certificate + password, new config vars
    GET    /kafka                                             the broker: ports, counters (requests, bad frames, ...)
    GET    /kafka/tenants                                     every tenant's metrics, topics and groups (the TUI)

`{addon}` is the add-on name or its attachment (`KAFKA`, `KAFKA_URL`, `HEROKU_KAFKA_RED`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from common.errors import invalid, not_found
from paas.api.deps import Services, Svc
from paas.api.presenters_kafka import (
    cluster_json,
    group_json,
    metrics_json,
    topic_detail_json,
    topic_json,
    written_json,
)

router = APIRouter()
SERVICE = "heroku-kafka"


class TopicSpec(BaseModel):
    name: str | None = None
    partition_count: int | None = None
    retention_time_ms: int | str | None = None
    compaction: bool | None = None
    replication_factor: int | None = None


class TopicBody(BaseModel):
    topic: TopicSpec


class GroupSpec(BaseModel):
    name: str


class GroupBody(BaseModel):
    consumer_group: GroupSpec


class MessageBody(BaseModel):
    value: str
    key: str | None = None
    partition: int | None = None


def _kafka_addons(svc: Services, app: str) -> list[dict[str, Any]]:
    addons = [a for a in svc.addons.list(app) if a["addon_service"]["name"] == SERVICE]
    return sorted(addons, key=lambda a: (a["attachment"] != "KAFKA", a["name"]))


def _tenant(svc: Services, app: str, ident: str) -> tuple[dict[str, Any], str]:
    """(add-on json, tenant id) for an add-on name or attachment of this app."""
    ident = ident[:-4] if ident.upper().endswith("_URL") else ident
    addon, data = svc.addons.provider_data(app, ident)
    if addon["addon_service"]["name"] != SERVICE:
        raise not_found("Kafka add-on")
    return addon, str(data.get("tenant", addon["name"]))


def _retention(value: int | str | None) -> int | None:
    if value is None:
        return None
    from common.durations import parse_duration_ms

    return parse_duration_ms(value)


async def _cluster(svc: Services, addon: dict[str, Any], tenant: str) -> dict[str, Any]:
    info = cluster_json(await svc.kafka.info(tenant))
    return {"addon": addon, "attachment": addon["attachment"], "config_vars": addon["config_vars"], **info}


@router.get("/kafka")
async def broker_status(svc: Svc) -> dict[str, Any]:
    return svc.kafka.status()


@router.get("/kafka/tenants")
async def tenants_metrics(svc: Svc) -> list[dict[str, Any]]:
    kafka = svc.kafka
    return [metrics_json(await kafka.metrics(tid)) for tid in kafka.tenant_ids()]


@router.get("/apps/{app}/kafka")
async def kafka_list(svc: Svc, app: str) -> list[dict[str, Any]]:
    out = []
    for addon in _kafka_addons(svc, app):
        row, tenant = _tenant(svc, app, addon["name"])
        out.append(await _cluster(svc, row, tenant))
    return out


@router.get("/apps/{app}/kafka/{addon}")
async def kafka_info(svc: Svc, app: str, addon: str) -> dict[str, Any]:
    row, tenant = _tenant(svc, app, addon)
    return await _cluster(svc, row, tenant)


@router.get("/apps/{app}/kafka/{addon}/metrics")
async def kafka_metrics(svc: Svc, app: str, addon: str) -> dict[str, Any]:
    _row, tenant = _tenant(svc, app, addon)
    return metrics_json(await svc.kafka.metrics(tenant))


@router.get("/apps/{app}/kafka/{addon}/topics")
async def topics_list(svc: Svc, app: str, addon: str) -> dict[str, Any]:
    row, tenant = _tenant(svc, app, addon)
    kafka = svc.kafka
    t = kafka.tenant(tenant)
    from paas.kafka.plans import PLANS

    return {
        "attachment": row["attachment"],
        "addon": row["name"],
        "prefix": t.prefix,
        "limits": PLANS[t.plan].limits(),
        "topics": [topic_json(t) for t in await kafka.list_topics(tenant)],
    }


@router.post("/apps/{app}/kafka/{addon}/topics", status_code=201)
async def topics_create(svc: Svc, app: str, addon: str, body: TopicBody) -> dict[str, Any]:
    row, tenant = _tenant(svc, app, addon)
    spec = body.topic
    if not spec.name:
        raise invalid("topic.name is required.")
    if spec.replication_factor not in (None, 3):
        raise invalid("Basic plans use a replication factor of 3; it cannot be changed.")
    topic = await svc.kafka.create_topic(
        tenant, spec.name, spec.partition_count, _retention(spec.retention_time_ms), bool(spec.compaction)
    )
    svc.logs.api_line(row["app"]["name"], f"Create Kafka topic {topic.name} by user local@paas")
    return topic_json(topic)


@router.get("/apps/{app}/kafka/{addon}/topics/{topic}")
async def topics_info(svc: Svc, app: str, addon: str, topic: str) -> dict[str, Any]:
    _row, tenant = _tenant(svc, app, addon)
    return topic_detail_json(await svc.kafka.topic_info(tenant, topic))


@router.patch("/apps/{app}/kafka/{addon}/topics/{topic}")
async def topics_update(svc: Svc, app: str, addon: str, topic: str, body: TopicBody) -> dict[str, Any]:
    _row, tenant = _tenant(svc, app, addon)
    kafka = svc.kafka
    spec = body.topic
    result = None
    if spec.retention_time_ms is not None:
        result = await kafka.set_retention(tenant, topic, _retention(spec.retention_time_ms) or 0)
    if spec.compaction is not None:
        result = await kafka.set_compaction(tenant, topic, spec.compaction)
    if result is None:
        raise invalid("Nothing to change: give topic.retention_time_ms or topic.compaction.")
    return topic_json(result)


@router.delete("/apps/{app}/kafka/{addon}/topics/{topic}")
async def topics_destroy(svc: Svc, app: str, addon: str, topic: str) -> dict[str, Any]:
    row, tenant = _tenant(svc, app, addon)
    kafka = svc.kafka
    full = kafka.full_name(kafka.tenant(tenant), topic)
    await kafka.delete_topic(tenant, topic)
    svc.logs.api_line(row["app"]["name"], f"Destroy Kafka topic {full} by user local@paas")
    return {"name": full, "deleted": True}


@router.post("/apps/{app}/kafka/{addon}/topics/{topic}/messages", status_code=201)
async def topics_write(svc: Svc, app: str, addon: str, topic: str, body: MessageBody) -> dict[str, Any]:
    _row, tenant = _tenant(svc, app, addon)
    written = svc.kafka.write(
        tenant, topic, body.value.encode(), None if body.key is None else body.key.encode(), body.partition
    )
    return written_json(written)


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", errors="replace")


@router.get("/apps/{app}/kafka/{addon}/topics/{topic}/tail")
async def topics_tail(
    svc: Svc,
    app: str,
    addon: str,
    topic: str,
    from_beginning: bool = False,
    limit: int | None = None,
    idle_timeout: float | None = None,
) -> StreamingResponse:
    _row, tenant = _tenant(svc, app, addon)
    kafka = svc.kafka
    await kafka.topic_info(tenant, topic)  # 404 before the stream starts

    async def stream() -> AsyncIterator[bytes]:
        sent = 0
        async for rec in kafka.tail(tenant, topic, from_beginning, idle_timeout):
            line = {
                "topic": rec.topic,
                "partition": rec.partition,
                "offset": rec.offset,
                "timestamp": rec.timestamp,
                "key": _text(rec.key),
                "value": _text(rec.value),
                "length": len(rec.value) if rec.value is not None else 0,
                "error": rec.error,
            }
            yield (json.dumps(line) + "\n").encode()
            sent += 1
            if limit is not None and sent >= limit:
                return

    return StreamingResponse(stream(), media_type="application/x-ndjson")


@router.get("/apps/{app}/kafka/{addon}/consumer_groups")
async def groups_list(svc: Svc, app: str, addon: str) -> dict[str, Any]:
    row, tenant = _tenant(svc, app, addon)
    kafka = svc.kafka
    return {
        "attachment": row["attachment"],
        "prefix": kafka.tenant(tenant).prefix,
        "consumer_groups": [group_json(g) for g in await kafka.list_groups(tenant)],
    }


@router.post("/apps/{app}/kafka/{addon}/consumer_groups", status_code=201)
async def groups_create(svc: Svc, app: str, addon: str, body: GroupBody) -> dict[str, Any]:
    _row, tenant = _tenant(svc, app, addon)
    return group_json(await svc.kafka.create_group(tenant, body.consumer_group.name))


@router.delete("/apps/{app}/kafka/{addon}/consumer_groups/{group}")
async def groups_destroy(svc: Svc, app: str, addon: str, group: str) -> dict[str, Any]:
    _row, tenant = _tenant(svc, app, addon)
    kafka = svc.kafka
    full = kafka.full_name(kafka.tenant(tenant), group)
    await kafka.delete_group(tenant, group)
    return {"name": full, "deleted": True}


@router.post("/apps/{app}/kafka/{addon}/credentials/reset")
async def credentials_reset(svc: Svc, app: str, addon: str) -> dict[str, Any]:
    row, tenant = _tenant(svc, app, addon)
    kafka = svc.kafka
    creds = await kafka.reset_credentials(tenant, finish=False)
    attachment = row["attachment"]
    config = {attachment + key[len("KAFKA") :]: value for key, value in kafka.config_vars(creds).items()}
    await svc.releases.update_config(  # an add-on's own vars: no release phase, as on Heroku
        row["app"]["name"], config, f"Reset {attachment} credentials ({row['name']})", by_addon=True
    )
    await kafka.finish_reset(tenant)  # only now is the old principal emptied
    return {"addon": row["name"], "attachment": attachment, "config_vars": sorted(config)}
