"""The shared broker with the real client libraries: confluent-kafka, kafka-python, aiokafka.

Every behaviour is checked with each client, unchanged and configured the way an app on
Heroku would be (SASL/PLAIN credentials, or the KAFKA_* certificates over TLS).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from kio.schema.errors import ErrorCode as E

from paas.kafka.records import iter_headers
from paas.kafka.registry import Tenant
from tests.support.kafka_broker import BrokerThread, broker_settings

pytestmark = pytest.mark.kafka
logging.getLogger("kafka").setLevel(logging.ERROR)
logging.getLogger("aiokafka").setLevel(logging.ERROR)

CLIENTS = ["confluent", "kafka-python", "aiokafka"]
A, B = "kafka-alpha-11111", "kafka-beta-22222"
FAST_GROUP = {"session_ms": 6000, "heartbeat_ms": 200}


class Env:
    """A broker with two tenants; helpers to point each client library at it."""

    def __init__(self, broker: BrokerThread, tmp: Path):
        self.broker = broker
        self.tmp = tmp
        self.creds: dict[str, Any] = {}

    @property
    def svc(self) -> Any:
        return self.broker.svc

    def tenant(self, tid: str = A, plan: str = "basic-2") -> Tenant:
        if tid not in self.creds:
            self.creds[tid] = self.broker.call(lambda: self.svc.create_tenant(tid, tid + "-app", plan))
        return self.creds[tid].tenant  # type: ignore[no-any-return]

    def topic(self, name: str, partitions: int = 1, tid: str = A) -> str:
        self.tenant(tid)
        return self.broker.call(lambda: self.svc.create_topic(tid, name, partitions=partitions)).name  # type: ignore[no-any-return]

    def group(self, name: str, tid: str = A) -> str:
        self.tenant(tid)
        return self.broker.call(lambda: self.svc.create_group(tid, name)).name  # type: ignore[no-any-return]

    def config_vars(self, tid: str = A) -> dict[str, str]:
        self.tenant(tid)
        return self.broker.sync(lambda: self.svc.config_vars(self.creds[tid]))

    def pem_files(self, tid: str = A) -> dict[str, str]:
        cfg = self.config_vars(tid)
        out = {}
        for key, var in (
            ("ca", "KAFKA_TRUSTED_CERT"),
            ("cert", "KAFKA_CLIENT_CERT"),
            ("key", "KAFKA_CLIENT_CERT_KEY"),
        ):
            path = self.tmp / f"{tid}-{key}.pem"
            path.write_text(cfg[var])
            out[key] = str(path)
        return out

    # ---- per-library connection settings
    def confluent(
        self, tid: str = A, tls: bool = False, opts: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        t = self.tenant(tid)
        if tls:
            cfg = self.config_vars(tid)
            conf = {
                "bootstrap.servers": cfg["KAFKA_URL"].removeprefix("kafka+ssl://"),
                "security.protocol": "SSL",
                "ssl.ca.pem": cfg["KAFKA_TRUSTED_CERT"],
                "ssl.certificate.pem": cfg["KAFKA_CLIENT_CERT"],
                "ssl.key.pem": cfg["KAFKA_CLIENT_CERT_KEY"],
            }
        else:
            conf = {
                "bootstrap.servers": f"127.0.0.1:{self.svc.port}",
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "PLAIN",
                "sasl.username": t.username,
                "sasl.password": t.password,
            }
        return {**conf, **(opts or {})}

    def kafka_python(self, tid: str = A, tls: bool = False, **extra: Any) -> dict[str, Any]:
        t = self.tenant(tid)
        if tls:
            files = self.pem_files(tid)
            kw = {
                "bootstrap_servers": f"127.0.0.1:{self.svc.tls_port}",
                "security_protocol": "SSL",
                "ssl_cafile": files["ca"],
                "ssl_certfile": files["cert"],
                "ssl_keyfile": files["key"],
            }
        else:
            kw = {
                "bootstrap_servers": f"127.0.0.1:{self.svc.port}",
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "PLAIN",
                "sasl_plain_username": t.username,
                "sasl_plain_password": t.password,
            }
        return {**kw, **extra}

    def aiokafka(self, tid: str = A, tls: bool = False, **extra: Any) -> dict[str, Any]:
        t = self.tenant(tid)
        if tls:
            files = self.pem_files(tid)
            ctx = ssl.create_default_context(cafile=files["ca"])
            ctx.load_cert_chain(files["cert"], files["key"])
            kw: dict[str, Any] = {
                "bootstrap_servers": f"127.0.0.1:{self.svc.tls_port}",
                "security_protocol": "SSL",
                "ssl_context": ctx,
            }
        else:
            kw = {
                "bootstrap_servers": f"127.0.0.1:{self.svc.port}",
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "PLAIN",
                "sasl_plain_username": t.username,
                "sasl_plain_password": t.password,
            }
        return {**kw, **extra}

    def restart(self) -> None:
        ports = (self.svc.port, self.svc.tls_port)
        self.broker.stop()
        self.broker = BrokerThread(
            broker_settings(self.broker.settings.home, kafka_port=ports[0], kafka_tls_port=ports[1]),
            initial_rebalance_delay=0.1,
        ).start()

    def stored_batches(self, topic: str, partition: int = 0) -> list[Any]:
        def read() -> list[Any]:
            plog = self.broker.embedded.logs.get(topic, partition)
            assert plog is not None
            data = plog.read(plog.log_start_offset, 1 << 24)
            return list(iter_headers(data))

        return self.broker.sync(read)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    broker = BrokerThread(broker_settings(tmp_path / "home"), initial_rebalance_delay=0.1).start()
    e = Env(broker, tmp_path)
    try:
        yield e
    finally:
        e.broker.stop()


# ------------------------------------------------------------ client adapters


def produce(
    client: str,
    env: Env,
    topic: str,
    records: Sequence[tuple[bytes | None, bytes]],
    tid: str = A,
    tls: bool = False,
    idempotent: bool = False,
) -> None:
    if client == "confluent":
        from confluent_kafka import Producer

        errors: list[Any] = []
        p = Producer(env.confluent(tid, tls, opts={"enable.idempotence": idempotent, "linger.ms": 5}))
        for key, value in records:
            p.produce(topic, value, key=key, on_delivery=lambda err, _m: errors.append(err) if err else None)
        assert p.flush(30) == 0
        if errors:
            raise RuntimeError(errors[0])
    elif client == "kafka-python":
        from kafka import KafkaProducer

        kp = KafkaProducer(
            **env.kafka_python(
                tid,
                tls,
                enable_idempotence=idempotent,
                linger_ms=5,
                **({"acks": "all"} if idempotent else {}),
            )
        )
        try:
            futures = [kp.send(topic, value, key=key) for key, value in records]
            for f in futures:
                f.get(timeout=30)
        finally:
            kp.close(timeout=5)
    else:

        async def run() -> None:
            from aiokafka import AIOKafkaProducer

            ap = AIOKafkaProducer(**env.aiokafka(tid, tls, enable_idempotence=idempotent, linger_ms=5))
            await ap.start()
            try:
                futures = [await ap.send(topic, value, key=key) for key, value in records]
                await asyncio.gather(*futures)
            finally:
                await ap.stop()

        asyncio.run(run())


def consume(
    client: str,
    env: Env,
    topic: str,
    group: str,
    count: int,
    tid: str = A,
    tls: bool = False,
    commit_after: int | None = None,
    timeout: float = 20,
) -> list[bytes]:
    """Read `count` records as a member of `group`; commit the position after `commit_after` records."""
    take = count if commit_after is None else commit_after
    reader = {"confluent": _consume_confluent, "kafka-python": _consume_kafka_python}.get(
        client, _consume_aiokafka
    )
    return reader(env, topic, group, take, tid, tls, time.monotonic() + timeout)


def _consume_confluent(
    env: Env, topic: str, group: str, take: int, tid: str, tls: bool, deadline: float
) -> list[bytes]:
    from confluent_kafka import Consumer

    got: list[bytes] = []
    c = Consumer(
        env.confluent(
            tid, tls, opts={"group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False}
        )
    )
    c.subscribe([topic])
    try:
        while len(got) < take and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                raise RuntimeError(m.error())
            got.append(m.value() or b"")
            c.commit(message=m, asynchronous=False)
    finally:
        c.close()
    return got


def _consume_kafka_python(
    env: Env, topic: str, group: str, take: int, tid: str, tls: bool, deadline: float
) -> list[bytes]:
    from kafka import KafkaConsumer

    got: list[bytes] = []
    kc = KafkaConsumer(
        topic,
        **env.kafka_python(tid, tls, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False),
    )
    try:
        while len(got) < take and time.monotonic() < deadline:
            for records in kc.poll(timeout_ms=200, max_records=take - len(got)).values():
                got += [r.value for r in records]
        kc.commit()
    finally:
        kc.close()
    return got


def _consume_aiokafka(
    env: Env, topic: str, group: str, take: int, tid: str, tls: bool, deadline: float
) -> list[bytes]:
    got: list[bytes] = []

    async def run() -> None:
        from aiokafka import AIOKafkaConsumer

        ac = AIOKafkaConsumer(
            topic,
            **env.aiokafka(tid, tls, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False),
        )
        try:
            await ac.start()
            while len(got) < take and time.monotonic() < deadline:
                batches = await ac.getmany(timeout_ms=200, max_records=take - len(got))
                for records in batches.values():
                    got.extend(r.value for r in records)
            await ac.commit()
        finally:
            await ac.stop()

    asyncio.run(run())
    return got


# --------------------------------------------------------------------- tests


@pytest.mark.parametrize("client", CLIENTS)
def test_produce_and_consume(env: Env, client: str) -> None:
    topic = env.topic("orders", partitions=3)
    group = env.group("billing")
    sent = [(b"key-%d" % (i % 7), b"order %d" % i) for i in range(60)]
    produce(client, env, topic, sent)
    got = consume(client, env, topic, group, 60)
    assert sorted(got) == sorted(v for _k, v in sent)
    # keyed records of one key stay in order in one partition
    batches = [env.stored_batches(topic, p) for p in range(3)]
    assert sum(b.count for part in batches for b in part) == 60
    groups = env.broker.call(lambda: env.svc.list_groups(A))
    assert groups[0].lag == 0 and groups[0].partitions


Parts = set[tuple[str, int]]


def _assigned(consumer: Any) -> Parts:
    return {(tp.topic, tp.partition) for tp in consumer.assignment()}


def _shared(first: Parts, second: Parts, wanted: Parts) -> bool:
    return bool(first) and bool(second) and first | second == wanted and not first & second


def _settle(check: Callable[[], bool], pump: Callable[[], object], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pump()
        if check():
            return
    raise AssertionError(f"group never reached: {what}")


def _rebalance_confluent(env: Env, topic: str, group: str, wanted: Parts) -> None:
    from confluent_kafka import Consumer

    conf = env.confluent(
        opts={
            "group.id": group,
            "session.timeout.ms": FAST_GROUP["session_ms"],
            "heartbeat.interval.ms": FAST_GROUP["heartbeat_ms"],
        }
    )
    c1, c2 = Consumer(conf), Consumer(conf)
    c1.subscribe([topic])
    c2.subscribe([topic])
    _settle(
        lambda: _shared(_assigned(c1), _assigned(c2), wanted),
        lambda: (c1.poll(0.05), c2.poll(0.05)),
        "two members sharing four partitions",
    )
    c2.close()
    _settle(lambda: _assigned(c1) == wanted, lambda: c1.poll(0.1), "the survivor owning all partitions")
    c1.close()


def _rebalance_kafka_python(env: Env, topic: str, group: str, wanted: Parts) -> None:
    from kafka import KafkaConsumer

    kw = env.kafka_python(
        group_id=group,
        session_timeout_ms=FAST_GROUP["session_ms"],
        heartbeat_interval_ms=FAST_GROUP["heartbeat_ms"],
    )
    k1, k2 = KafkaConsumer(topic, **kw), KafkaConsumer(topic, **kw)
    _settle(
        lambda: _shared(_assigned(k1), _assigned(k2), wanted),
        lambda: (k1.poll(timeout_ms=50), k2.poll(timeout_ms=50)),
        "two members sharing four partitions",
    )
    k2.close()
    _settle(lambda: _assigned(k1) == wanted, lambda: k1.poll(timeout_ms=100), "the survivor owning all")
    k1.close()


def _rebalance_aiokafka(env: Env, topic: str, group: str, wanted: Parts) -> None:
    async def asettle(check: Callable[[], bool], consumers: list[Any], what: str) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            await asyncio.gather(*(c.getmany(timeout_ms=50) for c in consumers))
            if check():
                return
        raise AssertionError(f"group never reached: {what}")

    async def run() -> None:
        from aiokafka import AIOKafkaConsumer

        kw = env.aiokafka(
            group_id=group,
            session_timeout_ms=FAST_GROUP["session_ms"],
            heartbeat_interval_ms=FAST_GROUP["heartbeat_ms"],
        )
        a1, a2 = AIOKafkaConsumer(topic, **kw), AIOKafkaConsumer(topic, **kw)
        await a1.start()
        await a2.start()
        await asettle(
            lambda: _shared(_assigned(a1), _assigned(a2), wanted),
            [a1, a2],
            "two members sharing four partitions",
        )
        await a2.stop()
        await asettle(lambda: _assigned(a1) == wanted, [a1], "the survivor owning all partitions")
        await a1.stop()

    asyncio.run(run())


@pytest.mark.parametrize("client", CLIENTS)
def test_consumer_group_rebalances_when_a_member_leaves(env: Env, client: str) -> None:
    topic = env.topic("jobs", partitions=4)
    group = env.group("workers")
    rebalance = {"confluent": _rebalance_confluent, "kafka-python": _rebalance_kafka_python}.get(
        client, _rebalance_aiokafka
    )
    rebalance(env, topic, group, {(topic, p) for p in range(4)})
    assert env.broker.embedded.coordinator.rebalances >= 2


@pytest.mark.parametrize("client", CLIENTS)
def test_committed_offsets_resume_after_a_broker_restart(env: Env, client: str) -> None:
    topic = env.topic("ledger", partitions=1)
    group = env.group("auditors")
    produce(client, env, topic, [(None, b"entry %02d" % i) for i in range(20)])
    first = consume(client, env, topic, group, 20, commit_after=8)
    assert first == [b"entry %02d" % i for i in range(8)]
    env.restart()
    rest = consume(client, env, topic, group, 12)
    assert rest == [b"entry %02d" % i for i in range(8, 20)]


@pytest.mark.parametrize("client", CLIENTS)
def test_idempotent_producer(env: Env, client: str) -> None:
    topic = env.topic("payments", partitions=1)
    produce(client, env, topic, [(b"k", b"payment %d" % i) for i in range(40)], idempotent=True)
    batches = env.stored_batches(topic)
    assert sum(b.count for b in batches) == 40
    pids = {b.producer_id for b in batches}
    assert len(pids) == 1 and pids.pop() >= 1000  # an id issued by InitProducerId
    expected = 0
    for b in batches:  # sequences are contiguous: nothing lost, nothing duplicated
        assert b.base_sequence == expected
        expected += b.count
    assert env.broker.embedded.broker.stats.requests.get("init_producer_id", 0) >= 1


@pytest.mark.parametrize("client", CLIENTS)
def test_a_tenant_cannot_touch_another_tenants_topics_or_groups(env: Env, client: str) -> None:
    theirs = env.topic("secrets", partitions=1, tid=A)
    env.group("readers", tid=A)
    env.tenant(B, "basic-0")
    own_group_not_created = env.tenant(B).prefix + "readers"
    with pytest.raises(Exception) as produce_err:
        produce(client, env, theirs, [(None, b"intrusion")], tid=B)
    assert "uthorization" in repr(produce_err.value) or "AUTHORIZATION" in repr(produce_err.value)
    for group in (env.tenant(A).prefix + "readers", own_group_not_created):
        with pytest.raises(Exception) as group_err:
            consume(
                client, env, env.topic(f"own-{group[-7:]}-{len(group)}", tid=B), group, 1, tid=B, timeout=8
            )
        assert "roup" in repr(group_err.value) and "uthorization" in repr(group_err.value).replace(
            "AUTHORIZATION", "uthorization"
        )
    assert [b for b in env.stored_batches(theirs)] == []


@pytest.mark.parametrize("client", CLIENTS)
def test_produce_quota_throttles_the_client(env: Env, client: str, caplog: pytest.LogCaptureFixture) -> None:
    env.tenant(A, "basic-0")  # 64 KB/s produce
    topic = env.topic("firehose", partitions=1)
    payload = [(None, b"x" * 2000) for _ in range(100)]  # ~200 KB: ~2 s over a 1 s burst allowance
    observed: list[int] = []
    start = time.monotonic()
    if client == "confluent":
        from confluent_kafka import Producer

        p = Producer(
            env.confluent(
                opts={
                    "linger.ms": 5,
                    "batch.size": 16384,
                    "throttle_cb": lambda ev: observed.append(ev.throttle_time),
                }
            )
        )
        for _k, v in payload:
            p.produce(topic, v)
            p.poll(0)
        assert p.flush(30) == 0
        p.poll(0.1)
    elif client == "kafka-python":
        from kafka import KafkaProducer

        with caplog.at_level(logging.WARNING, logger="kafka.net.connection"):
            kp = KafkaProducer(**env.kafka_python(linger_ms=5, batch_size=16384))
            for f in [kp.send(topic, v) for _k, v in payload]:
                f.get(timeout=30)
            kp.close()
        # kafka-python honours throttle_time_ms by pausing the connection and says so
        observed += [1 for r in caplog.records if "throttled by broker" in r.getMessage()]
    else:
        produce(client, env, topic, payload)
    elapsed = time.monotonic() - start
    sent = sum(len(v) for _k, v in payload)
    assert elapsed >= (sent - 64 * 1024) / (64 * 1024) * 0.8, elapsed
    if client != "aiokafka":  # aiokafka does not surface throttle_time_ms; the delay above is its evidence
        assert max(observed) > 0, observed
    stats = env.broker.embedded.broker.quota_manager.user_stats(env.tenant(A).username)
    assert stats["producer_byte_rate"].throttled > 0


def test_consume_quota_throttles_the_client(env: Env) -> None:
    from confluent_kafka import Consumer, TopicPartition

    env.tenant(A, "basic-0")  # 256 KB/s consume
    topic = env.topic("replay", partitions=1)
    for _ in range(60):  # 600 KB in 60 batches, written by the platform (no produce quota)
        env.broker.sync(lambda: env.svc.write(A, topic, b"y" * 10_000, partition=0))
    throttles: list[int] = []
    c = Consumer(
        env.confluent(
            opts={
                "group.id": "unused",
                "enable.auto.commit": False,
                "throttle_cb": lambda ev: throttles.append(ev.throttle_time),
                "max.partition.fetch.bytes": 65536,
            }
        )
    )
    c.assign([TopicPartition(topic, 0, 0)])
    got = 0
    start = time.monotonic()
    while got < 60 and time.monotonic() - start < 30:
        for m in c.consume(num_messages=100, timeout=0.2):
            got += m.error() is None
    elapsed = time.monotonic() - start
    c.poll(0.1)
    c.close()
    assert got == 60
    assert elapsed >= (600_000 - 256 * 1024) / (256 * 1024) * 0.8, elapsed
    assert throttles and max(throttles) > 0


@pytest.mark.parametrize("client", CLIENTS)
def test_tls_with_the_issued_certificates(env: Env, client: str) -> None:
    topic = env.topic("secure", partitions=1)
    group = env.group("tls-readers")
    handshakes = env.broker.embedded.broker.stats.requests.get("sasl_handshake", 0)
    produce(client, env, topic, [(None, b"over tls %d" % i) for i in range(5)], tls=True)
    assert consume(client, env, topic, group, 5, tls=True) == [b"over tls %d" % i for i in range(5)]
    assert (
        env.broker.embedded.broker.stats.requests.get("sasl_handshake", 0) == handshakes
    )  # the certificate alone identified the tenant


def test_certificates_are_checked_and_revocable(env: Env) -> None:
    import socket

    from paas.kafka import protocol as P

    topic = env.topic("guarded", partitions=1)
    files = env.pem_files(A)
    ctx = ssl.create_default_context(cafile=files["ca"])
    host = "127.0.0.1"  # the broker's certificate names 127.0.0.1 and localhost
    with (
        socket.create_connection((host, env.svc.tls_port)) as raw,
        ctx.wrap_socket(raw, server_hostname=host) as tls,
    ):
        # no client certificate: the TLS 1.3 handshake completes, then the broker refuses
        raw_closed = _closed_after_handshake(tls)
    assert raw_closed
    # a rotated credential (kafka:credentials --reset): the old certificate still authenticates
    # (Kafka has no revocation list) but its principal holds no ACL any more
    env.broker.call(lambda: env.svc.reset_credentials(A))
    ctx.load_cert_chain(files["cert"], files["key"])
    with (
        socket.create_connection((host, env.svc.tls_port)) as raw,
        ctx.wrap_socket(raw, server_hostname=host) as tls,
    ):
        meta = _tls_probe(tls).request(P.METADATA, 9, {"topics": [{"name": topic}]})
        assert meta.topics[0].error_code == E.topic_authorization_failed
    env.creds.pop(A)  # fresh files for the new credential
    env.creds[A] = env.broker.call(lambda: env.svc.reset_credentials(A))
    new = env.pem_files(A)
    ctx2 = ssl.create_default_context(cafile=new["ca"])
    ctx2.load_cert_chain(new["cert"], new["key"])
    with (
        socket.create_connection((host, env.svc.tls_port)) as raw,
        ctx2.wrap_socket(raw, server_hostname=host) as tls,
    ):
        meta = _tls_probe(tls).request(P.METADATA, 9, {"topics": [{"name": topic}]})
        assert meta.topics[0].error_code == E.none


def _tls_probe(tls: ssl.SSLSocket) -> Any:
    from paas.kafka.wire import WireClient

    probe = WireClient.__new__(WireClient)
    probe.sock = tls
    probe.correlation = 0
    return probe


def _closed_after_handshake(tls: ssl.SSLSocket) -> bool:
    from paas.kafka import protocol as P
    from paas.kafka.wire import WireClient

    probe = WireClient.__new__(WireClient)
    probe.sock = tls
    probe.correlation = 0
    try:
        probe.request(P.API_VERSIONS, 3, {"client_software_name": "probe", "client_software_version": "1"})
    except (ConnectionError, ssl.SSLError, OSError):
        return True
    return False


def test_many_tenants_share_one_broker_concurrently(env: Env) -> None:
    tenants = [f"kafka-shared-{i}0000" for i in range(4)]
    topics = {}
    for tid in tenants:
        env.tenant(tid, "basic-2")
        topics[tid] = env.topic("stream", partitions=2, tid=tid)
        env.group("g", tid=tid)
    results: dict[str, list[bytes]] = {}

    def work(tid: str) -> None:
        produce("confluent", env, topics[tid], [(None, f"{tid}:{i}".encode()) for i in range(50)], tid=tid)
        results[tid] = consume("confluent", env, topics[tid], env.tenant(tid).prefix + "g", 50, tid=tid)

    threads = [threading.Thread(target=work, args=(tid,)) for tid in tenants]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for tid in tenants:
        assert sorted(results[tid]) == sorted(f"{tid}:{i}".encode() for i in range(50))
