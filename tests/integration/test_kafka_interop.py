"""The interop suite: every real client's everyday calls, over TLS (issued certificates) and SASL (SCRAM).

librdkafka (confluent-kafka), kafka-python, aiokafka, kafkajs (node) and kcat (Debian kafkacat)
talk to a broker whose tenant the Kafka add-on made through the Admin API; each test runs once
with the tenant's KAFKA_* certificates and once with its KAFKA_SASL_* credentials.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.kafka_broker import BrokerThread, broker_settings
from tests.support.kafka_interop import TRANSPORTS, Cluster, kcat, run_kafkajs

pytestmark = pytest.mark.kafka
logging.getLogger("kafka").setLevel(logging.ERROR)
logging.getLogger("aiokafka").setLevel(logging.ERROR)


def _confluent_admin() -> Any:
    """confluent_kafka.admin, untyped (its stubs miss the re-exports and use no Optional)."""
    import confluent_kafka.admin

    return confluent_kafka.admin


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("interop")
    broker = BrokerThread(broker_settings(tmp / "home"), initial_rebalance_delay=0.1).start()
    try:
        yield Cluster(broker, tmp)
    finally:
        broker.stop()


def _poll_until(consumer: Any, count: int, timeout: float = 30) -> list[bytes]:
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        m = consumer.poll(0.2)
        if m is None:
            continue
        assert m.error() is None, m.error()
        got.append(m.value())
    return got


# ------------------------------------------------------------------ librdkafka


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_librdkafka_everyday_calls(cluster: Cluster, transport: str) -> None:
    from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

    ck = _confluent_admin()
    AdminClient = ck.AdminClient
    ConfigResource = ck.ConfigResource
    OffsetSpec = ck.OffsetSpec
    ResourceType = ck.ResourceType

    topic = cluster.topic("orders", partitions=2)
    group = cluster.group("billing")
    producer = Producer(cluster.confluent(transport, **{"enable.idempotence": True, "linger.ms": 5}))
    for i in range(20):
        producer.produce(topic, b"order %d" % i, key=b"k%d" % (i % 4))
    assert producer.flush(30) == 0
    consumer = Consumer(
        cluster.confluent(
            transport, **{"group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False}
        )
    )
    consumer.subscribe([topic])
    got = _poll_until(consumer, 20)
    assert sorted(got) == sorted(b"order %d" % i for i in range(20))
    consumer.commit(asynchronous=False)
    consumer.close()

    admin = AdminClient(cluster.confluent(transport))
    assert topic in admin.list_topics(timeout=10).topics
    resource = ConfigResource(ResourceType.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(10)
    assert configs["retention.ms"].value == str(86_400_000) and configs["cleanup.policy"].value == "delete"
    ends = {
        tp.partition: f.result(10).offset
        for tp, f in admin.list_offsets(
            {TopicPartition(topic, p): OffsetSpec.latest() for p in (0, 1)}
        ).items()
    }
    assert sum(ends.values()) == 20
    fullest = max(ends, key=lambda p: ends[p])
    listed = admin.list_consumer_groups().result(10)
    assert group in {g.group_id for g in listed.valid}
    described = admin.describe_consumer_groups([group])[group].result(10)
    assert described.group_id == group and str(described.state).endswith("EMPTY")
    from confluent_kafka import ConsumerGroupTopicPartitions

    offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(10)
    assert sum(tp.offset for tp in offsets.topic_partitions) == 20
    low = admin.delete_records([TopicPartition(topic, fullest, 3)])
    assert next(iter(low.values())).result(10).low_watermark == 3
    start = TopicPartition(topic, fullest)
    assert admin.list_offsets({start: OffsetSpec.earliest()})[start].result(10).offset == 3
    cluster_info = admin.describe_cluster().result(10)
    assert len(cluster_info.nodes) == 1 and cluster_info.cluster_id
    admin.delete_consumer_groups([group])[group].result(10)
    assert group not in {g.group_id for g in admin.list_consumer_groups().result(10).valid}

    # transactions stay refused, with a reason the client shows
    txn = Producer(cluster.confluent(transport, **{"transactional.id": cluster.prefix + "tx"}))
    with pytest.raises(KafkaException) as refused:
        txn.init_transactions(10)
    assert "ransactional" in str(refused.value) or "transactions" in str(refused.value)


# ------------------------------------------------------------------ kafka-python


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_kafka_python_admin(cluster: Cluster, transport: str) -> None:
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
    from kafka.admin import ConfigResource, ConfigResourceType

    topic = cluster.topic("ledger", partitions=2)
    group = cluster.group("auditors")
    producer = KafkaProducer(**cluster.kafka_python(transport, linger_ms=5))
    for f in [producer.send(topic, b"entry %d" % i) for i in range(10)]:
        f.get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(
        topic,
        **cluster.kafka_python(
            transport, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False
        ),
    )
    got: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(got) < 10 and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=200).values():
            got += [r.value for r in records]
    consumer.commit()
    consumer.close()
    assert len(got) == 10

    admin = KafkaAdminClient(**cluster.kafka_python(transport))
    try:
        assert topic in admin.list_topics()
        described = admin.describe_topics([topic])
        assert len(described[0]["partitions"]) == 2
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        assert configs
        assert group in str(admin.list_groups())
        offsets = admin.list_group_offsets({group: None})[group]
        assert sum(o.offset for o in offsets.values()) == 10
        assert admin.describe_cluster()["cluster_id"]
    finally:
        admin.close()


# ------------------------------------------------------------------ aiokafka


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_aiokafka_producer_group_consumer_and_admin(cluster: Cluster, transport: str) -> None:
    topic = cluster.topic("events", partitions=2)
    group = cluster.group("workers")

    async def run() -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
        from aiokafka.admin import AIOKafkaAdminClient
        from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

        producer = AIOKafkaProducer(**cluster.aiokafka(transport, enable_idempotence=True))
        await producer.start()
        try:
            await asyncio.gather(*[await producer.send(topic, b"event %d" % i, key=b"k") for i in range(12)])
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            **cluster.aiokafka(
                transport, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False
            ),
        )
        await consumer.start()
        got: list[bytes] = []
        try:
            deadline = time.monotonic() + 30
            while len(got) < 12 and time.monotonic() < deadline:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    got += [r.value for r in records]
            await consumer.commit()
        finally:
            await consumer.stop()
        assert sorted(got) == sorted(b"event %d" % i for i in range(12))
        admin = AIOKafkaAdminClient(**cluster.aiokafka(transport))
        await admin.start()
        try:
            assert topic in await admin.list_topics()
            configs = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
            assert configs
            groups = await admin.list_consumer_groups()
            assert group in [g[0] for g in groups]
            offsets = await admin.list_consumer_group_offsets(group)
            assert sum(o.offset for o in offsets.values()) == 12
            described = await admin.describe_consumer_groups([group])
            assert described
        finally:
            await admin.close()

    asyncio.run(run())


# ------------------------------------------------------------------ kafkajs


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_kafkajs_admin_producer_and_group_consumer(cluster: Cluster, transport: str) -> None:
    topic = cluster.topic("clicks", partitions=2)
    group = cluster.group("dashboards")
    result = run_kafkajs({**cluster.kafkajs_spec(transport), "topic": topic, "group": group, "count": 9})
    assert "error" not in result, result
    assert topic in result["topics"]
    assert result["sent"] >= 1 and sum(int(p["high"]) for p in result["offsets"]) == 9
    assert result["received"] == sorted(f"kafkajs {i}" for i in range(9))
    assert result["group"]["errorCode"] == 0 and result["group"]["state"] in ("Stable", "CompletingRebalance")


# ------------------------------------------------------------------ kcat


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_kcat_metadata_produce_consume_and_group(cluster: Cluster, transport: str, tmp_path: Path) -> None:
    binary = kcat()
    topic = cluster.topic("lines", partitions=1)
    group = cluster.group("tailers")
    base = [binary, *cluster.kcat_args(transport)]

    def run(*args: str, stdin: str | None = None) -> str:
        proc = subprocess.run(
            [*base, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout

    listing = run("-L", "-t", topic)
    assert topic in listing and "1 partitions" in listing
    run("-P", "-t", topic, stdin="one\ntwo\nthree\n")
    assert run("-C", "-t", topic, "-o", "beginning", "-e").split() == ["one", "two", "three"]
    consumed = run("-G", group, topic, "-o", "beginning", "-c", "3", "-X", "auto.offset.reset=earliest")
    assert consumed.split() == ["one", "two", "three"]
