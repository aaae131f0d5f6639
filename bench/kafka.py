"""Throughput and latency of the shared Kafka broker, measured with confluent-kafka (librdkafka).

The broker runs as its own process pinned to one core (`python -m tests.support.kafka_broker`); this
script (producer and consumer) is pinned to the other cores. Figures printed:

  produce   messages/s and MB/s for 100-byte and 1 KiB records (acks=1, librdkafka defaults
            for batching: linger.ms=5, batch.size=1 MB, no compression; records handed to
            librdkafka 10,000 at a time with Producer.produce_batch)
  fetch     how fast librdkafka pulls the same records from offset 0 into its queue (its own
            statistics, `rxmsgs`): what the broker serves to a real client
  consume   the same, delivered to Python by Consumer.consume() (bounded by confluent-kafka
            building one Python object per message, a few microseconds each)
  latency   end-to-end p50/p99 (produce call -> consumer receipt) at a steady 5,000 msg/s

For each phase the broker's own CPU time is read from /proc (psutil): `broker cpu` is the share
of its one core it used, `per core` the rate it could sustain were it the bottleneck.

The 100-byte produce runs twice: as the platform's admin (SASL/PLAIN, a super user: no ACL is
looked at) and as an ordinary principal (SASL/SCRAM-SHA-512, allowed by a PREFIXED ACL made with
librdkafka's admin client, like a tenant's). `security cost` compares the broker's CPU per message
of the two: what SCRAM, ACL checks and the client-quota bookkeeping add to the produce path.

Target: >= 1,000,000 msg/s of 100-byte records produced, broker on one core.

    .venv/bin/python bench/kafka.py [--messages 2000000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
from confluent_kafka import Consumer, Producer, TopicPartition

REPO = Path(__file__).resolve().parent.parent
TARGET = 1_000_000
BENCH_USER = "bench-user"


def start_broker(
    home: Path, topics: list[str], isolate: bool = True
) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    cmd = [sys.executable, "-m", "tests.support.kafka_broker", "--home", str(home)]
    for t in topics:
        cmd += ["--topic", t]
    # the broker harness is a module of the test tree: run it from the repository root
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit("broker failed to start")
    info = json.loads(line)
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) > 1:
        os.sched_setaffinity(proc.pid, {cpus[0]})
        if isolate:  # keep the clients off the broker's core
            os.sched_setaffinity(0, set(cpus[1:]))
    return proc, info


def client_config(info: dict[str, Any]) -> dict[str, Any]:
    return {
        "bootstrap.servers": f"127.0.0.1:{info['port']}",
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": info["admin"]["username"],
        "sasl.password": info["admin"]["password"],
    }


def scram_user(admin_conf: dict[str, Any], prefix: str) -> dict[str, Any]:
    """An ordinary principal (SCRAM-SHA-512) allowed on `prefix*` by PREFIXED ACLs: a tenant's shape."""
    import importlib

    ck: Any = importlib.import_module("confluent_kafka.admin")  # its stubs miss the re-exports
    AclBinding = ck.AclBinding
    AclOperation = ck.AclOperation
    AclPermissionType = ck.AclPermissionType
    AdminClient = ck.AdminClient
    ResourcePatternType = ck.ResourcePatternType
    ResourceType = ck.ResourceType
    ScramCredentialInfo = ck.ScramCredentialInfo
    ScramMechanism = ck.ScramMechanism
    UserScramCredentialUpsertion = ck.UserScramCredentialUpsertion

    admin = AdminClient(admin_conf)
    password = os.urandom(12).hex()
    upsert = UserScramCredentialUpsertion(
        BENCH_USER, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), password.encode()
    )
    for f in admin.alter_user_scram_credentials([upsert]).values():
        f.result(10)
    principal = f"User:{BENCH_USER}"
    bindings = [
        AclBinding(
            ResourceType.TOPIC,
            prefix,
            ResourcePatternType.PREFIXED,
            principal,
            "*",
            op,
            AclPermissionType.ALLOW,
        )
        for op in (AclOperation.WRITE, AclOperation.READ, AclOperation.DESCRIBE)
    ]
    for f in admin.create_acls(bindings).values():
        f.result(10)
    return {
        **admin_conf,
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": BENCH_USER,
        "sasl.password": password,
    }


def produce(conf: dict[str, Any], topic: str, count: int, size: int) -> float:
    """Seconds to produce and get acks for `count` records, with confluent-kafka's batch API
    (`produce_batch`: one Python call per 10,000 records, so Python's per-call cost does not
    hide the broker's)."""
    queue_max = 1_000_000
    p = Producer(
        {
            **conf,
            "acks": 1,
            "linger.ms": 5,
            "queue.buffering.max.messages": queue_max,
            "queue.buffering.max.kbytes": 2_000_000,
        }
    )
    value = b"x" * size
    errors: list[Any] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(err)

    p.produce(topic, value, on_delivery=on_delivery)  # connect + metadata before timing
    p.flush(10)
    chunk = 10_000
    batch = [{"value": value} for _ in range(chunk)]
    start = time.perf_counter()
    sent = 0
    while sent < count:
        n = min(chunk, count - sent)
        while len(p) > queue_max - n:
            p.poll(0.002)
        queued = p.produce_batch(
            topic, batch[:n] if n < chunk else batch, partition=0, on_delivery=on_delivery
        )
        if queued != n:
            raise SystemExit(f"produce_batch queued {queued} of {n}")
        sent += n
        p.poll(0)
    remaining = p.flush(120)
    elapsed = time.perf_counter() - start
    if remaining or errors:
        raise SystemExit(f"produce failed: {remaining} undelivered, errors {errors[:3]}")
    return elapsed


def fetch(conf: dict[str, Any], topic: str, count: int) -> float:
    """Seconds until librdkafka has fetched `count` records (its statistics), without the
    Python application in the way: its queue is allowed to hold everything."""
    samples: list[tuple[float, int]] = []

    def on_stats(raw: str) -> None:
        stats = json.loads(raw)
        part = stats.get("topics", {}).get(topic, {}).get("partitions", {}).get("0", {})
        samples.append((time.perf_counter(), int(part.get("rxmsgs", 0))))

    c = Consumer(
        {
            **conf,
            "group.id": "bench-fetch",
            "enable.auto.commit": False,
            "statistics.interval.ms": 50,
            "stats_cb": on_stats,
            "queued.min.messages": 10_000_000,
            "queued.max.messages.kbytes": 2_097_151,
            "fetch.max.bytes": 52_428_800,
            "max.partition.fetch.bytes": 10_485_760,
        }
    )
    start = time.perf_counter()
    c.assign([TopicPartition(topic, 0, 0)])
    deadline = time.time() + 300
    while (not samples or samples[-1][1] < count) and time.time() < deadline:
        c.consume(num_messages=1, timeout=0.01)  # serves the statistics callback
    c.close()
    if not samples or samples[-1][1] < count:
        raise SystemExit(f"fetched only {samples[-1][1] if samples else 0} of {count}")
    # interpolate between the last two samples for the moment `count` was reached
    (t0, n0), (t1, n1) = samples[-2] if len(samples) > 1 else (start, 0), samples[-1]
    reached = t0 + (t1 - t0) * (count - n0) / max(n1 - n0, 1)
    return reached - start


def consume(conf: dict[str, Any], topic: str, count: int) -> float:
    # a prefetch queue deep enough that librdkafka never idles in its 1 s fetch.queue.backoff.ms
    c = Consumer(
        {
            **conf,
            "group.id": "bench",
            "enable.auto.commit": False,
            "fetch.max.bytes": 52_428_800,
            "max.partition.fetch.bytes": 10_485_760,
            "queued.max.messages.kbytes": 1_048_576,
            "queued.min.messages": 1_000_000,
            "fetch.queue.backoff.ms": 10,
        }
    )
    start = time.perf_counter()  # includes connecting: a few ms against seconds of reading
    c.assign([TopicPartition(topic, 0, 0)])
    got = 0
    deadline = time.time() + 300
    while got < count and time.time() < deadline:
        for m in c.consume(num_messages=100_000, timeout=1.0):
            if m.error() is None:
                got += 1
    elapsed = time.perf_counter() - start
    c.close()
    if got < count:
        raise SystemExit(f"consumed only {got} of {count}")
    return elapsed


def latency(conf: dict[str, Any], topic: str, rate: int, seconds: float) -> list[float]:
    c = Consumer({**conf, "group.id": "bench-latency", "fetch.wait.max.ms": 100, "fetch.min.bytes": 1})
    c.assign([TopicPartition(topic, 0, -1)])  # from the end
    p = Producer({**conf, "acks": 1, "linger.ms": 0})
    p.produce(topic, b"warmup")
    p.flush(10)
    c.consume(num_messages=10, timeout=2.0)
    samples: list[float] = []
    interval = 1 / rate
    total = int(rate * seconds)
    next_at = time.perf_counter()
    sent = 0
    deadline = time.perf_counter() + seconds + 10
    while (sent < total or len(samples) < total) and time.perf_counter() < deadline:
        now = time.perf_counter()
        while sent < total and now >= next_at:
            p.produce(topic, str(time.perf_counter()).encode())
            sent += 1
            next_at += interval
        p.poll(0)
        for m in c.consume(num_messages=1000, timeout=0.001):
            if m.error() is None and m.value() != b"warmup":
                samples.append(time.perf_counter() - float(m.value() or b"0"))
    c.close()
    p.flush(5)
    return samples


def handler_cost(requests: int = 300, records: int = 100, rounds: int = 15) -> dict[str, float]:
    """CPU microseconds the broker spends in one Produce request (records x 100 B), in-process:
    as the super user, as a principal checked by ACLs, and with client quotas configured (every
    request then also pays the request_percentage bookkeeping). No network, no client: the
    security checks alone, compared on the same code path."""

    import uvloop
    from kio.static.constants import EntityType

    from common.config import Settings
    from paas.kafka import acls as A
    from paas.kafka import protocol as P
    from paas.kafka.auth import ADMIN, Principal
    from paas.kafka.records import build_batch
    from paas.kafka.session import Session

    async def run(home: Path) -> dict[str, float]:
        from common.ca import local_ca
        from paas.kafka.embedded import EmbeddedBroker

        settings = Settings(home=home, kafka_port=0, kafka_tls_port=0)
        embedded = EmbeddedBroker(settings, local_ca(settings))
        await embedded.start()
        broker = embedded.broker
        embedded.create_topic("bench-acl", 1, {})
        user = Principal("bench-user")
        broker.authorizer.add(A.AclBinding(A.TOPIC, "bench-", A.PREFIXED, user.name, "*", A.WRITE, A.ALLOW))
        batch = build_batch([(None, b"x" * 100)] * records)
        body = P.build(
            P.payload_class(P.PRODUCE, 8, EntityType.request),
            {
                "acks": 1,
                "timeout": 1000,
                "topic_data": [{"name": "bench-acl", "partition_data": [{"index": 0, "records": batch}]}],
            },
        )
        request = P.Request(P.PRODUCE, 8, 1, "bench", body, len(batch))
        sessions = {
            "super user (no ACL looked at)": (Session("plain", 0, "127.0.0.1", ADMIN), None),
            "principal checked by ACLs": (Session("plain", 0, "127.0.0.1", user), None),
            "... with its own producer_byte_rate": (
                Session("plain", 0, "127.0.0.1", user),
                "producer_byte_rate",
            ),
            "... with its own request_percentage": (
                Session("plain", 0, "127.0.0.1", user),
                "request_percentage",
            ),
        }
        out = dict.fromkeys(sessions, float("inf"))
        for _round in range(rounds):  # interleaved, best of each: disk and machine drift cancel out
            for label, (session, quota) in sessions.items():
                if quota is not None:  # generous: charged on every request, never throttles
                    broker.quota_manager.alter((("user", "bench-user"),), [(quota, 1e12, False)])
                started = time.process_time()  # CPU time of this process: other load does not count
                for _ in range(requests):
                    await broker.handle(session, request)
                out[label] = min(out[label], (time.process_time() - started) / requests * 1e6)
                broker.quota_manager.load({})
        await embedded.stop()
        return out

    with tempfile.TemporaryDirectory() as tmp:
        return uvloop.run(run(Path(tmp)))


Row = tuple[str, int, int, float, float]  # phase, record size, messages, seconds, broker CPU seconds


def print_handler_cost() -> None:
    for records in (100, 1000):
        costs = handler_cost(records=records)
        base = next(iter(costs.values()))
        print(f"broker CPU per Produce request of {records} records x 100 B, in-process (best of 15 rounds):")
        for label, us in costs.items():
            print(f"  {label:38} {us:7.1f} us  ({(us - base) * 1000:+6.0f} ns, {us / base - 1:+.1%})")


def run_phases(conf: dict[str, Any], broker: psutil.Process, small: int, large: int) -> list[Row]:
    rows: list[Row] = []
    user_conf = scram_user(conf, "bench-")

    def measure(name: str, size: int, count: int, run: Callable[[], float]) -> None:
        cpu0 = sum(broker.cpu_times()[:2])
        seconds = run()
        rows.append((name, size, count, seconds, sum(broker.cpu_times()[:2]) - cpu0))

    both = 2 * small  # two rounds, each principal on its own topic, interleaved against drift
    for _round in (1, 2):
        measure("produce admin", 100, small, lambda: produce(conf, "bench-100", small, 100))
        measure("produce scram+acl", 100, small, lambda: produce(user_conf, "bench-u100", small, 100))
    measure("fetch", 100, both, lambda: fetch(conf, "bench-100", both))
    measure("consume", 100, both, lambda: consume(conf, "bench-100", both))
    measure("produce", 1024, large, lambda: produce(conf, "bench-1k", large, 1024))
    measure("fetch", 1024, large, lambda: fetch(conf, "bench-1k", large))
    measure("consume", 1024, large, lambda: consume(conf, "bench-1k", large))
    return rows


def print_rows(rows: list[Row]) -> None:
    print(
        f"{'test':18} {'record':>7} {'messages':>10} {'seconds':>8} {'msg/s':>11} {'MB/s':>8} "
        f"{'broker cpu':>10} {'per core':>13}"
    )
    for name, size, count, t, cpu in rows:
        print(
            f"{name:18} {size:>6}B {count:>10,} {t:>8.2f} {count / t:>11,.0f} {count * size / t / 1e6:>8.1f} "
            f"{cpu / t:>10.0%} {count / max(cpu, 1e-9):>11,.0f}/s"
        )
    per_msg: dict[str, float] = {}
    for n, _size, c, _t, cpu in rows:  # the better of the two rounds of each
        if n.startswith("produce "):
            per_msg[n] = min(per_msg.get(n, float("inf")), cpu / c)
    cost = per_msg["produce scram+acl"] / per_msg["produce admin"] - 1
    print(
        f"security cost: broker CPU per produced message {cost:+.1%} as a SCRAM principal checked by ACLs "
        f"({per_msg['produce scram+acl'] * 1e9:,.0f} ns vs {per_msg['produce admin'] * 1e9:,.0f} ns as the super user)"
    )

    def rate(phase: str) -> float:
        return max(count / t for n, s, count, t, _c in rows if n == phase and s == 100)

    print(
        f"target {TARGET:,} msg/s (100 B): produce {rate('produce admin') / TARGET:.2f}x "
        f"(as a SCRAM principal {rate('produce scram+acl') / TARGET:.2f}x), "
        f"fetch {rate('fetch') / TARGET:.2f}x, consume (Python) {rate('consume') / TARGET:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2_000_000, help="100-byte records per run")
    parser.add_argument("--quick", action="store_true", help="smaller runs (smoke test)")
    parser.add_argument(
        "--share-cores",
        action="store_true",
        help="let the clients run on every core (the broker stays pinned to one)",
    )
    parser.add_argument("--handler-only", action="store_true", help="only the in-process security cost")
    args = parser.parse_args()
    print_handler_cost()
    if args.handler_only:
        return
    small = 200_000 if args.quick else args.messages
    with tempfile.TemporaryDirectory() as tmp:
        proc, info = start_broker(
            Path(tmp),
            ["bench-100:1", "bench-u100:1", "bench-1k:1", "bench-latency:1"],
            isolate=not args.share_cores,
        )
        try:
            conf = client_config(info)
            print(
                f"broker pid {proc.pid} pinned to cpu {sorted(os.sched_getaffinity(proc.pid))}, "
                f"client on {sorted(os.sched_getaffinity(0))}"
            )
            print_rows(run_phases(conf, psutil.Process(proc.pid), small, max(small // 4, 1)))
            samples = latency(conf, "bench-latency", 5_000, 3.0)
            if samples:
                qs = statistics.quantiles(samples, n=100)
                print(
                    f"latency  end-to-end at 5,000 msg/s: p50 {qs[49] * 1000:.2f} ms, p99 {qs[98] * 1000:.2f} ms "
                    f"({len(samples):,} samples)"
                )
            print(f"machine load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(30)


if __name__ == "__main__":
    main()
