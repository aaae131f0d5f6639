"""The broker at the wire: version negotiation, ACLs, bad input, idempotence, restart safety."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crc32c import crc32c
from kio.schema.errors import ErrorCode as E
from kio.static.constants import EntityType

from paas.kafka import protocol as P
from paas.kafka.records import build_batch, decode_batch, iter_headers
from paas.kafka.wire import WireClient
from tests.support.kafka_broker import BrokerThread, broker_settings

pytestmark = pytest.mark.kafka

A, B = "kafka-alpha-11111", "kafka-beta-22222"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerThread]:
    b = BrokerThread(broker_settings(tmp_path / "home"), initial_rebalance_delay=0.05).start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def tenants(broker: BrokerThread) -> dict[str, object]:
    svc = broker.svc

    async def setup() -> dict[str, object]:
        a = await svc.create_tenant(A, "app-a", "basic-0")
        b = await svc.create_tenant(B, "app-b", "basic-0")
        await svc.create_topic(A, "events", partitions=2)
        await svc.create_topic(B, "events", partitions=1)
        await svc.create_group(A, "workers")
        return {"a": a.tenant, "b": b.tenant}

    return broker.call(setup)


def _login(client: WireClient, tenant: Any) -> None:
    resp = client.sasl_plain(tenant.username, tenant.password)
    assert resp.error_code == E.none


def _produce(client: WireClient, topic: str, records: bytes, partition: int = 0, acks: int = 1) -> Any:
    return client.request(
        P.PRODUCE,
        8,
        {
            "acks": acks,
            "timeout": 5000,
            "topic_data": [{"name": topic, "partition_data": [{"index": partition, "records": records}]}],
        },
    )


def _fetch(client: WireClient, topic: str, offset: int = 0, partition: int = 0, wait: int = 0) -> Any:
    return client.request(
        P.FETCH,
        12,
        {
            "max_wait": wait,
            "min_bytes": 1,
            "max_bytes": 1 << 20,
            "topics": [
                {
                    "topic": topic,
                    "partitions": [
                        {
                            "partition": partition,
                            "fetch_offset": offset,
                            "partition_max_bytes": 1 << 20,
                            "log_start_offset": -1,
                        }
                    ],
                }
            ],
            "rack_id": "",
        },
    )


def _values(records: bytes) -> list[bytes | None]:
    return [r.value for info in iter_headers(records) for r in decode_batch(records, info)]


def test_api_versions_negotiation(broker: BrokerThread) -> None:
    with WireClient(broker.svc.port) as c:
        resp = c.request(P.API_VERSIONS, 3, {"client_software_name": "probe", "client_software_version": "1"})
        advertised = {k.api_key: (k.min_version, k.max_version) for k in resp.api_keys}
        assert resp.error_code == E.none and advertised == P.ADVERTISED
        # a version newer than ours: UNSUPPORTED_VERSION in a v0 answer listing what we do speak (KIP-511)
        c.correlation += 1
        c.send_raw(struct.pack(">ihhih", 10, P.API_VERSIONS, 9, c.correlation, -1))
        v0 = c.receive(P.API_VERSIONS, 0)
        assert v0.error_code == E.unsupported_version and len(v0.api_keys) == len(P.ADVERTISED)


def test_tenants_are_fenced_by_prefix_and_group_registration(broker: BrokerThread, tenants: dict) -> None:  # type: ignore[type-arg]
    a, b = tenants["a"], tenants["b"]
    with WireClient(broker.svc.port) as c:
        _login(c, b)
        meta = c.request(P.METADATA, 9, {"topics": None})
        assert [t.name for t in meta.topics] == [f"{b.prefix}events"]  # only its own topics are listed
        meta = c.request(P.METADATA, 9, {"topics": [{"name": f"{a.prefix}events"}]})
        assert meta.topics[0].error_code == E.topic_authorization_failed
        produced = _produce(c, f"{a.prefix}events", build_batch([(None, b"intrusion")]))
        assert produced.responses[0].partition_responses[0].error_code == E.topic_authorization_failed
        fetched = _fetch(c, f"{a.prefix}events")
        assert fetched.responses[0].partitions[0].error_code == E.topic_authorization_failed
        coord = c.request(P.FIND_COORDINATOR, 3, {"key": f"{a.prefix}workers", "key_type": 0})
        assert coord.error_code == E.group_authorization_failed
        # its own prefix, but the group was never created with the CLI: found (DESCRIBE), not joinable (READ)
        coord = c.request(P.FIND_COORDINATOR, 3, {"key": f"{b.prefix}workers", "key_type": 0})
        assert coord.error_code == E.none
        join = c.request(
            P.JOIN_GROUP,
            7,
            {
                "group_id": f"{b.prefix}workers",
                "session_timeout": 10000,
                "rebalance_timeout": 10000,
                "member_id": "",
                "protocol_type": "consumer",
                "protocols": [{"name": "range", "metadata": b""}],
            },
        )
        assert join.error_code == E.group_authorization_failed
        created = c.request(
            P.CREATE_TOPICS,
            6,
            {
                "topics": [{"name": f"{b.prefix}new", "num_partitions": 1, "replication_factor": -1}],
                "timeout": 1000,
            },
        )
        result = created.topics[0]
        assert (
            result.error_code == E.topic_authorization_failed
            and "kafka:topics:create" in result.error_message
        )
    with WireClient(broker.svc.port) as anon:  # no SASL at all: nothing but metadata
        assert anon.request(P.METADATA, 9, {"topics": None}).topics == ()
        produced = _produce(anon, f"{a.prefix}events", build_batch([(None, b"x")]))
        assert produced.responses[0].partition_responses[0].error_code == E.topic_authorization_failed
    with WireClient(broker.svc.port) as bad:
        resp = bad.sasl_plain(a.username, "wrong password")
        assert resp.error_code == E.sasl_authentication_failed and bad.is_closed()


def test_malformed_frames_close_only_that_connection(broker: BrokerThread, tenants: dict) -> None:  # type: ignore[type-arg]
    a = tenants["a"]
    topic = f"{a.prefix}events"
    with WireClient(broker.svc.port) as good:
        _login(good, a)
        first = _produce(good, topic, build_batch([(None, b"before")]))
        assert first.responses[0].partition_responses[0].error_code == E.none
        garbage = [
            struct.pack(">i", -5),  # negative size
            struct.pack(">i", 1 << 30),  # oversized
            struct.pack(">i", 3) + b"abc",  # shorter than a header
            struct.pack(">ihhih", 10, 999, 0, 1, -1),  # unknown API key
            struct.pack(">ihhih", 14, P.METADATA, 9, 1, -1) + b"\xff\xff\xff\xff",  # garbage body
        ]
        for frame in garbage:
            with WireClient(broker.svc.port) as bad:
                bad.send_raw(frame)
                assert bad.is_closed(), frame
        with WireClient(broker.svc.port) as truncated:  # half a frame, then hang up
            truncated.send_raw(struct.pack(">i", 100) + b"\0" * 20)
        # a well-framed produce with a corrupt batch gets an error and writes nothing
        batch = bytearray(build_batch([(None, b"corrupt")]))
        batch[-1] ^= 0xFF
        bad_batch = _produce(good, topic, bytes(batch))
        assert bad_batch.responses[0].partition_responses[0].error_code == E.corrupt_message
        after = _produce(good, topic, build_batch([(None, b"after")]))
        assert after.responses[0].partition_responses[0].base_offset == 1
        records = _fetch(good, topic).responses[0].partitions[0].records
        assert _values(records) == [b"before", b"after"]
    assert broker.embedded.broker.stats.bad_frames >= len(garbage)


def test_fetch_long_polls_until_data_arrives(broker: BrokerThread, tenants: dict) -> None:  # type: ignore[type-arg]
    import threading
    import time

    a = tenants["a"]
    topic = f"{a.prefix}events"
    with WireClient(broker.svc.port) as consumer, WireClient(broker.svc.port) as producer:
        _login(consumer, a)
        _login(producer, a)
        start = time.monotonic()
        empty = _fetch(consumer, topic, wait=300)
        assert empty.responses[0].partitions[0].records == b"" and time.monotonic() - start >= 0.28
        timer = threading.Timer(0.3, lambda: _produce(producer, topic, build_batch([(None, b"wake")])))
        timer.start()
        start = time.monotonic()
        woke = _fetch(consumer, topic, wait=5000)
        elapsed = time.monotonic() - start
        timer.join()
        assert _values(woke.responses[0].partitions[0].records) == [b"wake"]
        assert 0.25 < elapsed < 2.0


def _idempotent(records: bytes, pid: int, epoch: int, seq: int) -> bytes:
    raw = bytearray(records)
    raw[43:57] = pid.to_bytes(8, "big") + epoch.to_bytes(2, "big") + seq.to_bytes(4, "big")
    raw[17:21] = crc32c(bytes(raw[21:])).to_bytes(4, "big")
    return bytes(raw)


def test_idempotent_retries_are_stored_once(broker: BrokerThread, tenants: dict) -> None:  # type: ignore[type-arg]
    a = tenants["a"]
    topic = f"{a.prefix}events"
    with WireClient(broker.svc.port) as c:
        _login(c, a)
        init = c.request(
            P.INIT_PRODUCER_ID,
            4,
            {"transactional_id": None, "transaction_timeout": 60000, "producer_id": -1, "producer_epoch": -1},
        )
        assert init.error_code == E.none and init.producer_id >= 0 and init.producer_epoch == 0
        pid = init.producer_id
        first = _idempotent(build_batch([(None, b"one"), (None, b"two")]), pid, 0, 0)
        second = _idempotent(build_batch([(None, b"three")]), pid, 0, 2)
        offsets = [
            _produce(c, topic, b).responses[0].partition_responses[0] for b in (first, second, second, first)
        ]
        assert [(o.error_code, o.base_offset) for o in offsets] == [
            (E.none, 0),
            (E.none, 2),
            (E.none, 2),
            (E.none, 0),
        ]
        gap = _produce(c, topic, _idempotent(build_batch([(None, b"gap")]), pid, 0, 9))
        assert gap.responses[0].partition_responses[0].error_code == E.out_of_order_sequence_number
        records = _fetch(c, topic).responses[0].partitions[0].records
        assert _values(records) == [b"one", b"two", b"three"]
        txn = c.request(
            P.INIT_PRODUCER_ID,
            4,
            {"transactional_id": "tx", "transaction_timeout": 60000, "producer_id": -1, "producer_epoch": -1},
        )
        assert txn.error_code == E.transactional_id_authorization_failed


def test_log_and_offsets_survive_a_restart_and_a_crash(tmp_path: Path) -> None:
    home = tmp_path / "home"
    b1 = BrokerThread(broker_settings(home)).start()
    try:
        tenant = b1.call(lambda: b1.svc.create_tenant(A, "app-a", "basic-1")).tenant
        topic = b1.call(lambda: b1.svc.create_topic(A, "durable", partitions=1)).name
        b1.call(lambda: b1.svc.create_group(A, "readers"))
        with WireClient(b1.svc.port) as c:
            _login(c, tenant)
            for i in range(5):
                _produce(c, topic, build_batch([(None, b"m%d" % i)]))
            commit = c.request(
                P.OFFSET_COMMIT,
                8,
                {
                    "group_id": f"{tenant.prefix}readers",
                    "generation_id_or_member_epoch": -1,
                    "member_id": "",
                    "topics": [
                        {"name": topic, "partitions": [{"partition_index": 0, "committed_offset": 3}]}
                    ],
                },
            )
            assert commit.topics[0].partitions[0].error_code == E.none
        ports = (b1.svc.port, b1.svc.tls_port)
    finally:
        b1.stop()
    # simulate a crash after the clean stop: remove the marker and tear the last write
    (home / "kafka" / ".clean_shutdown").unlink()
    seg = next((home / "kafka" / "data" / f"{topic}-0").glob("*.log"))
    with open(seg, "ab") as f:
        f.write(build_batch([(None, b"torn")], base_offset=5)[:30])
    b2 = BrokerThread(broker_settings(home, kafka_port=ports[0], kafka_tls_port=ports[1])).start()
    try:
        assert b2.embedded.logs.recovered_bytes == 30
        with WireClient(b2.svc.port) as c:
            _login(c, tenant)
            fetched = c.request(
                P.OFFSET_FETCH,
                7,
                {
                    "group_id": f"{tenant.prefix}readers",
                    "topics": [{"name": topic, "partition_indexes": [0]}],
                },
            )
            assert fetched.topics[0].partitions[0].committed_offset == 3
            records = _fetch(c, topic, offset=3).responses[0].partitions[0].records
            assert _values(records) == [b"m3", b"m4"]
            assert (
                _produce(c, topic, build_batch([(None, b"m5")]))
                .responses[0]
                .partition_responses[0]
                .base_offset
                == 5
            )
    finally:
        b2.stop()


def test_time_retention_and_plan_capacity_delete_the_oldest_data(
    broker: BrokerThread,
    tenants: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    from paas.kafka.plans import PLANS
    from paas.kafka.tenancy import capacity_per_partition

    a = tenants["a"]
    svc = broker.svc
    topic = f"{a.prefix}events"
    hour_ago = int(time.time() * 1000) - 2 * 3_600_000
    with WireClient(svc.port) as c:
        _login(c, a)
        for i in range(3):  # CreateTime two hours ago
            _produce(c, topic, build_batch([(None, b"stale %d" % i)], timestamp_ms=hour_ago))
        broker.call(lambda: svc.set_retention(A, "events", 3_600_000))
        freed = broker.sync(lambda: broker.embedded.enforce_retention())
        assert freed > 0
        fetched = _fetch(c, topic).responses[0].partitions[0]
        assert fetched.error_code == E.offset_out_of_range and fetched.log_start_offset == 3
        # capacity: every tenant topic carries retention.bytes (the plan's capacity per partition);
        # lowered to 10 KB with IncrementalAlterConfigs, the oldest segments go at the next check
        configs = broker.call(lambda: svc.tenancy.topic_configs(topic))  # type: ignore[union-attr]
        assert int(configs["retention.bytes"]) == capacity_per_partition(PLANS["basic-0"])
        broker.call(lambda: svc.tenancy.alter_topic(topic, {"retention.bytes": "10000"}))  # type: ignore[union-attr]
        monkeypatch.setattr(broker.embedded.logs, "segment_bytes", 4096)
        for p in broker.embedded.logs.partitions(topic):
            p.segment_bytes = 4096
        for i in range(60):
            _produce(c, topic, build_batch([(None, b"%03d" % i + b"." * 1000)]), partition=1)
        assert broker.sync(lambda: broker.embedded.enforce_retention()) > 0
        plog = broker.embedded.logs.get(topic, 1)
        assert plog is not None
        size = broker.sync(lambda: plog.size)
        assert 10_000 <= size <= 10_000 + 4096
        assert broker.sync(lambda: plog.log_start_offset) > 0
        newest = _fetch(c, topic, offset=59, partition=1).responses[0].partitions[0].records
        assert _values(newest)[0].startswith(b"059")  # type: ignore[union-attr]


def test_connections_beyond_the_limit_are_refused_and_counted(tmp_path: Path) -> None:
    b = BrokerThread(broker_settings(tmp_path / "home", kafka_max_connections=2)).start()
    try:
        first, second = WireClient(b.svc.port), WireClient(b.svc.port)
        for c in (first, second):
            assert (
                c.request(
                    P.API_VERSIONS, 3, {"client_software_name": "x", "client_software_version": "1"}
                ).error_code
                == E.none
            )
        with WireClient(b.svc.port) as third:
            assert third.is_closed()
        assert b.embedded.broker.stats.connections_refused == 1
        first.close()
        import time

        time.sleep(0.2)
        with WireClient(b.svc.port) as again:  # a freed slot is usable again
            assert (
                again.request(
                    P.API_VERSIONS, 3, {"client_software_name": "x", "client_software_version": "1"}
                ).error_code
                == E.none
            )
        second.close()
    finally:
        b.stop()


def test_join_group_checks_the_session_timeout(broker: BrokerThread, tenants: dict) -> None:  # type: ignore[type-arg]
    a = tenants["a"]
    with WireClient(broker.svc.port) as c:
        _login(c, a)
        join = {
            "group_id": f"{a.prefix}workers",
            "rebalance_timeout": 10000,
            "member_id": "",
            "protocol_type": "consumer",
            "protocols": [{"name": "range", "metadata": b""}],
        }
        assert (
            c.request(P.JOIN_GROUP, 7, {**join, "session_timeout": 10}).error_code
            == E.invalid_session_timeout
        )
        first = c.request(P.JOIN_GROUP, 7, {**join, "session_timeout": 10000})
        assert first.error_code == E.member_id_required and first.member_id
        joined = c.request(P.JOIN_GROUP, 7, {**join, "session_timeout": 10000, "member_id": first.member_id})
        assert joined.error_code == E.none and joined.leader == first.member_id and joined.generation_id == 1
        assert [m.member_id for m in joined.members] == [first.member_id]
        sync = c.request(
            P.SYNC_GROUP,
            5,
            {
                "group_id": f"{a.prefix}workers",
                "generation_id": 1,
                "member_id": first.member_id,
                "assignments": [{"member_id": first.member_id, "assignment": b"mine"}],
            },
        )
        assert sync.error_code == E.none and sync.assignment == b"mine"
        beat = c.request(
            P.HEARTBEAT,
            4,
            {"group_id": f"{a.prefix}workers", "generation_id": 0, "member_id": first.member_id},
        )
        assert beat.error_code == E.illegal_generation
        described = c.request(P.DESCRIBE_GROUPS, 5, {"groups": [f"{a.prefix}workers"]})
        assert described.groups[0].group_state == "Stable" and len(described.groups[0].members) == 1
        left = c.request(
            P.LEAVE_GROUP, 4, {"group_id": f"{a.prefix}workers", "members": [{"member_id": first.member_id}]}
        )
        assert left.members[0].error_code == E.none
        listed = c.request(P.LIST_GROUPS, 4, {"states_filter": []})
        assert [(g.group_id, g.group_state) for g in listed.groups] == [(f"{a.prefix}workers", "Empty")]


def test_admin_principal_offsets_by_time_configs_and_acks_zero(broker: BrokerThread, tenants: dict) -> None:  # type: ignore[type-arg]
    a = tenants["a"]
    svc = broker.svc
    svc.settings.token_path.write_text("admin-secret\n")
    with WireClient(svc.port) as admin:
        assert admin.sasl_plain("paas", "admin-secret").error_code == E.none
        made = admin.request(
            P.CREATE_TOPICS,
            6,
            {
                "topics": [
                    {
                        "name": "platform.audit",
                        "num_partitions": 2,
                        "replication_factor": -1,
                        "configs": [{"name": "retention.ms", "value": "7200000"}],
                    }
                ],
                "timeout": 1000,
            },
        )
        assert made.topics[0].error_code == E.none and made.topics[0].num_partitions == 2
        again = admin.request(
            P.CREATE_TOPICS,
            6,
            {
                "topics": [{"name": "platform.audit", "num_partitions": 1, "replication_factor": -1}],
                "timeout": 1000,
            },
        )
        assert again.topics[0].error_code == E.topic_already_exists
        grown = admin.request(
            P.CREATE_PARTITIONS,
            3,
            {"topics": [{"name": "platform.audit", "count": 3, "assignments": None}], "timeout": 1000},
        )
        assert grown.results[0].error_code == E.none
        meta = admin.request(P.METADATA, 9, {"topics": [{"name": "platform.audit"}]})
        assert len(meta.topics[0].partitions) == 3
        configs = admin.request(
            P.DESCRIBE_CONFIGS,
            3,
            {
                "resources": [
                    {"resource_type": 2, "resource_name": "platform.audit", "configuration_keys": None}
                ]
            },
        )
        values = {c.name: c.value for c in configs.results[0].configs}
        assert values["retention.ms"] == "7200000" and values["cleanup.policy"] == "delete"
        # acks=0: no answer at all, the next request on the connection is served normally
        admin.send(
            P.PRODUCE,
            8,
            {
                "acks": 0,
                "timeout": 1000,
                "topic_data": [
                    {
                        "name": "platform.audit",
                        "partition_data": [
                            {
                                "index": 0,
                                "records": build_batch([(None, b"fire and forget")], timestamp_ms=1000),
                            }
                        ],
                    }
                ],
            },
        )
        _produce(admin, "platform.audit", build_batch([(None, b"later")], timestamp_ms=5000))
        by_time = admin.request(
            P.LIST_OFFSETS,
            5,
            {
                "replica_id": -1,
                "isolation_level": 0,
                "topics": [
                    {
                        "name": "platform.audit",
                        "partitions": [
                            {"partition_index": 0, "timestamp": 3000, "current_leader_epoch": -1},
                            {"partition_index": 1, "timestamp": -1, "current_leader_epoch": -1},
                        ],
                    }
                ],
            },
        )
        p0, p1 = by_time.topics[0].partitions
        assert (p0.offset, p0.timestamp) == (1, 5000) and (p1.offset, p1.error_code) == (0, E.none)
        gone = admin.request(P.DELETE_TOPICS, 5, {"topic_names": ["platform.audit"], "timeout": 1000})
        assert (
            gone.responses[0].error_code == E.none and "platform.audit" not in broker.embedded.registry.topics
        )
    with WireClient(svc.port) as tenant:  # tenants may describe their own topic configs
        _login(tenant, a)
        own = tenant.request(
            P.DESCRIBE_CONFIGS,
            3,
            {
                "resources": [
                    {
                        "resource_type": 2,
                        "resource_name": f"{a.prefix}events",
                        "configuration_keys": ["retention.ms"],
                    },
                    {"resource_type": 2, "resource_name": "platform.other", "configuration_keys": None},
                ]
            },
        )
        assert [c.name for c in own.results[0].configs] == ["retention.ms"]
        assert own.results[1].error_code == E.topic_authorization_failed


def test_a_storm_of_mutated_frames_leaves_the_broker_and_the_log_intact(
    broker: BrokerThread, tenants: dict[str, Any]
) -> None:
    import random
    import socket

    a = tenants["a"]
    topic = f"{a.prefix}events"
    rng = random.Random(8)
    templates = [
        P.encode_request(
            P.PRODUCE,
            8,
            1,
            P.build(
                P.payload_class(P.PRODUCE, 8, EntityType.request),
                {
                    "acks": 1,
                    "timeout": 1000,
                    "topic_data": [
                        {
                            "name": topic,
                            "partition_data": [{"index": 0, "records": build_batch([(b"k", b"fuzz")])}],
                        }
                    ],
                },
            ),
        ),
        P.encode_request(
            P.FETCH,
            12,
            2,
            P.build(
                P.payload_class(P.FETCH, 12, EntityType.request),
                {
                    "max_wait": 10,
                    "min_bytes": 1,
                    "max_bytes": 1000,
                    "rack_id": "",
                    "topics": [
                        {
                            "topic": topic,
                            "partitions": [{"partition": 0, "fetch_offset": 0, "partition_max_bytes": 100}],
                        }
                    ],
                },
            ),
        ),
        P.encode_request(
            P.SASL_AUTHENTICATE,
            2,
            3,
            P.build(P.payload_class(P.SASL_AUTHENTICATE, 2, EntityType.request), {"auth_bytes": b"\0x\0y"}),
        ),
    ]
    with WireClient(broker.svc.port) as good:
        _login(good, a)
        _produce(good, topic, build_batch([(None, b"kept")]))
        for _ in range(150):
            frame = bytearray(rng.choice(templates))
            for _flip in range(rng.randint(1, 4)):
                frame[rng.randrange(4, len(frame))] = rng.randrange(256)
            if rng.random() < 0.3:
                frame = frame[: rng.randrange(4, len(frame))]
                frame[0:4] = struct.pack(">i", len(frame) - 4)
            with socket.create_connection(("127.0.0.1", broker.svc.port), timeout=2) as s:
                s.sendall(bytes(frame))
                s.shutdown(socket.SHUT_WR)
                try:
                    while s.recv(65536):
                        pass
                except (TimeoutError, ConnectionError):
                    pass
        records = _fetch(good, topic).responses[0].partitions[0].records
        assert _values(records) == [b"kept"]  # unauthenticated fuzz wrote nothing
        assert (
            _produce(good, topic, build_batch([(None, b"still serving")]))
            .responses[0]
            .partition_responses[0]
            .base_offset
            == 1
        )


def test_rotating_or_deleting_a_tenant_takes_its_rights_away(broker: BrokerThread, tenants: dict) -> None:  # type: ignore[type-arg]
    """As on a Kafka cluster: open connections stay, but the old principal is allowed nothing."""
    a, b = tenants["a"], tenants["b"]
    topic = f"{a.prefix}events"
    with WireClient(broker.svc.port) as ca, WireClient(broker.svc.port) as cb:
        _login(ca, a)
        _login(cb, b)
        assert (
            _produce(ca, topic, build_batch([(None, b"before")]))
            .responses[0]
            .partition_responses[0]
            .error_code
            == E.none
        )
        fresh = broker.call(lambda: broker.svc.reset_credentials(A)).tenant
        assert fresh.username != a.username and fresh.password != a.password
        refused = _produce(ca, topic, build_batch([(None, b"after reset")]))
        assert refused.responses[0].partition_responses[0].error_code == E.topic_authorization_failed
        broker.call(lambda: broker.svc.delete_tenant(B))
        gone = _fetch(cb, f"{b.prefix}events")
        assert gone.responses[0].partitions[0].error_code == E.topic_authorization_failed
    with WireClient(broker.svc.port) as old:  # the old password no longer authenticates
        assert old.sasl_plain(a.username, a.password).error_code == E.sasl_authentication_failed
    with WireClient(broker.svc.port) as new:
        _login(new, fresh)
        assert (
            _produce(new, topic, build_batch([(None, b"new")]))
            .responses[0]
            .partition_responses[0]
            .base_offset
            == 1
        )


def test_unsupported_versions_get_unsupported_version_and_the_connection_stays(
    broker: BrokerThread,
) -> None:
    from paas.kafka.refusal import response_version

    probes = []
    for key, (low, high) in P.ADVERTISED.items():
        known = P.known_versions(key)
        outside = [v for v in (high + 1, low - 1) if v in known]
        if outside:
            probes.append((key, outside[0]))
    assert len(probes) >= 15
    with WireClient(broker.svc.port) as c:
        for key, version in probes:
            c.send(key, version, {})
            resp = c.receive(key, response_version(key, version))
            codes = _error_codes(resp)
            assert set(codes) <= {E.unsupported_version}, (P.API_NAMES[key], version, codes)
            assert codes or not hasattr(resp, "error_code")
        still = c.request(P.API_VERSIONS, 3, {"client_software_name": "x", "client_software_version": "1"})
        assert still.error_code == E.none
    assert broker.embedded.broker.stats.unsupported_versions == len(probes)


def _error_codes(entity: Any) -> list[Any]:
    """Every error_code in a response, nested ones included."""
    import dataclasses

    found = []
    for f in dataclasses.fields(entity):
        value = getattr(entity, f.name)
        if f.name == "error_code":
            found.append(value)
        elif isinstance(value, tuple):
            for item in value:
                if dataclasses.is_dataclass(item):
                    found += _error_codes(item)
    return found


def test_a_credential_reset_cut_short_is_finished_at_the_next_start(tmp_path: Path) -> None:
    """The daemon dies after the new principal exists and before the old one is emptied."""
    home = tmp_path / "home"
    b1 = BrokerThread(broker_settings(home)).start()
    try:
        old = b1.call(lambda: b1.svc.create_tenant(A, "app-a", "basic-0")).tenant
        fresh = b1.call(lambda: b1.svc.reset_credentials(A, finish=False)).tenant
        assert b1.svc.store.tenants[A].retired == [old.username]
        with WireClient(b1.svc.port) as c:  # until the reset is finished the old login still works
            assert c.sasl_plain(old.username, old.password).error_code == E.none
        ports = (b1.svc.port, b1.svc.tls_port)
    finally:
        b1.stop()
    b2 = BrokerThread(broker_settings(home, kafka_port=ports[0], kafka_tls_port=ports[1])).start()
    try:
        assert b2.svc.store.tenants[A].retired == []
        assert old.username not in b2.embedded.registry.scram
        assert not any(b.principal == f"User:{old.username}" for b in b2.embedded.broker.authorizer.bindings)
        with WireClient(b2.svc.port) as c:
            assert c.sasl_plain(old.username, old.password).error_code == E.sasl_authentication_failed
        with WireClient(b2.svc.port) as c:
            assert c.sasl_plain(fresh.username, fresh.password).error_code == E.none
    finally:
        b2.stop()


def test_tenants_of_an_older_broker_become_principals_at_start(tmp_path: Path) -> None:
    """An upgrade keeps a Kafka add-on working: same password, same topics, its groups joinable."""
    import json
    import time

    home = tmp_path / "home"
    kafka = home / "kafka"
    kafka.mkdir(parents=True)
    (kafka / "registry.json").write_text(
        json.dumps(
            {
                "tenants": {
                    A: {
                        "id": A,
                        "app": "app-a",
                        "plan": "basic-0",
                        "prefix": "alpha.",
                        "username": A,
                        "password": "old-password",
                        "cert_serial": 7,
                        "created_at": time.time(),
                    }
                },
                "topics": {
                    "alpha.events": {
                        "name": "alpha.events",
                        "tenant": A,
                        "partitions": 1,
                        "retention_ms": 86_400_000,
                    }
                },
                "groups": {"alpha.workers": {"name": "alpha.workers", "tenant": A}},
                "next_producer_id": 1000,
            }
        )
    )
    b = BrokerThread(broker_settings(home)).start()
    try:
        tenant = b.svc.store.tenants[A]
        assert (tenant.prefix, tenant.groups) == ("alpha.", ["alpha.workers"])
        assert not b.embedded.registry.tenants
        with WireClient(b.svc.port) as c:
            assert c.sasl_plain(A, "old-password").error_code == E.none
            assert (
                _produce(c, "alpha.events", build_batch([(None, b"still here")]))
                .responses[0]
                .partition_responses[0]
                .error_code
                == E.none
            )
            coordinator = c.request(P.FIND_COORDINATOR, 3, {"key": "alpha.workers", "key_type": 0})
            assert coordinator.error_code == E.none
        quotas = b.call(lambda: b.svc.tenancy.user_quotas(A))  # type: ignore[union-attr]
        assert quotas["producer_byte_rate"] == 64 * 1024
    finally:
        b.stop()
