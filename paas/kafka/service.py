"""KafkaService: the shared multi-tenant broker and its management operations.

The daemon starts one; the Kafka add-on provider creates a tenant per add-on; the API calls
the topic / group / metrics methods (they raise `PaasError` with Heroku-like messages).

    svc = KafkaService(settings, bus, local_ca(settings))
    await svc.start()                  # listeners: svc.port (SASL_PLAINTEXT/PLAINTEXT), svc.tls_port (mTLS)
    creds = svc.create_tenant("kafka-shaped-12345", "myapp", "basic-0")
    svc.create_topic("kafka-shaped-12345", "events", partitions=4)   # -> "shaped-12345.events"
    svc.create_group("kafka-shaped-12345", "workers")
    ...
    await svc.stop()

State lives under `settings.kafka_dir`: `registry.json` (tenants, topics, groups),
`offsets.journal` (committed offsets), `data/<topic>-<partition>/` (log segments),
`.clean_shutdown` (present only between a clean stop and the next start).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import random
import re
import secrets
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from common.ca import LocalCA, peer_identity
from common.config import LOOPBACK, Settings
from common.errors import PaasError, StartupError, conflict, invalid, not_found
from common.events import EventBus

from .auth import Principal
from .broker import Broker, Session
from .groups import GroupCoordinator
from .log import OffsetOutOfRange
from .plans import PLANS, REPLICATION_FACTOR, Plan, plan
from .records import CorruptBatch, build_batch, decode_batch, iter_headers, validate_produced
from .registry import Group, OffsetStore, Registry, Tenant, Topic
from .server import Listener
from .storage import LogManager

log = logging.getLogger("paas.kafka")

TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")
MAX_PARTITIONS_PER_TOPIC = 256


@dataclass(frozen=True)
class TenantCredentials:
    tenant: Tenant
    client_cert: str
    client_key: str
    trusted_cert: str


class KafkaService:
    def __init__(self, settings: Settings, bus: EventBus, ca: LocalCA):
        self.settings = settings
        self.bus = bus
        self.dir = settings.kafka_dir
        self.registry = Registry(self.dir / "registry.json")
        self.offsets = OffsetStore(self.dir / "offsets.journal")
        self.logs = LogManager(self.dir / "data", settings.kafka_segment_bytes)
        self.coordinator = GroupCoordinator(settings.kafka_group_initial_rebalance_delay)
        self.ca = ca
        self.broker = Broker(
            self.registry,
            self.logs,
            self.offsets,
            self.coordinator,
            self._admin_password,
            self._over_capacity,
        )
        self.broker.admin_create_topic = self._wire_create_topic
        self.broker.admin_delete_topic = self._drop_topic
        self.broker.admin_add_partitions = self._add_partitions
        max_conns = settings.kafka_max_connections
        self.plain = Listener(self.broker, "plain", max_conns)
        self.tls: Listener | None = None
        self._max_conns = max_conns
        self.port = 0
        self.tls_port = 0
        self.started = False
        self._retention_task: asyncio.Task[None] | None = None
        self._capacity_pending: set[str] = set()

    # ----------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        marker = self.dir / ".clean_shutdown"
        clean = marker.exists()
        self.registry.load()
        cut = self.offsets.load()
        if cut:
            log.warning("kafka: cut %d bytes of a torn offsets journal", cut)
        self.logs.open_all(self.registry.topics.values(), clean)
        with contextlib.suppress(FileNotFoundError):
            marker.unlink()
        self.ca.ensure()
        self._recount_tenant_bytes()
        self.port = await self._listen(
            self.plain, self.settings.kafka_port, "Kafka broker", "PAAS_KAFKA_PORT"
        )
        self.tls = Listener(
            self.broker,
            "tls",
            self._max_conns,
            self.ca.server_context("kafka", ["localhost", LOOPBACK], client_auth=True),
            self._identify,
        )
        self.tls_port = await self._listen(
            self.tls, self.settings.kafka_tls_port, "Kafka TLS listener", "PAAS_KAFKA_TLS_PORT"
        )
        self._retention_task = asyncio.create_task(
            self._retention_loop(self.settings.kafka_retention_check_interval)
        )
        self.started = True
        log.info(
            "kafka: listening on %s:%d (SASL_PLAINTEXT) and %s:%d (SSL)",
            LOOPBACK,
            self.port,
            LOOPBACK,
            self.tls_port,
        )

    async def _listen(self, listener: Listener, port: int, what: str, env: str) -> int:
        try:
            return await listener.start(LOOPBACK, port)
        except OSError as exc:
            if listener is not self.plain:
                await self.plain.stop()
            self.logs.close()
            self.offsets.close()
            if exc.errno == errno.EADDRINUSE:
                raise StartupError(
                    f"port {port} for the {what} is already in use on {LOOPBACK}; stop what uses it or set {env}"
                ) from None
            raise StartupError(f"cannot listen on {LOOPBACK}:{port} for the {what}: {exc.strerror}") from None

    async def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        if self._retention_task is not None:
            self._retention_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retention_task
        await self.plain.stop()
        if self.tls is not None:
            await self.tls.stop()
        self.coordinator.close()
        self.logs.close()
        self.offsets.close()
        self.registry.save()
        (self.dir / ".clean_shutdown").write_text(str(time.time()))

    def _admin_password(self) -> str | None:
        try:
            return self.settings.token_path.read_text().strip() or None
        except OSError:
            return None

    def _identify(self, ssl_object: ssl.SSLObject | None) -> Principal | None:
        identity = peer_identity(ssl_object)
        if identity is None:
            return None
        cn, serial = identity
        tenant = self.registry.tenants.get(cn)
        if tenant is None or tenant.cert_serial != serial:
            return None
        return Principal("tenant", tenant)

    # ------------------------------------------------------------- retention
    async def _retention_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                self.enforce_retention()
            except Exception:
                log.exception("kafka: retention check failed")

    def enforce_retention(self, now_ms: int | None = None, roll_compacted: bool = False) -> int:
        """Delete expired segments, compact compacted topics, then trim tenants over their plan's capacity."""
        topics = list(self.registry.topics.values())
        freed = self.logs.expire(topics, now_ms)
        freed += self.logs.compact(topics, now_ms, roll=roll_compacted)
        for tenant in list(self.registry.tenants.values()):
            freed += self._trim(tenant.id)
        self._recount_tenant_bytes()
        return freed

    def _trim(self, tenant_id: str) -> int:
        tenant = self.registry.tenants.get(tenant_id)
        if tenant is None:
            return 0
        freed = self.logs.enforce_capacity(
            self.registry.tenant_topics(tenant_id), PLANS[tenant.plan].capacity_bytes
        )
        if freed:
            log.info(
                "kafka: %s over its %s capacity: deleted %d bytes of the oldest data",
                tenant_id,
                tenant.plan,
                freed,
            )
        return freed

    def _over_capacity(self, tenant_id: str) -> None:
        if tenant_id in self._capacity_pending:
            return
        self._capacity_pending.add(tenant_id)

        def run() -> None:
            self._capacity_pending.discard(tenant_id)
            self._trim(tenant_id)
            self._recount_tenant_bytes()

        asyncio.get_running_loop().call_soon(run)

    def _recount_tenant_bytes(self) -> None:
        sizes: dict[str, int] = {}
        for topic in self.registry.topics.values():
            if topic.tenant is not None:
                sizes[topic.tenant] = sizes.get(topic.tenant, 0) + self.logs.topic_size(topic.name)
        self.broker.tenant_bytes = sizes

    # ---------------------------------------------------------------- tenants
    def create_tenant(self, tenant_id: str, app: str, plan_name: str) -> TenantCredentials:
        chosen = plan(plan_name)
        if tenant_id in self.registry.tenants:
            raise conflict(f"Kafka tenant {tenant_id} already exists.")
        prefix = self._new_prefix(tenant_id)
        issued = self.ca.issue_client(tenant_id)
        tenant = Tenant(
            id=tenant_id,
            app=app,
            plan=chosen.name,
            prefix=prefix,
            username=tenant_id,
            password=secrets.token_urlsafe(24),
            cert_serial=issued.serial,
        )
        self.registry.tenants[tenant_id] = tenant
        self.registry.save()
        self._emit(tenant, "tenant.created", tenant_id)
        return TenantCredentials(tenant, issued.cert_pem, issued.key_pem, self.ca.ca_pem)

    def _new_prefix(self, tenant_id: str) -> str:
        base = re.sub(r"[^a-z0-9-]", "-", tenant_id.lower())
        base = base.removeprefix("kafka-").strip("-") or "tenant"
        taken = {t.prefix for t in self.registry.tenants.values()}
        prefix = f"{base}."
        while prefix in taken or any(name.startswith(prefix) for name in self.registry.topics):
            prefix = f"{base}-{random.randint(1000, 9999)}."
        return prefix

    def reset_credentials(self, tenant_id: str) -> TenantCredentials:
        """`kafka:credentials --reset`: a new password and client certificate; the old ones stop working."""
        tenant = self.tenant(tenant_id)
        issued = self.ca.issue_client(tenant_id)
        tenant.password = secrets.token_urlsafe(24)
        tenant.cert_serial = issued.serial
        self.registry.save()
        self._disconnect(tenant_id)
        return TenantCredentials(tenant, issued.cert_pem, issued.key_pem, self.ca.ca_pem)

    def config_vars(self, creds: TenantCredentials) -> dict[str, str]:
        t = creds.tenant
        return {
            "KAFKA_URL": f"kafka+ssl://{LOOPBACK}:{self.tls_port}",
            "KAFKA_PREFIX": t.prefix,
            "KAFKA_TRUSTED_CERT": creds.trusted_cert,
            "KAFKA_CLIENT_CERT": creds.client_cert,
            "KAFKA_CLIENT_CERT_KEY": creds.client_key,
            # the SASL_PLAINTEXT listener, for tools that do not do client certificates
            "KAFKA_SASL_BOOTSTRAP_SERVERS": f"{LOOPBACK}:{self.port}",
            "KAFKA_SASL_MECHANISM": "PLAIN",
            "KAFKA_SASL_USERNAME": t.username,
            "KAFKA_SASL_PASSWORD": t.password,
        }

    def delete_tenant(self, tenant_id: str) -> None:
        tenant = self.registry.tenants.get(tenant_id)
        if tenant is None:
            return
        for topic in self.registry.tenant_topics(tenant_id):
            self._drop_topic(topic.name)
        for group in self.registry.tenant_groups(tenant_id):
            self.coordinator.delete(group.name)
            self.offsets.delete_group(group.name)
            del self.registry.groups[group.name]
        del self.registry.tenants[tenant_id]
        self.broker.quotas.pop(tenant_id, None)
        self._disconnect(tenant_id)
        self.registry.save()
        self._emit(tenant, "tenant.destroyed", tenant_id)

    def _disconnect(self, tenant_id: str) -> None:
        for listener in (self.plain, self.tls):
            if listener is not None:
                listener.disconnect_tenant(tenant_id)

    def tenant(self, tenant_id: str) -> Tenant:
        tenant = self.registry.tenants.get(tenant_id)
        if tenant is None:
            raise not_found("Kafka add-on")
        return tenant

    def tenants_for_app(self, app: str) -> list[Tenant]:
        return sorted((t for t in self.registry.tenants.values() if t.app == app), key=lambda t: t.created_at)

    def _emit(self, tenant: Tenant, what: str, name: str) -> None:
        self.bus.emit("kafka.changed", tenant.app, tenant=tenant.id, what=what, name=name)

    # ------------------------------------------------------------------ topics
    def full_name(self, tenant: Tenant, name: str) -> str:
        return name if name.startswith(tenant.prefix) else tenant.prefix + name

    def _topic(self, tenant: Tenant, name: str) -> Topic:
        full = self.full_name(tenant, name)
        topic = self.registry.topics.get(full)
        if topic is None or topic.tenant != tenant.id:
            raise PaasError(404, "not_found", f"Topic {full} not found.")
        return topic

    def _check_retention(self, p: Plan, retention_ms: int) -> None:
        if not p.min_retention_ms <= retention_ms <= p.max_retention_ms:
            from common.durations import format_duration_ms

            raise invalid(
                f"Retention time must be between {format_duration_ms(p.min_retention_ms)} and "
                f"{format_duration_ms(p.max_retention_ms)} on {p.name}."
            )

    def create_topic(
        self,
        tenant_id: str,
        name: str,
        partitions: int | None = None,
        retention_ms: int | None = None,
        compaction: bool = False,
    ) -> dict[str, Any]:
        tenant = self.tenant(tenant_id)
        p = PLANS[tenant.plan]
        full = self.full_name(tenant, name)
        self._validate_topic_name(full)
        if full in self.registry.topics:
            raise conflict(f"Topic {full} already exists.")
        count = p.default_partitions if partitions is None else partitions
        if not 1 <= count <= MAX_PARTITIONS_PER_TOPIC:
            raise invalid(f"Partitions must be between 1 and {MAX_PARTITIONS_PER_TOPIC}.")
        topics = self.registry.tenant_topics(tenant.id)
        if len(topics) + 1 > p.max_topics:
            raise invalid(f"{tenant.plan} allows {p.max_topics} topics; {len(topics)} exist.")
        used = sum(t.partitions for t in topics) * REPLICATION_FACTOR
        wanted = count * REPLICATION_FACTOR
        if used + wanted > p.max_partition_replicas:
            raise invalid(
                f"{count} partitions need {wanted} partition replicas (partitions × replication factor "
                f"{REPLICATION_FACTOR}); {tenant.plan} allows {p.max_partition_replicas} and {used} are used."
            )
        retention = p.default_retention_ms if retention_ms is None else retention_ms
        self._check_retention(p, retention)
        topic = self._add_topic(tenant.id, full, count, retention, compaction)
        self._emit(tenant, "topic.created", full)
        return self.topic_json(topic)

    def _validate_topic_name(self, full: str) -> None:
        if not TOPIC_NAME.fullmatch(full) or full in (".", ".."):
            raise invalid(f"Topic name {full!r} is invalid: use up to 249 letters, digits, '.', '_' and '-'.")

    def _add_topic(
        self, tenant_id: str | None, full: str, partitions: int, retention_ms: int, compaction: bool
    ) -> Topic:
        topic = Topic(full, tenant_id, partitions, retention_ms, compaction)
        self.logs.create(full, range(partitions))
        self.registry.topics[full] = topic
        self.registry.save()
        return topic

    def _wire_create_topic(
        self, tenant_id: str | None, name: str, partitions: int | None, retention_ms: int | None
    ) -> Topic:
        """CreateTopics from the platform's admin principal (tenants never get here)."""
        self._validate_topic_name(name)
        count = partitions or 1
        if not 1 <= count <= MAX_PARTITIONS_PER_TOPIC:
            raise invalid(f"Partitions must be between 1 and {MAX_PARTITIONS_PER_TOPIC}.")
        return self._add_topic(tenant_id, name, count, retention_ms or 7 * 86_400_000, False)

    def _add_partitions(self, name: str, count: int) -> None:
        topic = self.registry.topics[name]
        self.logs.create(name, range(topic.partitions, count))
        topic.partitions = count
        self.registry.save()

    def _drop_topic(self, name: str) -> None:
        self.logs.delete(name)
        self.offsets.delete_topic(name)
        self.registry.topics.pop(name, None)
        self.broker.metrics.pop(name, None)
        self.registry.save()

    def delete_topic(self, tenant_id: str, name: str) -> None:
        tenant = self.tenant(tenant_id)
        topic = self._topic(tenant, name)
        self._drop_topic(topic.name)
        self._recount_tenant_bytes()
        self._emit(tenant, "topic.destroyed", topic.name)

    def set_retention(self, tenant_id: str, name: str, retention_ms: int) -> dict[str, Any]:
        tenant = self.tenant(tenant_id)
        topic = self._topic(tenant, name)
        self._check_retention(PLANS[tenant.plan], retention_ms)
        topic.retention_ms = retention_ms
        self.registry.save()
        self._emit(tenant, "topic.updated", topic.name)
        return self.topic_json(topic)

    def set_compaction(self, tenant_id: str, name: str, enabled: bool) -> dict[str, Any]:
        tenant = self.tenant(tenant_id)
        topic = self._topic(tenant, name)
        topic.compaction = enabled
        self.registry.save()
        self._emit(tenant, "topic.updated", topic.name)
        return self.topic_json(topic)

    def list_topics(self, tenant_id: str) -> list[dict[str, Any]]:
        tenant = self.tenant(tenant_id)
        return [self.topic_json(t) for t in self.registry.tenant_topics(tenant.id)]

    def topic_info(self, tenant_id: str, name: str) -> dict[str, Any]:
        tenant = self.tenant(tenant_id)
        topic = self._topic(tenant, name)
        data = self.topic_json(topic)
        data["partitions"] = [
            {
                "partition": pl.partition,
                "log_start_offset": pl.log_start_offset,
                "high_watermark": pl.next_offset,
                "size_bytes": pl.size,
                "segments": len(pl.segments),
            }
            for pl in self.logs.partitions(topic.name)
        ]
        data["config"] = {name: value for name, value, _d in self.broker.topic_configs(topic)}
        return data

    def topic_json(self, topic: Topic) -> dict[str, Any]:
        metrics = self.broker.topic_metrics(topic.name).to_json()
        plogs = self.logs.partitions(topic.name)
        return {
            "name": topic.name,
            "prefix_free_name": topic.name.split(".", 1)[1] if "." in topic.name else topic.name,
            "partition_count": topic.partitions,
            "replication_factor": REPLICATION_FACTOR,
            "retention_time_ms": topic.retention_ms,
            "compaction": topic.compaction,
            "cleanup_policy": "compact,delete" if topic.compaction else "delete",
            "data_size": sum(pl.size for pl in plogs),
            "messages": sum(pl.next_offset - pl.log_start_offset for pl in plogs),
            "created_at": topic.created_at,
            **metrics,
        }

    # ------------------------------------------------------------------ groups
    def create_group(self, tenant_id: str, name: str) -> dict[str, Any]:
        tenant = self.tenant(tenant_id)
        full = self.full_name(tenant, name)
        self._validate_topic_name(full)
        if full in self.registry.groups:
            raise conflict(f"Consumer group {full} already exists.")
        self.registry.groups[full] = Group(full, tenant.id)
        self.registry.save()
        self._emit(tenant, "group.created", full)
        return self.group_json(self.registry.groups[full])

    def delete_group(self, tenant_id: str, name: str) -> None:
        tenant = self.tenant(tenant_id)
        full = self.full_name(tenant, name)
        group = self.registry.groups.get(full)
        if group is None or group.tenant != tenant.id:
            raise PaasError(404, "not_found", f"Consumer group {full} not found.")
        active = self.coordinator.active_members(full)
        if active:
            raise conflict(
                f"Consumer group {full} has {active} active member(s); stop them before destroying it."
            )
        self.coordinator.delete(full)
        self.offsets.delete_group(full)
        del self.registry.groups[full]
        self.registry.save()
        self._emit(tenant, "group.destroyed", full)

    def list_groups(self, tenant_id: str) -> list[dict[str, Any]]:
        tenant = self.tenant(tenant_id)
        return [self.group_json(g) for g in self.registry.tenant_groups(tenant.id)]

    def group_json(self, group: Group) -> dict[str, Any]:
        live = self.coordinator.groups.get(group.name)
        partitions = []
        total_lag = 0
        for (topic, partition), c in sorted(self.offsets.group_offsets(group.name).items()):
            plog = self.logs.get(topic, partition)
            end = plog.next_offset if plog is not None else c.offset
            lag = max(end - c.offset, 0) if c.offset >= 0 else None
            total_lag += lag or 0
            partitions.append(
                {
                    "topic": topic,
                    "partition": partition,
                    "committed_offset": c.offset,
                    "high_watermark": end,
                    "lag": lag,
                }
            )
        return {
            "name": group.name,
            "state": live.state if live is not None else "Empty",
            "members": len(live.members) if live is not None else 0,
            "generation": live.generation if live is not None else 0,
            "protocol": live.protocol if live is not None else None,
            "lag": total_lag,
            "partitions": partitions,
            "created_at": group.created_at,
        }

    # -------------------------------------------------------------- data tools
    def write(
        self,
        tenant_id: str,
        topic_name: str,
        value: bytes,
        key: bytes | None = None,
        partition: int | None = None,
    ) -> dict[str, Any]:
        """`kafka:topics:write`: one record, as a producer would send it."""
        tenant = self.tenant(tenant_id)
        topic = self._topic(tenant, topic_name)
        if partition is None:
            partition = (
                murmur2_partition(key, topic.partitions)
                if key is not None
                else random.randrange(topic.partitions)
            )
        if not 0 <= partition < topic.partitions:
            raise invalid(f"Partition {partition} does not exist; {topic.name} has {topic.partitions}.")
        batch = build_batch([(key, value)])
        infos = validate_produced(batch)
        plog = self.logs.get(topic.name, partition)
        assert plog is not None
        offset = plog.append(batch, infos, roll_ms=topic.retention_ms)
        m = self.broker.topic_metrics(topic.name)
        m.bytes_in.add(len(batch))
        m.messages_in.add(1)
        self.broker.tenant_bytes[tenant.id] = self.broker.tenant_bytes.get(tenant.id, 0) + len(batch)
        return {"topic": topic.name, "partition": partition, "offset": offset}

    def read(
        self, tenant_id: str, topic_name: str, partition: int, offset: int, max_records: int = 100
    ) -> tuple[list[dict[str, Any]], int]:
        """Records of one partition from `offset`; returns (records, next offset)."""
        tenant = self.tenant(tenant_id)
        topic = self._topic(tenant, topic_name)
        plog = self.logs.get(topic.name, partition)
        if plog is None:
            raise invalid(f"Partition {partition} does not exist; {topic.name} has {topic.partitions}.")
        offset = max(offset, plog.log_start_offset)
        out: list[dict[str, Any]] = []
        while len(out) < max_records and offset < plog.next_offset:
            try:
                data = plog.read(offset, 1 << 20)
            except OffsetOutOfRange:
                break
            if not data:
                break
            progressed = False
            for info in iter_headers(data):
                try:
                    records = decode_batch(data, info)
                except CorruptBatch as exc:
                    records = []
                    out.append(
                        {
                            "topic": topic.name,
                            "partition": partition,
                            "offset": info.base_offset,
                            "error": str(exc),
                        }
                    )
                for rec in records:
                    if rec.offset >= offset and len(out) < max_records:
                        out.append(
                            {
                                "topic": topic.name,
                                "partition": partition,
                                "offset": rec.offset,
                                "timestamp": rec.timestamp,
                                "key": rec.key,
                                "value": rec.value,
                            }
                        )
                offset = max(offset, info.next_offset)
                progressed = True
                if len(out) >= max_records:
                    break
            if not progressed:
                break
        return out, offset

    async def tail(
        self, tenant_id: str, topic_name: str, from_beginning: bool = False, idle_timeout: float | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """`kafka:topics:tail`: new records of every partition as they arrive."""
        tenant = self.tenant(tenant_id)
        topic = self._topic(tenant, topic_name)
        positions = {
            pl.partition: (pl.log_start_offset if from_beginning else pl.next_offset)
            for pl in self.logs.partitions(topic.name)
        }
        loop = asyncio.get_running_loop()
        while True:
            produced = False
            for partition, offset in list(positions.items()):
                try:
                    records, positions[partition] = self.read(tenant_id, topic.name, partition, offset, 500)
                except PaasError:  # the topic or the tenant went away: the tail ends
                    return
                for rec in records:
                    produced = True
                    yield rec
            if produced:
                continue
            fut: asyncio.Future[None] = loop.create_future()
            plogs = self.logs.partitions(topic.name)
            if not plogs or topic.name not in self.registry.topics:
                return
            for pl in plogs:
                pl.waiters.append(fut)
            try:
                await asyncio.wait_for(fut, idle_timeout if idle_timeout is not None else 30.0)
            except TimeoutError:
                if idle_timeout is not None:
                    return
            finally:
                for pl in plogs:
                    if fut in pl.waiters:
                        pl.waiters.remove(fut)

    # ------------------------------------------------------------------- metrics
    def metrics(self, tenant_id: str) -> dict[str, Any]:
        tenant = self.tenant(tenant_id)
        p = PLANS[tenant.plan]
        topics = [self.topic_json(t) for t in self.registry.tenant_topics(tenant.id)]
        quotas = self.broker.quotas.get(tenant.id)
        data_size = sum(t["data_size"] for t in topics)
        return {
            "tenant": tenant.id,
            "app": tenant.app,
            "plan": tenant.plan,
            "prefix": tenant.prefix,
            "messages_in_per_sec": round(sum(t["messages_in_per_sec"] for t in topics), 2),
            "bytes_in_per_sec": round(sum(t["bytes_in_per_sec"] for t in topics), 2),
            "bytes_out_per_sec": round(sum(t["bytes_out_per_sec"] for t in topics), 2),
            "data_size": data_size,
            "data_size_limit": p.capacity_bytes,
            "data_size_percent": round(100 * data_size / p.capacity_bytes, 4),
            "topic_count": len(topics),
            "partition_replicas": sum(t["partition_count"] for t in topics) * REPLICATION_FACTOR,
            "limits": p.limits(),
            "quotas": quotas.to_json() if quotas is not None else None,
            "topics": topics,
            "consumer_groups": [self.group_json(g) for g in self.registry.tenant_groups(tenant.id)],
        }

    def info(self, tenant_id: str) -> dict[str, Any]:
        """What `kafka:info` shows."""
        data = self.metrics(tenant_id)
        tenant = self.tenant(tenant_id)
        data.update(
            {
                "status": "available" if self.started else "unavailable",
                "version": "2.7.0 (paas)",
                "created_at": tenant.created_at,
                "kafka_url": f"kafka+ssl://{LOOPBACK}:{self.tls_port}",
                "sasl_bootstrap_servers": f"{LOOPBACK}:{self.port}",
            }
        )
        return data

    def status(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "tls_port": self.tls_port,
            "tenants": len(self.registry.tenants),
            "topics": len(self.registry.topics),
            "connections": len(self.plain.connections) + (len(self.tls.connections) if self.tls else 0),
            "requests": dict(self.broker.stats.requests),
            "bad_frames": self.broker.stats.bad_frames,
            "connections_refused": self.broker.stats.connections_refused,
            "recovered_bytes": self.logs.recovered_bytes,
            "retention_deleted_bytes": self.logs.deleted_bytes,
            "group_rebalances": self.coordinator.rebalances,
        }

    def session_for_admin(self) -> Session:
        from .auth import ADMIN

        return Session("internal", self.port, "127.0.0.1", ADMIN)


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (the Java client's default partitioner for keyed records)."""
    length = len(data)
    seed = 0x9747B28C
    m = 0x5BD1E995
    r = 24
    h = (seed ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    rest = length % 4
    tail = length - rest
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def murmur2_partition(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions
