"""Request handlers: one method per Kafka API, version-agnostic thanks to `protocol.build`.

The broker is node 0 of a one-node cluster: leader of every partition, coordinator of every
group. Handlers see a `Session` (who is connected, through which listener) and return a
`Reply`: the kio response (None for acks=0 produce), a throttle time the server enforces by
not reading from the connection, and whether to close the connection afterwards.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from kio.schema.errors import ErrorCode

from . import protocol as P
from .auth import ADMIN, ADMIN_USER, ANONYMOUS, Principal
from .groups import GroupCoordinator
from .log import Duplicate, OffsetOutOfRange, SequenceError, StorageError
from .metrics import TopicMetrics
from .plans import PLANS
from .quotas import TenantQuotas
from .records import CorruptBatch, InvalidBatch, validate_produced
from .refusal import unsupported_response
from .registry import OffsetStore, Registry, Topic
from .storage import LogManager

log = logging.getLogger("paas.kafka")

NODE_ID = 0
CLUSTER_ID = "paas-kafka-local"
HOST = "127.0.0.1"
UNKNOWN_OPS = -2147483648  # "authorized operations not requested"
MAX_METADATA_CHARS = 4096  # offset.metadata.max.bytes
FETCH_RESPONSE_MAX = 8 << 20  # bytes of records per Fetch response, whatever the client asks (memory bound)
E = ErrorCode


@dataclass
class Session:
    listener: str  # "plain" | "tls"
    port: int  # advertised back in Metadata / FindCoordinator
    peer: str
    principal: Principal = ANONYMOUS
    sasl_stage: str | None = None  # None | "authenticate" | "v0_token"
    requests: int = 0


@dataclass
class Reply:
    response: Any | None
    throttle_ms: int = 0
    close: bool = False


@dataclass
class BrokerStats:
    requests: dict[str, int] = field(default_factory=dict)
    produce_errors: int = 0
    bad_frames: int = 0
    unsupported_versions: int = 0
    connections_refused: int = 0


Handler = Callable[[Session, P.Request], Coroutine[Any, Any, Reply]]


class Broker:
    def __init__(
        self,
        registry: Registry,
        logs: LogManager,
        offsets: OffsetStore,
        coordinator: GroupCoordinator,
        admin_password: Callable[[], str | None],
        on_capacity: Callable[[str], None] | None = None,
    ):
        self.registry = registry
        self.logs = logs
        self.offsets = offsets
        self.coordinator = coordinator
        self.admin_password = admin_password
        self.on_capacity = on_capacity
        self.metrics: dict[str, TopicMetrics] = {}
        self.quotas: dict[str, TenantQuotas] = {}
        self.stats = BrokerStats()
        self.tenant_bytes: dict[str, int] = {}
        self.handlers: dict[int, Handler] = {
            P.PRODUCE: self.produce,
            P.FETCH: self.fetch,
            P.LIST_OFFSETS: self.list_offsets,
            P.METADATA: self.metadata,
            P.OFFSET_COMMIT: self.offset_commit,
            P.OFFSET_FETCH: self.offset_fetch,
            P.FIND_COORDINATOR: self.find_coordinator,
            P.JOIN_GROUP: self.join_group,
            P.HEARTBEAT: self.heartbeat,
            P.LEAVE_GROUP: self.leave_group,
            P.SYNC_GROUP: self.sync_group,
            P.DESCRIBE_GROUPS: self.describe_groups,
            P.LIST_GROUPS: self.list_groups,
            P.SASL_HANDSHAKE: self.sasl_handshake,
            P.API_VERSIONS: self.api_versions,
            P.CREATE_TOPICS: self.create_topics,
            P.DELETE_TOPICS: self.delete_topics,
            P.INIT_PRODUCER_ID: self.init_producer_id,
            P.DESCRIBE_CONFIGS: self.describe_configs,
            P.SASL_AUTHENTICATE: self.sasl_authenticate,
            P.CREATE_PARTITIONS: self.create_partitions,
        }
        # Admin operations (topic create/delete) are provided by the service.
        self.admin_create_topic: Callable[[str | None, str, int | None, int | None], Topic] | None = None
        self.admin_delete_topic: Callable[[str], None] | None = None
        self.admin_add_partitions: Callable[[str, int], None] | None = None

    async def handle(self, session: Session, req: P.Request) -> Reply:
        session.requests += 1
        self.stats.requests[req.name] = self.stats.requests.get(req.name, 0) + 1
        if not req.supported:
            return self.refuse_version(req)
        return await self.handlers[req.api_key](session, req)

    def refuse_version(self, req: P.Request) -> Reply:
        """UNSUPPORTED_VERSION for a version outside ApiVersions; the connection stays open."""
        self.stats.unsupported_versions += 1
        log.info("kafka: %s v%d is not supported; answered UNSUPPORTED_VERSION", req.name, req.api_version)
        if req.api_key == P.API_VERSIONS:  # KIP-511: a v0 answer listing what we do speak
            return Reply(
                P.response(
                    P.API_VERSIONS, 0, {"error_code": E.unsupported_version, "api_keys": self._api_keys()}
                )
            )
        return Reply(unsupported_response(req))

    def _respond(
        self, req: P.Request, values: dict[str, Any], throttle_ms: int = 0, close: bool = False
    ) -> Reply:
        values.setdefault("throttle_time", throttle_ms)
        return Reply(P.response(req.api_key, req.api_version, values), throttle_ms, close)

    # ------------------------------------------------------------- helpers
    def topic_metrics(self, name: str) -> TopicMetrics:
        m = self.metrics.get(name)
        if m is None:
            m = self.metrics[name] = TopicMetrics()
        return m

    def tenant_quotas(self, principal: Principal) -> TenantQuotas | None:
        tenant = principal.tenant
        if tenant is None:
            return None
        q = self.quotas.get(tenant.id)
        if q is None:
            plan = PLANS[tenant.plan]
            q = self.quotas[tenant.id] = TenantQuotas(plan.produce_bytes_per_sec, plan.consume_bytes_per_sec)
        return q

    def _topic_error(self, principal: Principal, name: str, partition: int | None = None) -> ErrorCode:
        if not principal.may_topic(name):
            return E.topic_authorization_failed
        topic = self.registry.topics.get(name)
        if topic is None:
            return E.unknown_topic_or_partition
        if partition is not None and not 0 <= partition < topic.partitions:
            return E.unknown_topic_or_partition
        return E.none

    # ------------------------------------------------------------ produce
    async def produce(self, s: Session, req: P.Request) -> Reply:
        body = req.body
        acks = body.acks
        if body.transactional_id is not None:
            return self._produce_all(
                req, E.transactional_id_authorization_failed, "transactions are not supported"
            )
        if acks not in (0, 1, -1):
            return self._produce_all(req, E.invalid_required_acks, f"acks={acks} is not 0, 1 or -1")
        quotas = self.tenant_quotas(s.principal)
        produced = 0
        responses = []
        for td in body.topic_data:
            name = td.name
            topic = self.registry.topics.get(name)
            parts = []
            for pd in td.partition_data:
                err = self._topic_error(s.principal, name, pd.index)
                base = -1
                message = None
                plog = self.logs.get(name, pd.index) if err == E.none else None
                if plog is not None and topic is not None:
                    try:
                        if pd.records is None:
                            raise CorruptBatch("null record set")
                        infos = validate_produced(pd.records)
                        base = plog.append(pd.records, infos, roll_ms=topic.retention_ms)
                        size = len(pd.records)
                        produced += size
                        m = self.topic_metrics(name)
                        m.bytes_in.add(size)
                        m.messages_in.add(sum(i.count for i in infos))
                        if topic.tenant is not None:
                            self._grow(topic.tenant, size)
                    except Duplicate as dup:
                        base = dup.base_offset
                    except SequenceError as exc:
                        err = (
                            E.invalid_producer_epoch
                            if exc.kind == "epoch"
                            else E.out_of_order_sequence_number
                        )
                        message = str(exc)
                    except InvalidBatch as exc:
                        err = E.message_too_large if exc.too_large else E.invalid_record
                        message = str(exc)
                    except CorruptBatch as exc:
                        err = E.corrupt_message
                        message = str(exc)
                    except StorageError as exc:
                        err = E.kafka_storage_error
                        message = str(exc)
                        log.error("kafka: %s", exc)
                if err != E.none:
                    self.stats.produce_errors += 1
                parts.append(
                    {
                        "index": pd.index,
                        "error_code": err,
                        "base_offset": base,
                        "log_append_time": None,
                        "log_start_offset": plog.log_start_offset if plog is not None else -1,
                        "error_message": message,
                    }
                )
            responses.append({"name": name, "partition_responses": parts})
        throttle = quotas.produce.record(produced) if quotas is not None and produced else 0
        if acks == 0:
            return Reply(None, throttle)
        return self._respond(req, {"responses": responses}, throttle)

    def _produce_all(self, req: P.Request, err: ErrorCode, message: str) -> Reply:
        responses = [
            {
                "name": td.name,
                "partition_responses": [
                    {
                        "index": pd.index,
                        "error_code": err,
                        "base_offset": -1,
                        "log_start_offset": -1,
                        "error_message": message,
                    }
                    for pd in td.partition_data
                ],
            }
            for td in req.body.topic_data
        ]
        if req.body.acks == 0:
            return Reply(None, 0, close=True)
        return self._respond(req, {"responses": responses})

    def _grow(self, tenant_id: str, size: int) -> None:
        total = self.tenant_bytes.get(tenant_id, 0) + size
        self.tenant_bytes[tenant_id] = total
        tenant = self.registry.tenants.get(tenant_id)
        if tenant is not None and total > PLANS[tenant.plan].capacity_bytes and self.on_capacity is not None:
            self.on_capacity(tenant_id)

    # -------------------------------------------------------------- fetch
    async def fetch(self, s: Session, req: P.Request) -> Reply:
        body = req.body
        max_wait = P.ms(body.max_wait)
        min_bytes = body.min_bytes
        max_bytes = getattr(body, "max_bytes", FETCH_RESPONSE_MAX)
        if not 0 < max_bytes <= FETCH_RESPONSE_MAX:
            max_bytes = FETCH_RESPONSE_MAX
        if getattr(body, "session_epoch", -1) > 0:
            return self._respond(req, {"error_code": E.fetch_session_id_not_found, "responses": []})
        quotas = self.tenant_quotas(s.principal)
        if quotas is not None:
            owed = quotas.consume.throttle_ms()
            if owed:  # over the consume quota: no data this time (KIP-219), just the throttle
                quotas.consume.throttled += 1
                quotas.consume.throttle_ms_total += owed
                topics, _total, _err = self._collect_fetch(s, body, 0, with_data=False)
                return self._respond(req, {"responses": topics, "session_id": 0}, owed)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(max_wait, 60_000) / 1000
        while True:
            topics, total, errors = self._collect_fetch(s, body, max_bytes, with_data=True)
            remaining = deadline - loop.time()
            if total >= min_bytes or errors or remaining <= 0:
                break
            fut: asyncio.Future[None] = loop.create_future()
            watched = []
            for ft in body.topics:
                for fp in ft.partitions:
                    plog = self.logs.get(ft.topic, fp.partition)
                    if plog is not None:
                        plog.waiters.append(fut)
                        watched.append(plog)
            if not watched:
                break
            try:
                await asyncio.wait_for(fut, remaining)
            except TimeoutError:
                pass
            finally:
                for plog in watched:
                    if fut in plog.waiters:
                        plog.waiters.remove(fut)
        throttle = quotas.consume.record(total) if quotas is not None and total else 0
        return self._respond(req, {"responses": topics, "session_id": 0, "error_code": E.none}, throttle)

    def _collect_fetch(
        self, s: Session, body: Any, max_bytes: int, with_data: bool
    ) -> tuple[list[dict[str, Any]], int, bool]:
        total = 0
        errors = False
        topics = []
        for ft in body.topics:
            name = ft.topic
            parts = []
            for fp in ft.partitions:
                err = self._topic_error(s.principal, name, fp.partition)
                plog = self.logs.get(name, fp.partition) if err == E.none else None
                data = b""
                hw = start = -1
                if plog is not None:
                    hw, start = plog.next_offset, plog.log_start_offset
                    if with_data:
                        budget = min(fp.partition_max_bytes, max_bytes - total)
                        if budget > 0 or total == 0:
                            try:
                                data = plog.read(fp.fetch_offset, max(budget, 1))
                            except OffsetOutOfRange:
                                err = E.offset_out_of_range
                        if data:
                            total += len(data)
                            self.topic_metrics(name).bytes_out.add(len(data))
                if err != E.none:
                    errors = True
                parts.append(
                    {
                        "partition_index": fp.partition,
                        "error_code": err,
                        "high_watermark": hw,
                        "last_stable_offset": hw,
                        "log_start_offset": start,
                        "aborted_transactions": (),
                        "preferred_read_replica": -1,
                        "records": data,
                    }
                )
            topics.append({"topic": name, "partitions": parts})
        return topics, total, errors

    # -------------------------------------------------------- list offsets
    async def list_offsets(self, s: Session, req: P.Request) -> Reply:
        topics = []
        for t in req.body.topics:
            parts = []
            for p in t.partitions:
                err = self._topic_error(s.principal, t.name, p.partition_index)
                offset = ts = -1
                plog = self.logs.get(t.name, p.partition_index) if err == E.none else None
                if plog is not None:
                    if p.timestamp == -1:
                        offset = plog.next_offset
                    elif p.timestamp == -2:
                        offset = plog.log_start_offset
                    elif p.timestamp == -3:
                        offset, ts = plog.max_timestamp()
                    else:
                        found = plog.offset_for_time(p.timestamp)
                        offset, ts = found if found is not None else (plog.next_offset, -1)
                parts.append(
                    {
                        "partition_index": p.partition_index,
                        "error_code": err,
                        "timestamp": ts,
                        "offset": offset,
                        "leader_epoch": 0 if err == E.none else -1,
                    }
                )
            topics.append({"name": t.name, "partitions": parts})
        return self._respond(req, {"topics": topics})

    # ------------------------------------------------------------ metadata
    async def metadata(self, s: Session, req: P.Request) -> Reply:
        requested = req.body.topics
        if requested is None or (req.api_version == 0 and not requested):
            names = sorted(n for n in self.registry.topics if s.principal.may_topic(n))
        else:
            names = [t.name for t in requested]
        topics = []
        for name in names:
            err = self._topic_error(s.principal, name)
            topic = self.registry.topics.get(name) if err == E.none else None
            partitions = []
            if topic is not None:
                partitions = [
                    {
                        "error_code": E.none,
                        "partition_index": p,
                        "leader_id": NODE_ID,
                        "leader_epoch": 0,
                        "replica_nodes": (NODE_ID,),
                        "isr_nodes": (NODE_ID,),
                        "offline_replicas": (),
                    }
                    for p in range(topic.partitions)
                ]
            topics.append(
                {
                    "error_code": err,
                    "name": name,
                    "is_internal": False,
                    "partitions": partitions,
                    "topic_authorized_operations": UNKNOWN_OPS,
                }
            )
        return self._respond(
            req,
            {
                "brokers": [{"node_id": NODE_ID, "host": HOST, "port": s.port, "rack": None}],
                "cluster_id": CLUSTER_ID,
                "controller_id": NODE_ID,
                "topics": topics,
                "cluster_authorized_operations": UNKNOWN_OPS,
            },
        )

    # -------------------------------------------------------------- groups
    async def find_coordinator(self, s: Session, req: P.Request) -> Reply:
        key, key_type = req.body.key, getattr(req.body, "key_type", 0)
        if key_type != 0:
            err, msg = E.coordinator_not_available, "transactions are not supported"
        elif not s.principal.may_group(key, self.registry):
            err, msg = E.group_authorization_failed, self._group_denied(s, key)
        else:
            err, msg = E.none, None
        ok = err == E.none
        return self._respond(
            req,
            {
                "error_code": err,
                "error_message": msg,
                "node_id": NODE_ID if ok else -1,
                "host": HOST if ok else "",
                "port": s.port if ok else -1,
            },
        )

    def _group_denied(self, s: Session, group: str) -> str:
        tenant = s.principal.tenant
        if tenant is not None and group.startswith(tenant.prefix):
            return (
                f"consumer group {group!r} does not exist; create it with "
                f"`paas kafka:consumer-groups:create {group} -a {tenant.app}`"
            )
        return f"not authorized to access group {group!r}"

    async def join_group(self, s: Session, req: P.Request) -> Reply:
        b = req.body
        if not s.principal.may_group(b.group_id, self.registry):
            return self._respond(
                req,
                {
                    "error_code": E.group_authorization_failed,
                    "generation_id": -1,
                    "member_id": b.member_id,
                    "protocol_name": "" if req.api_version < 7 else None,
                },
            )
        session_ms = P.ms(b.session_timeout)
        rebalance_ms = P.ms(getattr(b, "rebalance_timeout", None), session_ms)
        result = await self.coordinator.join(
            b.group_id,
            b.member_id,
            getattr(b, "group_instance_id", None),
            "" if req.client_id is None else req.client_id,
            s.peer,
            session_ms,
            rebalance_ms,
            b.protocol_type,
            [(p.name, p.metadata) for p in b.protocols],
            require_known_member_id=req.api_version >= 4,
        )
        old = req.api_version < 7
        return self._respond(
            req,
            {
                "error_code": result.error,
                "generation_id": result.generation,
                "protocol_type": result.protocol_type,
                "protocol_name": (result.protocol_name or "") if old else result.protocol_name,
                "leader": result.leader,
                "member_id": result.member_id,
                "members": [
                    {"member_id": m, "group_instance_id": g, "metadata": meta}
                    for m, g, meta in result.members
                ],
            },
        )

    async def sync_group(self, s: Session, req: P.Request) -> Reply:
        b = req.body
        if not s.principal.may_group(b.group_id, self.registry):
            return self._respond(req, {"error_code": E.group_authorization_failed, "assignment": b""})
        err, assignment = await self.coordinator.sync(
            b.group_id, b.generation_id, b.member_id, {a.member_id: a.assignment for a in b.assignments}
        )
        group = self.coordinator.groups.get(b.group_id)
        return self._respond(
            req,
            {
                "error_code": err,
                "assignment": assignment,
                "protocol_type": group.protocol_type if group else None,
                "protocol_name": group.protocol if group else None,
            },
        )

    async def heartbeat(self, s: Session, req: P.Request) -> Reply:
        b = req.body
        if not s.principal.may_group(b.group_id, self.registry):
            return self._respond(req, {"error_code": E.group_authorization_failed})
        return self._respond(
            req, {"error_code": self.coordinator.heartbeat(b.group_id, b.generation_id, b.member_id)}
        )

    async def leave_group(self, s: Session, req: P.Request) -> Reply:
        b = req.body
        if not s.principal.may_group(b.group_id, self.registry):
            return self._respond(req, {"error_code": E.group_authorization_failed})
        if req.api_version < 3:
            results = self.coordinator.leave(b.group_id, [b.member_id])
            return self._respond(req, {"error_code": results[b.member_id]})
        results = self.coordinator.leave(b.group_id, [m.member_id for m in b.members])
        return self._respond(
            req,
            {
                "error_code": E.none,
                "members": [
                    {
                        "member_id": m.member_id,
                        "group_instance_id": m.group_instance_id,
                        "error_code": results[m.member_id],
                    }
                    for m in b.members
                ],
            },
        )

    async def offset_commit(self, s: Session, req: P.Request) -> Reply:
        b = req.body
        group_err = E.none
        if not s.principal.may_group(b.group_id, self.registry):
            group_err = E.group_authorization_failed
        else:
            generation = getattr(b, "generation_id_or_member_epoch", getattr(b, "generation_id", -1))
            group_err = self.coordinator.check_commit(b.group_id, generation, b.member_id)
        topics = []
        to_commit = []
        for t in b.topics:
            parts = []
            for p in t.partitions:
                err = (
                    group_err
                    if group_err != E.none
                    else self._topic_error(s.principal, t.name, p.partition_index)
                )
                if (
                    err == E.none
                    and p.committed_metadata is not None
                    and len(p.committed_metadata) > MAX_METADATA_CHARS
                ):
                    err = E.offset_metadata_too_large
                if err == E.none:
                    to_commit.append((t.name, p.partition_index, p.committed_offset, p.committed_metadata))
                parts.append({"partition_index": p.partition_index, "error_code": err})
            topics.append({"name": t.name, "partitions": parts})
        if to_commit:
            self.offsets.commit(b.group_id, to_commit)
        return self._respond(req, {"topics": topics})

    async def offset_fetch(self, s: Session, req: P.Request) -> Reply:
        b = req.body
        allowed = s.principal.may_group(b.group_id, self.registry)
        group_err = E.none if allowed else E.group_authorization_failed
        committed = self.offsets.group_offsets(b.group_id) if allowed else {}
        wanted: list[tuple[str, list[int]]]
        if b.topics is None:
            by_topic: dict[str, list[int]] = {}
            for topic, partition in sorted(committed):
                if s.principal.may_topic(topic):
                    by_topic.setdefault(topic, []).append(partition)
            wanted = list(by_topic.items())
        else:
            wanted = [(t.name, list(t.partition_indexes)) for t in b.topics]
        topics = []
        for name, partitions in wanted:
            parts = []
            for p in partitions:
                err = group_err
                if err == E.none and not s.principal.may_topic(name):
                    err = E.topic_authorization_failed
                c = committed.get((name, p)) if err == E.none else None
                parts.append(
                    {
                        "partition_index": p,
                        "committed_offset": c.offset if c else -1,
                        "committed_leader_epoch": -1,
                        "metadata": (c.metadata or "") if c else "",
                        "error_code": err,
                    }
                )
            topics.append({"name": name, "partitions": parts})
        if req.api_version >= 2 and group_err != E.none:
            topics = []
        return self._respond(req, {"topics": topics, "error_code": group_err})

    async def describe_groups(self, s: Session, req: P.Request) -> Reply:
        groups = []
        for gid in req.body.groups:
            if not s.principal.may_group(gid, self.registry):
                groups.append(
                    {
                        "error_code": E.group_authorization_failed,
                        "group_id": gid,
                        "group_state": "",
                        "authorized_operations": UNKNOWN_OPS,
                    }
                )
                continue
            g = self.coordinator.groups.get(gid)
            if g is None:
                state = "Empty" if gid in self.registry.groups else "Dead"
                groups.append(
                    {
                        "error_code": E.none,
                        "group_id": gid,
                        "group_state": state,
                        "authorized_operations": UNKNOWN_OPS,
                    }
                )
                continue
            info = g.describe()
            info.pop("generation")
            info["error_code"] = E.none
            info["authorized_operations"] = UNKNOWN_OPS
            groups.append(info)
        return self._respond(req, {"groups": groups})

    async def list_groups(self, s: Session, req: P.Request) -> Reply:
        names = set(self.registry.groups) | set(self.coordinator.groups)
        wanted_states = set(getattr(req.body, "states_filter", ()) or ())
        listed = []
        for name in sorted(names):
            if not s.principal.may_group(name, self.registry):
                continue
            g = self.coordinator.groups.get(name)
            state = g.state if g is not None else "Empty"
            if wanted_states and state not in wanted_states:
                continue
            listed.append(
                {
                    "group_id": name,
                    "protocol_type": (g.protocol_type if g else None) or "consumer",
                    "group_state": state,
                }
            )
        return self._respond(req, {"error_code": E.none, "groups": listed})

    # ------------------------------------------------------------- admin
    def _tenant_may_not(self, s: Session, name: str, what: str) -> tuple[ErrorCode, str]:
        tenant = s.principal.tenant
        if tenant is None or not s.principal.may_topic(name):
            return E.topic_authorization_failed, f"not authorized to access topic {name!r}"
        short = name[len(tenant.prefix) :]
        return (
            E.policy_violation,
            f"Topics on {tenant.plan} plans are managed with the CLI: "
            f"`paas kafka:topics:{what} {short} -a {tenant.app}` "
            f"(heroku kafka:topics:{what}); clients may not {what} topics.",
        )

    async def create_topics(self, s: Session, req: P.Request) -> Reply:
        results = []
        for t in req.body.topics:
            err, msg = E.none, None
            partitions = t.num_partitions
            if s.principal.kind != "admin":
                err, msg = self._tenant_may_not(s, t.name, "create")
            elif t.name in self.registry.topics:
                err, msg = E.topic_already_exists, f"Topic {t.name!r} already exists."
            elif not req.body.validate_only and self.admin_create_topic is not None:
                retention = None
                for c in t.configs:
                    if c.name == "retention.ms" and c.value is not None and c.value.lstrip("-").isdigit():
                        retention = int(c.value)
                try:
                    topic = self.admin_create_topic(
                        None, t.name, None if partitions < 1 else partitions, retention
                    )
                    partitions = topic.partitions
                except Exception as exc:  # PaasError from validation
                    err, msg = E.invalid_request, getattr(exc, "message", str(exc))
            results.append(
                {
                    "name": t.name,
                    "error_code": err,
                    "error_message": msg,
                    "num_partitions": partitions,
                    "replication_factor": 1,
                    "configs": None if err != E.none else (),
                }
            )
        return self._respond(req, {"topics": results})

    async def delete_topics(self, s: Session, req: P.Request) -> Reply:
        results = []
        for name in req.body.topic_names:
            err, msg = E.none, None
            if s.principal.kind != "admin":
                err, msg = self._tenant_may_not(s, name, "destroy")
            elif name not in self.registry.topics:
                err, msg = E.unknown_topic_or_partition, f"Topic {name!r} does not exist."
            elif self.admin_delete_topic is not None:
                self.admin_delete_topic(name)
            results.append({"name": name, "error_code": err, "error_message": msg})
        return self._respond(req, {"responses": results})

    async def create_partitions(self, s: Session, req: P.Request) -> Reply:
        results = []
        for t in req.body.topics:
            err, msg = E.none, None
            topic = self.registry.topics.get(t.name)
            if s.principal.kind != "admin":
                err, msg = self._tenant_may_not(s, t.name, "create")
            elif topic is None:
                err, msg = E.unknown_topic_or_partition, f"Topic {t.name!r} does not exist."
            elif t.count <= topic.partitions:
                err, msg = E.invalid_partitions, f"Topic already has {topic.partitions} partitions."
            elif not req.body.validate_only and self.admin_add_partitions is not None:
                self.admin_add_partitions(t.name, t.count)
            results.append({"name": t.name, "error_code": err, "error_message": msg})
        return self._respond(req, {"results": results})

    def topic_configs(self, topic: Topic) -> list[tuple[str, str, bool]]:
        """(name, value, is_default) of a topic's effective configuration."""
        return [
            ("cleanup.policy", "compact,delete" if topic.compaction else "delete", not topic.compaction),
            ("retention.ms", str(topic.retention_ms), False),
            ("retention.bytes", "-1", True),
            ("max.message.bytes", "1048588", True),
            ("segment.bytes", str(self.logs.segment_bytes), True),
            ("message.timestamp.type", "CreateTime", True),
            ("compression.type", "producer", True),
            ("min.insync.replicas", "1", True),
        ]

    async def describe_configs(self, s: Session, req: P.Request) -> Reply:
        results = []
        for r in req.body.resources:
            keys = set(r.configuration_keys) if r.configuration_keys else None
            err, msg, configs = E.none, None, []
            entries: list[tuple[str, str, bool]] = []
            if r.resource_type == 2:
                err = self._topic_error(s.principal, r.resource_name)
                topic = self.registry.topics.get(r.resource_name)
                if err == E.none and topic is not None:
                    entries = self.topic_configs(topic)
                elif err == E.topic_authorization_failed:
                    msg = f"not authorized to access topic {r.resource_name!r}"
            elif r.resource_type == 4:
                entries = [
                    ("auto.create.topics.enable", "false", False),
                    ("message.max.bytes", "1048588", True),
                    ("num.partitions", "8", False),
                    ("default.replication.factor", "1", False),
                    ("log.segment.bytes", str(self.logs.segment_bytes), False),
                ]
            else:
                err, msg = E.invalid_request, f"resource type {r.resource_type} is not supported"
            for name, value, is_default in entries:
                if keys is None or name in keys:
                    configs.append(
                        {
                            "name": name,
                            "value": value,
                            "read_only": r.resource_type == 4,
                            "config_source": 5 if is_default else (1 if r.resource_type == 2 else 4),
                            "is_sensitive": False,
                            "synonyms": (),
                            "config_type": 0,
                            "documentation": None,
                        }
                    )
            results.append(
                {
                    "error_code": err,
                    "error_message": msg,
                    "resource_type": r.resource_type,
                    "resource_name": r.resource_name,
                    "configs": configs,
                }
            )
        return self._respond(req, {"results": results})

    async def init_producer_id(self, s: Session, req: P.Request) -> Reply:
        b = req.body
        if b.transactional_id is not None:
            return self._respond(
                req,
                {
                    "error_code": E.transactional_id_authorization_failed,
                    "producer_id": -1,
                    "producer_epoch": -1,
                },
            )
        if s.principal.kind == "anonymous":
            return self._respond(
                req, {"error_code": E.cluster_authorization_failed, "producer_id": -1, "producer_epoch": -1}
            )
        pid, epoch = getattr(b, "producer_id", -1), getattr(b, "producer_epoch", -1)
        if pid >= 0 and 0 <= epoch < 32766:
            return self._respond(req, {"error_code": E.none, "producer_id": pid, "producer_epoch": epoch + 1})
        return self._respond(
            req,
            {"error_code": E.none, "producer_id": self.registry.allocate_producer_id(), "producer_epoch": 0},
        )

    # --------------------------------------------------------------- SASL
    def _api_keys(self) -> list[dict[str, int]]:
        return [
            {"api_key": k, "min_version": lo, "max_version": hi}
            for k, (lo, hi) in sorted(P.ADVERTISED.items())
        ]

    async def api_versions(self, s: Session, req: P.Request) -> Reply:
        return self._respond(req, {"error_code": E.none, "api_keys": self._api_keys()})

    async def sasl_handshake(self, s: Session, req: P.Request) -> Reply:
        if s.principal.kind != "anonymous" and s.listener == "plain":
            return self._respond(req, {"error_code": E.illegal_sasl_state, "mechanisms": ("PLAIN",)})
        if req.body.mechanism != "PLAIN":
            return self._respond(req, {"error_code": E.unsupported_sasl_mechanism, "mechanisms": ("PLAIN",)})
        s.sasl_stage = "v0_token" if req.api_version == 0 else "authenticate"
        return self._respond(req, {"error_code": E.none, "mechanisms": ("PLAIN",)})

    async def sasl_authenticate(self, s: Session, req: P.Request) -> Reply:
        if s.sasl_stage != "authenticate":
            return self._respond(
                req,
                {
                    "error_code": E.illegal_sasl_state,
                    "auth_bytes": b"",
                    "error_message": "SaslHandshake must come first",
                },
                close=True,
            )
        s.sasl_stage = None
        principal = self.authenticate_plain(req.body.auth_bytes)
        if principal is None:
            return self._respond(
                req,
                {
                    "error_code": E.sasl_authentication_failed,
                    "auth_bytes": b"",
                    "error_message": "Authentication failed: Invalid username or password",
                },
                close=True,
            )
        s.principal = principal
        return self._respond(req, {"error_code": E.none, "auth_bytes": b"", "session_lifetime": 0})

    def authenticate_plain(self, token: bytes) -> Principal | None:
        parts = token.split(b"\0")
        if len(parts) != 3:
            return None
        try:
            user, password = parts[1].decode(), parts[2].decode()
        except UnicodeDecodeError:
            return None
        if user == ADMIN_USER:
            secret = self.admin_password()
            if secret and hmac.compare_digest(secret.encode(), password.encode()):
                return ADMIN
            return None
        for tenant in self.registry.tenants.values():
            if tenant.username == user:
                if hmac.compare_digest(tenant.password.encode(), password.encode()):
                    return Principal("tenant", tenant)
                return None
        return None


def now_ms() -> int:
    return int(time.time() * 1000)
