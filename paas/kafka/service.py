"""KafkaService: the Kafka add-on's cluster (embedded, or external by `PAAS_KAFKA_URL`) and its tenants.

The daemon starts one; the Kafka add-on provider makes a tenant per add-on; the API calls the
topic / group / metrics methods (they raise `PaasError` with Heroku-like messages).

    svc = KafkaService(settings, bus, ca)
    await svc.start()      # the embedded broker (unless PAAS_KAFKA_URL), then the admin connection
    creds = await svc.create_tenant("kafka-shaped-12345", "myapp", "basic-0")
    await svc.create_topic("kafka-shaped-12345", "events", partitions=4)   # -> "shaped-12345.events"
    await svc.create_group("kafka-shaped-12345", "workers")
    await svc.stop()

Every change to a tenant is an Admin API call (`tenancy.Tenancy`), on the embedded cluster as on an
external one. What the embedded broker can also show (traffic, partitions, throttling, records
for kafka:topics:tail and :write) is read from it in-process; an external cluster shows what its
Admin API tells.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from common.ca import LocalCA
from common.config import LOOPBACK, Settings
from common.errors import PaasError, StartupError, conflict, invalid, not_found
from common.events import EventBus

from .admin_client import SASL_PLAINTEXT, SASL_SSL, AdminClient, AdminError, ClusterAddress
from .auth import ADMIN_USER
from .embedded import MAX_PARTITIONS_PER_TOPIC, TOPIC_NAME, EmbeddedBroker
from .log import OffsetOutOfRange
from .plans import PLANS, REPLICATION_FACTOR, Plan, plan
from .quotas import CONSUMER_BYTE_RATE, PRODUCER_BYTE_RATE, REQUEST_PERCENTAGE, ThrottleStats
from .records import CorruptBatch, build_batch, decode_batch, iter_headers, validate_produced
from .registry import Topic
from .tenancy import Tenancy, Tenant, TenantStore, capacity_per_partition
from .values import (
    ClusterInfo,
    GroupInfo,
    PartitionInfo,
    PartitionLag,
    QuotaUse,
    Record,
    TenantMetrics,
    Throttle,
    TopicDetail,
    TopicInfo,
    Written,
)

log = logging.getLogger("paas.kafka")


@dataclass(frozen=True)
class TenantCredentials:
    tenant: Tenant
    client_cert: str | None
    client_key: str | None
    trusted_cert: str | None


def external_address(settings: Settings) -> ClusterAddress | None:
    """The cluster PAAS_KAFKA_URL names, with the admin credentials (PAAS_KAFKA_SASL_*)."""
    if not settings.kafka_url:
        return None
    first = settings.kafka_url.split(",")[0].strip()
    parts = urlsplit(first if "://" in first else f"kafka://{first}")
    if parts.scheme not in ("kafka", "kafka+ssl") or not parts.hostname or not parts.port:
        raise StartupError(
            f"PAAS_KAFKA_URL must be kafka://host:port or kafka+ssl://host:port, not {first!r}"
        )
    if not settings.kafka_sasl_username or not settings.kafka_sasl_password:
        raise StartupError(
            "PAAS_KAFKA_URL needs PAAS_KAFKA_SASL_USERNAME and PAAS_KAFKA_SASL_PASSWORD (an admin)"
        )
    cert = settings.kafka_trusted_cert
    if cert and "-----BEGIN" not in cert:
        cert = Path(cert).read_text()
    return ClusterAddress(
        parts.hostname,
        parts.port,
        SASL_SSL if parts.scheme == "kafka+ssl" else SASL_PLAINTEXT,
        settings.kafka_sasl_mechanism,
        settings.kafka_sasl_username,
        settings.kafka_sasl_password,
        cert or None,
    )


def _admin_error(exc: AdminError) -> PaasError:
    status = {"topic_already_exists": 409, "unknown_topic_or_partition": 404, "group_id_not_found": 404}
    return PaasError(status.get(exc.code.name, 422), "invalid_params", exc.detail or str(exc))


class KafkaService:
    def __init__(self, settings: Settings, bus: EventBus, ca: LocalCA):
        self.settings = settings
        self.bus = bus
        self.ca = ca
        self.address = external_address(settings)
        self.embedded = EmbeddedBroker(settings, ca) if self.address is None else None
        self.store = TenantStore(settings.kafka_dir / "tenants.json")
        self.admin: AdminClient | None = None
        self.tenancy: Tenancy | None = None
        self.started = False

    # ----------------------------------------------------------------- lifecycle
    @property
    def port(self) -> int:
        return self.embedded.port if self.embedded is not None else 0

    @property
    def tls_port(self) -> int:
        return self.embedded.tls_port if self.embedded is not None else 0

    @property
    def external(self) -> bool:
        return self.embedded is None

    def _embedded(self) -> EmbeddedBroker:
        if self.embedded is None:
            raise PaasError(
                501, "not_implemented", "Not available for an external Kafka cluster (PAAS_KAFKA_URL)."
            )
        return self.embedded

    async def start(self) -> None:
        self.store.load()
        if self.embedded is not None:
            await self.embedded.start()
            self.address = ClusterAddress(
                LOOPBACK, self.embedded.port, SASL_PLAINTEXT, "SCRAM-SHA-512", ADMIN_USER, None
            )
        assert self.address is not None
        self.admin = AdminClient(self.address)
        self.tenancy = Tenancy(self.admin, self.store)
        self.started = True
        if self.embedded is None:
            await self._check_external()
        await self._finish_retirements()
        await self._migrate_legacy_tenants()

    async def _migrate_legacy_tenants(self) -> None:
        """Tenants an older paas kept inside its broker become principals with ACLs and quotas.

        Same user name (the client certificate's CN) and password, so the app's config vars and
        certificate keep working; its created consumer groups become LITERAL group ACLs."""
        if self.embedded is None or not self.embedded.registry.tenants:
            return
        registry = self.embedded.registry
        for old in list(registry.tenants.values()):
            groups = sorted(g.name for g in registry.groups.values() if g.tenant == old.id)
            tenant = Tenant(old.id, old.app, old.plan, old.prefix, old.username, old.password, groups=groups)
            tenant.created_at = old.created_at
            await self._call(self._tenancy().adopt(tenant))
            del registry.tenants[old.id]
            registry.save()
            log.info("kafka: tenant %s is now principal %s with ACLs and quotas", old.id, tenant.principal)

    async def _finish_retirements(self) -> None:
        """Empty the principals a credential reset cut short by a crash left behind."""
        for tenant in list(self.store.tenants.values()):
            if tenant.retired:
                try:
                    await self._tenancy().finish_retirements(tenant)
                    log.info("kafka: finished the interrupted credential reset of %s", tenant.id)
                except (AdminError, OSError, TimeoutError) as exc:
                    log.warning("kafka: could not finish the credential reset of %s: %s", tenant.id, exc)

    async def _check_external(self) -> None:
        assert self.tenancy is not None and self.address is not None
        try:
            await self.tenancy.topics()
        except (AdminError, OSError, TimeoutError) as exc:
            await self.stop()
            raise StartupError(
                f"the Kafka cluster at {self.address.bootstrap} (PAAS_KAFKA_URL) refused the admin: {exc}"
            ) from None
        log.info(
            "kafka: using the external cluster at %s; the embedded broker is not started",
            self.address.bootstrap,
        )

    async def stop(self) -> None:
        if self.admin is not None:
            await self.admin.close()
        if self.embedded is not None:
            await self.embedded.stop()
        self.started = False

    def _tenancy(self) -> Tenancy:
        if self.tenancy is None or self.admin is None:
            raise PaasError(503, "unavailable", "The Kafka service is not started.")
        if self.embedded is not None:  # the admin password is the daemon's token, read when used
            self.admin.address = ClusterAddress(
                LOOPBACK,
                self.embedded.port,
                SASL_PLAINTEXT,
                "SCRAM-SHA-512",
                ADMIN_USER,
                self.embedded.admin_password(),
            )
        return self.tenancy

    async def _call(self, coro: Any) -> Any:
        try:
            return await coro
        except AdminError as exc:
            raise _admin_error(exc) from None
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            raise PaasError(503, "unavailable", f"The Kafka cluster did not answer: {exc}") from None

    # ---------------------------------------------------------------- tenants
    async def create_tenant(self, tenant_id: str, app: str, plan_name: str) -> TenantCredentials:
        chosen = plan(plan_name)
        if tenant_id in self.store.tenants:
            raise conflict(f"Kafka tenant {tenant_id} already exists.")
        tenant = await self._call(self._tenancy().provision(tenant_id, app, chosen.name))
        self._emit(tenant, "tenant.created", tenant_id)
        return self._credentials(tenant)

    def _credentials(self, tenant: Tenant) -> TenantCredentials:
        if self.embedded is None:
            return TenantCredentials(tenant, None, None, self.address.ca_pem if self.address else None)
        issued = self.ca.issue_client(tenant.username)
        return TenantCredentials(tenant, issued.cert_pem, issued.key_pem, self.ca.ca_pem)

    async def reset_credentials(self, tenant_id: str, finish: bool = True) -> TenantCredentials:
        """`kafka:credentials --reset`: a new principal; the old password and certificate stop working.

        With `finish=False` the old principal keeps its rights until `finish_reset` (called once
        the app's config vars carry the new credentials); a crash in between is finished at start.
        """
        tenant = await self._call(self._tenancy().rotate(self.tenant(tenant_id)))
        if finish:
            await self.finish_reset(tenant_id)
        return self._credentials(tenant)

    async def finish_reset(self, tenant_id: str) -> None:
        await self._call(self._tenancy().finish_retirements(self.tenant(tenant_id)))

    def config_vars(self, creds: TenantCredentials) -> dict[str, str]:
        t = creds.tenant
        if self.embedded is not None:
            url, sasl = f"kafka+ssl://{LOOPBACK}:{self.tls_port}", f"{LOOPBACK}:{self.port}"
            mechanism = "SCRAM-SHA-512"
        else:
            assert self.address is not None
            url, sasl, mechanism = self.settings.kafka_url, self.address.bootstrap, self.address.mechanism
        out = {"KAFKA_URL": url, "KAFKA_PREFIX": t.prefix}
        for var, value in (
            ("KAFKA_TRUSTED_CERT", creds.trusted_cert),
            ("KAFKA_CLIENT_CERT", creds.client_cert),
            ("KAFKA_CLIENT_CERT_KEY", creds.client_key),
        ):
            if value:
                out[var] = value
        out.update(
            {
                "KAFKA_SASL_BOOTSTRAP_SERVERS": sasl,
                "KAFKA_SASL_MECHANISM": mechanism,
                "KAFKA_SASL_USERNAME": t.username,
                "KAFKA_SASL_PASSWORD": t.password,
            }
        )
        return out

    async def delete_tenant(self, tenant_id: str) -> None:
        tenant = self.store.tenants.get(tenant_id)
        if tenant is None:
            return
        await self._call(self._tenancy().deprovision(tenant))
        self._emit(tenant, "tenant.destroyed", tenant_id)

    def tenant(self, tenant_id: str) -> Tenant:
        tenant = self.store.tenants.get(tenant_id)
        if tenant is None:
            raise not_found("Kafka add-on")
        return tenant

    def tenant_ids(self) -> list[str]:
        return sorted(self.store.tenants)

    def tenants_for_app(self, app: str) -> list[Tenant]:
        return sorted((t for t in self.store.tenants.values() if t.app == app), key=lambda t: t.created_at)

    def _emit(self, tenant: Tenant, what: str, name: str) -> None:
        self.bus.emit("kafka.changed", tenant.app, tenant=tenant.id, what=what, name=name)

    # ------------------------------------------------------------------ topics
    def full_name(self, tenant: Tenant, name: str) -> str:
        return name if name.startswith(tenant.prefix) else tenant.prefix + name

    def _check_retention(self, p: Plan, retention_ms: int) -> None:
        if not p.min_retention_ms <= retention_ms <= p.max_retention_ms:
            from common.durations import format_duration_ms

            raise invalid(
                f"Retention time must be between {format_duration_ms(p.min_retention_ms)} and "
                f"{format_duration_ms(p.max_retention_ms)} on {p.name}."
            )

    async def _existing(self, tenant: Tenant) -> dict[str, int]:
        topics = await self._call(self._tenancy().topics())
        return {n: c for n, c in topics.items() if n.startswith(tenant.prefix)}

    async def _topic_name(self, tenant: Tenant, name: str) -> str:
        full = self.full_name(tenant, name)
        if full not in await self._existing(tenant):
            raise PaasError(404, "not_found", f"Topic {full} not found.")
        return full

    async def create_topic(
        self,
        tenant_id: str,
        name: str,
        partitions: int | None = None,
        retention_ms: int | None = None,
        compaction: bool = False,
    ) -> TopicInfo:
        tenant = self.tenant(tenant_id)
        p = PLANS[tenant.plan]
        full = self.full_name(tenant, name)
        if not TOPIC_NAME.fullmatch(full) or full in (".", ".."):
            raise invalid(f"Topic name {full!r} is invalid: use up to 249 letters, digits, '.', '_' and '-'.")
        count = p.default_partitions if partitions is None else partitions
        if not 1 <= count <= MAX_PARTITIONS_PER_TOPIC:
            raise invalid(f"Partitions must be between 1 and {MAX_PARTITIONS_PER_TOPIC}.")
        existing = await self._existing(tenant)
        if full in existing:
            raise conflict(f"Topic {full} already exists.")
        self._check_plan(tenant, p, existing, count)
        retention = p.default_retention_ms if retention_ms is None else retention_ms
        self._check_retention(p, retention)
        configs = {
            "retention.ms": str(retention),
            "retention.bytes": str(capacity_per_partition(p)),
            "cleanup.policy": "compact,delete" if compaction else "delete",
        }
        await self._call(self._tenancy().create_topic(full, count, configs))
        self._emit(tenant, "topic.created", full)
        return await self.topic(tenant, full)

    def _check_plan(self, tenant: Tenant, p: Plan, existing: dict[str, int], count: int) -> None:
        if len(existing) + 1 > p.max_topics:
            raise invalid(f"{tenant.plan} allows {p.max_topics} topics; {len(existing)} exist.")
        used = sum(existing.values()) * REPLICATION_FACTOR
        wanted = count * REPLICATION_FACTOR
        if used + wanted > p.max_partition_replicas:
            raise invalid(
                f"{count} partitions need {wanted} partition replicas (partitions × replication factor "
                f"{REPLICATION_FACTOR}); {tenant.plan} allows {p.max_partition_replicas} and {used} are used."
            )

    async def delete_topic(self, tenant_id: str, name: str) -> None:
        tenant = self.tenant(tenant_id)
        full = await self._topic_name(tenant, name)
        await self._call(self._tenancy().delete_topic(full))
        self._emit(tenant, "topic.destroyed", full)

    async def set_retention(self, tenant_id: str, name: str, retention_ms: int) -> TopicInfo:
        tenant = self.tenant(tenant_id)
        full = await self._topic_name(tenant, name)
        self._check_retention(PLANS[tenant.plan], retention_ms)
        await self._call(self._tenancy().alter_topic(full, {"retention.ms": str(retention_ms)}))
        self._emit(tenant, "topic.updated", full)
        return await self.topic(tenant, full)

    async def set_compaction(self, tenant_id: str, name: str, enabled: bool) -> TopicInfo:
        tenant = self.tenant(tenant_id)
        full = await self._topic_name(tenant, name)
        policy = "compact,delete" if enabled else "delete"
        await self._call(self._tenancy().alter_topic(full, {"cleanup.policy": policy}))
        self._emit(tenant, "topic.updated", full)
        return await self.topic(tenant, full)

    async def list_topics(self, tenant_id: str) -> list[TopicInfo]:
        tenant = self.tenant(tenant_id)
        return [await self.topic(tenant, n) for n in sorted(await self._existing(tenant))]

    async def topic_info(self, tenant_id: str, name: str) -> TopicDetail:
        tenant = self.tenant(tenant_id)
        full = await self._topic_name(tenant, name)
        partitions = None
        if self.embedded is not None:
            partitions = tuple(
                PartitionInfo(pl.partition, pl.log_start_offset, pl.next_offset, pl.size, len(pl.segments))
                for pl in self.embedded.logs.partitions(full)
            )
        return TopicDetail(
            topic=await self.topic(tenant, full),
            config=await self._call(self._tenancy().topic_configs(full)),
            throttle=self.throttle(tenant),
            partitions=partitions,
        )

    def throttle(self, tenant: Tenant) -> Throttle | None:
        """How the tenant's clients were throttled (embedded cluster: the broker's own counters)."""
        if self.embedded is None:
            return None
        stats = self.embedded.broker.quota_manager.user_stats(tenant.username)
        p = PLANS[tenant.plan]

        def use(key: str, quota: float | None) -> QuotaUse:
            return QuotaUse(quota, stats.get(key) or ThrottleStats())

        return Throttle(
            produce=use(PRODUCER_BYTE_RATE, p.produce_bytes_per_sec),
            consume=use(CONSUMER_BYTE_RATE, p.consume_bytes_per_sec),
            request=use(REQUEST_PERCENTAGE, None),
        )

    async def topic(self, tenant: Tenant, full: str) -> TopicInfo:
        if self.embedded is not None:
            topic = self.embedded.registry.topics.get(full)
            if topic is not None:
                return self._local_topic_info(topic)
        configs = await self._call(self._tenancy().topic_configs(full))
        return TopicInfo(
            name=full,
            prefix_free_name=full[len(tenant.prefix) :],
            partition_count=(await self._existing(tenant)).get(full, 0),
            retention_ms=int(configs.get("retention.ms", "0") or 0),
            compaction="compact" in configs.get("cleanup.policy", "delete"),
        )

    def _local_topic_info(self, topic: Topic) -> TopicInfo:
        embedded = self._embedded()
        plogs = embedded.logs.partitions(topic.name)
        return TopicInfo(
            name=topic.name,
            prefix_free_name=topic.name.split(".", 1)[1] if "." in topic.name else topic.name,
            partition_count=topic.partitions,
            retention_ms=topic.retention_ms,
            compaction=topic.compaction,
            data_size=sum(pl.size for pl in plogs),
            messages=sum(pl.next_offset - pl.log_start_offset for pl in plogs),
            created_at=topic.created_at,
            rates=embedded.broker.topic_metrics(topic.name).rates(),
        )

    # ------------------------------------------------------------------ groups
    async def create_group(self, tenant_id: str, name: str) -> GroupInfo:
        tenant = self.tenant(tenant_id)
        full = self.full_name(tenant, name)
        if not TOPIC_NAME.fullmatch(full):
            raise invalid(f"Consumer group name {full!r} is invalid: use letters, digits, '.', '_' and '-'.")
        if full in tenant.groups:
            raise conflict(f"Consumer group {full} already exists.")
        await self._call(self._tenancy().create_group(tenant, full))
        self._emit(tenant, "group.created", full)
        return (await self._groups(tenant, [full]))[0]

    async def delete_group(self, tenant_id: str, name: str) -> None:
        tenant = self.tenant(tenant_id)
        full = self.full_name(tenant, name)
        if full not in tenant.groups:
            raise PaasError(404, "not_found", f"Consumer group {full} not found.")
        described = await self._call(self._tenancy().describe_groups([full]))
        members = len(described[full].members) if full in described else 0
        if members:
            raise conflict(
                f"Consumer group {full} has {members} active member(s); stop them before destroying it."
            )
        await self._call(self._tenancy().delete_group(tenant, full))
        self._emit(tenant, "group.destroyed", full)

    async def list_groups(self, tenant_id: str) -> list[GroupInfo]:
        tenant = self.tenant(tenant_id)
        return await self._groups(tenant, list(tenant.groups))

    async def _groups(self, tenant: Tenant, names: list[str]) -> list[GroupInfo]:
        described = await self._call(self._tenancy().describe_groups(names)) if names else {}
        out = []
        for name in names:
            g = described.get(name)
            group = GroupInfo(
                name=name,
                state=g.group_state if g is not None and g.group_state != "Dead" else "Empty",
                members=len(g.members) if g is not None else 0,
                protocol=(g.protocol_data or None) if g is not None else None,
            )
            out.append(self._with_local_lag(group) if self.embedded is not None else group)
        return out

    def _with_local_lag(self, group: GroupInfo) -> GroupInfo:
        embedded = self._embedded()
        partitions, total = [], 0
        for (topic, partition), c in sorted(embedded.offsets.group_offsets(group.name).items()):
            plog = embedded.logs.get(topic, partition)
            end = plog.next_offset if plog is not None else c.offset
            lag = max(end - c.offset, 0) if c.offset >= 0 else None
            total += lag or 0
            partitions.append(PartitionLag(topic, partition, c.offset, end, lag))
        live = embedded.coordinator.groups.get(group.name)
        return replace(
            group, lag=total, partitions=tuple(partitions), generation=live.generation if live else 0
        )

    # -------------------------------------------------------------- data tools
    def _local_topic(self, tenant: Tenant, name: str) -> Topic:
        full = self.full_name(tenant, name)
        topic = self._embedded().registry.topics.get(full)
        if topic is None:
            raise PaasError(404, "not_found", f"Topic {full} not found.")
        return topic

    def write(
        self,
        tenant_id: str,
        topic_name: str,
        value: bytes,
        key: bytes | None = None,
        partition: int | None = None,
    ) -> Written:
        """`kafka:topics:write`: one record, as a producer would send it."""
        embedded = self._embedded()
        topic = self._local_topic(self.tenant(tenant_id), topic_name)
        if partition is None:
            partition = (
                murmur2_partition(key, topic.partitions)
                if key is not None
                else random.randrange(topic.partitions)
            )
        if not 0 <= partition < topic.partitions:
            raise invalid(f"Partition {partition} does not exist; {topic.name} has {topic.partitions}.")
        batch = build_batch([(key, value)])
        plog = embedded.logs.get(topic.name, partition)
        assert plog is not None
        offset = plog.append(batch, validate_produced(batch), roll_ms=topic.retention_ms)
        m = embedded.broker.topic_metrics(topic.name)
        m.bytes_in.add(len(batch))
        m.messages_in.add(1)
        return Written(topic.name, partition, offset)

    def read(
        self, tenant_id: str, topic_name: str, partition: int, offset: int, max_records: int = 100
    ) -> tuple[list[Record], int]:
        """Records of one partition from `offset`; returns (records, next offset)."""
        topic = self._local_topic(self.tenant(tenant_id), topic_name)
        plog = self._embedded().logs.get(topic.name, partition)
        if plog is None:
            raise invalid(f"Partition {partition} does not exist; {topic.name} has {topic.partitions}.")
        offset = max(offset, plog.log_start_offset)
        out: list[Record] = []
        while len(out) < max_records and offset < plog.next_offset:
            try:
                data = plog.read(offset, 1 << 20)
            except OffsetOutOfRange:
                break
            infos = list(iter_headers(data))
            if not infos:
                break
            for info in infos:
                out += _decoded(topic.name, partition, data, info, offset)[: max_records - len(out)]
                offset = max(offset, info.next_offset)
                if len(out) >= max_records:
                    break
        return out, offset

    async def tail(
        self, tenant_id: str, topic_name: str, from_beginning: bool = False, idle_timeout: float | None = None
    ) -> AsyncIterator[Record]:
        """`kafka:topics:tail`: new records of every partition as they arrive."""
        embedded = self._embedded()
        topic = self._local_topic(self.tenant(tenant_id), topic_name)
        positions = {
            pl.partition: (pl.log_start_offset if from_beginning else pl.next_offset)
            for pl in embedded.logs.partitions(topic.name)
        }
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
            if not produced and not await self._wait_for_records(topic.name, idle_timeout):
                return

    async def _wait_for_records(self, topic: str, idle_timeout: float | None) -> bool:
        """Wait for a record on any partition; False when the tail should end (gone, or idle)."""
        embedded = self._embedded()
        plogs = embedded.logs.partitions(topic)
        if not plogs or topic not in embedded.registry.topics:
            return False
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for pl in plogs:
            pl.waiters.append(fut)
        try:
            await asyncio.wait_for(fut, idle_timeout if idle_timeout is not None else 30.0)
        except TimeoutError:
            return idle_timeout is None
        finally:
            for pl in plogs:
                if fut in pl.waiters:
                    pl.waiters.remove(fut)
        return True

    # ------------------------------------------------------------------- metrics
    async def metrics(self, tenant_id: str) -> TenantMetrics:
        tenant = self.tenant(tenant_id)
        p = PLANS[tenant.plan]
        topics = await self.list_topics(tenant_id)
        return TenantMetrics(
            tenant=tenant.id,
            app=tenant.app,
            plan=tenant.plan,
            prefix=tenant.prefix,
            principal=tenant.principal,
            data_size_limit=p.capacity_bytes,
            limits=p.limits(),
            throttle=self.throttle(tenant),
            topics=tuple(topics),
            groups=tuple(await self.list_groups(tenant_id)),
            partition_replicas=sum(t.partition_count for t in topics) * REPLICATION_FACTOR,
        )

    async def info(self, tenant_id: str) -> ClusterInfo:
        """What `kafka:info` shows."""
        metrics = await self.metrics(tenant_id)
        tenant = self.tenant(tenant_id)
        if self.embedded is not None:
            url, sasl = f"kafka+ssl://{LOOPBACK}:{self.tls_port}", f"{LOOPBACK}:{self.port}"
        else:
            url, sasl = self.settings.kafka_url or "", self.address.bootstrap if self.address else ""
        return ClusterInfo(
            metrics=metrics,
            status="available" if self.started else "unavailable",
            version="2.8 protocol (paas)" if self.embedded is not None else "external",
            cluster="embedded" if self.embedded is not None else "external",
            created_at=tenant.created_at,
            kafka_url=url,
            sasl_bootstrap_servers=sasl,
        )

    def status(self) -> dict[str, Any]:
        base: dict[str, Any] = {
            "tenants": len(self.store.tenants),
            "cluster": "external" if self.external else "embedded",
        }
        if self.embedded is not None:
            base.update(self.embedded.status())
        elif self.address is not None:
            base["bootstrap"] = self.address.bootstrap
        return base


def _decoded(topic: str, partition: int, data: bytes, info: Any, offset: int) -> list[Record]:
    """The records of one stored batch at or after `offset` (an error row if it is corrupt)."""
    try:
        records = decode_batch(data, info)
    except CorruptBatch as exc:
        return [Record(topic, partition, info.base_offset, error=str(exc))]
    return [
        Record(topic, partition, rec.offset, rec.timestamp, rec.key, rec.value)
        for rec in records
        if rec.offset >= offset
    ]


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
