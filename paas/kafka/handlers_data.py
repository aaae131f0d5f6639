"""Produce, Fetch, ListOffsets, Metadata and DeleteRecords."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kio.schema.errors import ErrorCode

from . import acls as A
from . import protocol as P
from .log import Duplicate, OffsetOutOfRange, PartitionLog, SequenceError, StorageError
from .quotas import CONSUMER_BYTE_RATE, PRODUCER_BYTE_RATE
from .records import CorruptBatch, InvalidBatch, validate_produced
from .registry import Topic
from .session import CLUSTER_ID, HOST, NODE_ID, UNKNOWN_OPS, BrokerCore, Handler, Reply, Session

log = logging.getLogger("paas.kafka")
E = ErrorCode
FETCH_RESPONSE_MAX = 8 << 20  # bytes of records per Fetch response, whatever the client asks (memory bound)
TRANSACTIONS_REFUSED = "transactions are not supported by this broker (paas): use an idempotent producer"


class DataHandlers(BrokerCore):
    def data_handlers(self) -> dict[int, Handler]:
        return {
            P.PRODUCE: self.produce,
            P.FETCH: self.fetch,
            P.LIST_OFFSETS: self.list_offsets,
            P.METADATA: self.metadata,
            P.DELETE_RECORDS: self.delete_records,
        }

    # ------------------------------------------------------------ produce
    async def produce(self, s: Session, req: P.Request) -> Reply:
        body = req.body
        if body.transactional_id is not None:
            return self._produce_all(req, E.transactional_id_authorization_failed, TRANSACTIONS_REFUSED)
        if body.acks not in (0, 1, -1):
            return self._produce_all(req, E.invalid_required_acks, f"acks={body.acks} is not 0, 1 or -1")
        produced = 0
        responses = []
        for td in body.topic_data:
            parts = []
            for pd in td.partition_data:
                part, size = self._produce_partition(s, td.name, pd)
                produced += size
                parts.append(part)
            responses.append({"name": td.name, "partition_responses": parts})
        throttle = self.charge(s, PRODUCER_BYTE_RATE, produced) if produced else 0
        if body.acks == 0:
            return Reply(None, throttle)
        return self.respond(req, {"responses": responses}, throttle)

    def _produce_partition(self, s: Session, name: str, pd: Any) -> tuple[dict[str, Any], int]:
        err = self.topic_error(s, A.WRITE, name, pd.index)
        plog = self.logs.get(name, pd.index) if err == E.none else None
        topic = self.registry.topics.get(name)
        base, size, message = -1, 0, None
        if plog is not None and topic is not None:
            try:
                base, size = self._append(topic, plog, pd.records)
            except Duplicate as dup:
                base = dup.base_offset
            except (SequenceError, InvalidBatch, CorruptBatch, StorageError) as exc:
                err, message = _produce_error(exc), str(exc)
        if err != E.none:
            self.stats.produce_errors += 1
        part = {
            "index": pd.index,
            "error_code": err,
            "base_offset": base,
            "log_append_time": None,
            "log_start_offset": plog.log_start_offset if plog is not None else -1,
            "error_message": message,
        }
        return part, size

    def _append(self, topic: Topic, plog: PartitionLog, records: bytes | None) -> tuple[int, int]:
        if records is None:
            raise CorruptBatch("null record set")
        infos = validate_produced(records)
        base = plog.append(records, infos, roll_ms=topic.retention_ms)
        size = len(records)
        m = self.topic_metrics(topic.name)
        m.bytes_in.add(size)
        m.messages_in.add(sum(i.count for i in infos))
        return base, size

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
        return self.respond(req, {"responses": responses})

    # -------------------------------------------------------------- fetch
    async def fetch(self, s: Session, req: P.Request) -> Reply:
        body = req.body
        max_bytes = getattr(body, "max_bytes", FETCH_RESPONSE_MAX)
        if not 0 < max_bytes <= FETCH_RESPONSE_MAX:
            max_bytes = FETCH_RESPONSE_MAX
        if getattr(body, "session_epoch", -1) > 0:
            return self.respond(req, {"error_code": E.fetch_session_id_not_found, "responses": []})
        owed = self.charge(s, CONSUMER_BYTE_RATE, 0)
        if owed:  # over the consume quota: no data this time (KIP-219), just the throttle
            topics, _total, _err = self._collect_fetch(s, body, 0, with_data=False)
            return self.respond(req, {"responses": topics, "session_id": 0}, owed)
        topics, total = await self._long_poll(s, body, max_bytes)
        throttle = self.charge(s, CONSUMER_BYTE_RATE, total) if total else 0
        return self.respond(req, {"responses": topics, "session_id": 0, "error_code": E.none}, throttle)

    async def _long_poll(self, s: Session, body: Any, max_bytes: int) -> tuple[list[dict[str, Any]], int]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(P.ms(body.max_wait), 60_000) / 1000
        while True:
            topics, total, errors = self._collect_fetch(s, body, max_bytes, with_data=True)
            remaining = deadline - loop.time()
            if total >= body.min_bytes or errors or remaining <= 0:
                return topics, total
            if not await self._wait_for_data(body, remaining):
                return topics, total

    async def _wait_for_data(self, body: Any, timeout: float) -> bool:
        """Wait until one of the fetched partitions grows (or `timeout`); False if none exists."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        watched = []
        for ft in body.topics:
            for fp in ft.partitions:
                plog = self.logs.get(ft.topic, fp.partition)
                if plog is not None:
                    plog.waiters.append(fut)
                    watched.append(plog)
        if not watched:
            return False
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            pass
        finally:
            for plog in watched:
                if fut in plog.waiters:
                    plog.waiters.remove(fut)
        return True

    def _collect_fetch(
        self, s: Session, body: Any, max_bytes: int, with_data: bool
    ) -> tuple[list[dict[str, Any]], int, bool]:
        total = 0
        errors = False
        topics = []
        for ft in body.topics:
            parts = []
            for fp in ft.partitions:
                part, size = self._fetch_partition(
                    s, ft.topic, fp, max_bytes - total if with_data else None, total
                )
                total += size
                errors = errors or part["error_code"] != E.none
                parts.append(part)
            topics.append({"topic": ft.topic, "partitions": parts})
        return topics, total, errors

    def _fetch_partition(
        self, s: Session, name: str, fp: Any, budget_left: int | None, total: int
    ) -> tuple[dict[str, Any], int]:
        err = self.topic_error(s, A.READ, name, fp.partition)
        plog = self.logs.get(name, fp.partition) if err == E.none else None
        data = b""
        hw = start = -1
        if plog is not None:
            hw, start = plog.next_offset, plog.log_start_offset
            budget = min(fp.partition_max_bytes, budget_left) if budget_left is not None else 0
            if budget_left is not None and (budget > 0 or total == 0):
                try:
                    data = plog.read(fp.fetch_offset, max(budget, 1))
                except OffsetOutOfRange:
                    err = E.offset_out_of_range
            if data:
                self.topic_metrics(name).bytes_out.add(len(data))
        part = {
            "partition_index": fp.partition,
            "error_code": err,
            "high_watermark": hw,
            "last_stable_offset": hw,
            "log_start_offset": start,
            "aborted_transactions": (),
            "preferred_read_replica": -1,
            "records": data,
        }
        return part, len(data)

    # -------------------------------------------------------- list offsets
    async def list_offsets(self, s: Session, req: P.Request) -> Reply:
        topics = []
        for t in req.body.topics:
            parts = [self._list_offset(s, t.name, p) for p in t.partitions]
            topics.append({"name": t.name, "partitions": parts})
        return self.respond(req, {"topics": topics})

    def _list_offset(self, s: Session, name: str, p: Any) -> dict[str, Any]:
        err = self.topic_error(s, A.DESCRIBE, name, p.partition_index)
        offset = ts = -1
        plog = self.logs.get(name, p.partition_index) if err == E.none else None
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
        return {
            "partition_index": p.partition_index,
            "error_code": err,
            "timestamp": ts,
            "offset": offset,
            "old_style_offsets": (offset,) if offset >= 0 else (),
            "leader_epoch": 0 if err == E.none else -1,
        }

    # ------------------------------------------------------------ metadata
    async def metadata(self, s: Session, req: P.Request) -> Reply:
        requested = req.body.topics
        if requested is None or (req.api_version == 0 and not requested):
            names = sorted(n for n in self.registry.topics if self.allowed(s, A.DESCRIBE, A.TOPIC, n))
        else:
            names = [t.name for t in requested]
        with_topic_ops = bool(getattr(req.body, "include_topic_authorized_operations", False))
        topics = [self._topic_metadata(s, name, with_topic_ops) for name in names]
        cluster_ops = UNKNOWN_OPS
        if getattr(req.body, "include_cluster_authorized_operations", False):
            cluster_ops = self.authorizer.authorized_operations(s.principal.name, A.CLUSTER, A.CLUSTER_NAME)
        return self.respond(
            req,
            {
                "brokers": [{"node_id": NODE_ID, "host": HOST, "port": s.port, "rack": None}],
                "cluster_id": CLUSTER_ID,
                "controller_id": NODE_ID,
                "topics": topics,
                "cluster_authorized_operations": cluster_ops,
            },
        )

    def _topic_metadata(self, s: Session, name: str, with_ops: bool) -> dict[str, Any]:
        err = self.topic_error(s, A.DESCRIBE, name)
        topic = self.registry.topics.get(name) if err == E.none else None
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
            for p in range(topic.partitions if topic is not None else 0)
        ]
        ops = UNKNOWN_OPS
        if with_ops and err == E.none:
            ops = self.authorizer.authorized_operations(s.principal.name, A.TOPIC, name)
        return {
            "error_code": err,
            "name": name,
            "is_internal": False,
            "partitions": partitions,
            "topic_authorized_operations": ops,
        }

    # ------------------------------------------------------ delete records
    async def delete_records(self, s: Session, req: P.Request) -> Reply:
        topics = []
        for t in req.body.topics:
            parts = [self._delete_partition_records(s, t.name, p) for p in t.partitions]
            topics.append({"name": t.name, "partitions": parts})
        return self.respond(req, {"topics": topics})

    def _delete_partition_records(self, s: Session, name: str, p: Any) -> dict[str, Any]:
        err = self.topic_error(s, A.DELETE, name, p.partition_index)
        plog = self.logs.get(name, p.partition_index) if err == E.none else None
        low = -1
        if plog is not None:
            try:
                low = plog.delete_records(p.offset)
                log.info("kafka: records of %s-%d below %d deleted", name, p.partition_index, low)
            except OffsetOutOfRange:
                err = E.offset_out_of_range
        return {"partition_index": p.partition_index, "low_watermark": low, "error_code": err}


def _produce_error(exc: Exception) -> ErrorCode:
    if isinstance(exc, SequenceError):
        return E.invalid_producer_epoch if exc.kind == "epoch" else E.out_of_order_sequence_number
    if isinstance(exc, InvalidBatch):
        return E.message_too_large if exc.too_large else E.invalid_record
    if isinstance(exc, CorruptBatch):
        return E.corrupt_message
    log.error("kafka: %s", exc)
    return E.kafka_storage_error
