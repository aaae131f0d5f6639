"""Throughput and latency of the shared Kafka broker, measured with confluent-kafka (librdkafka).

The broker runs as its own process pinned to one core (`python -m paas.kafka.harness`); this
script (producer and consumer) is pinned to the other cores. Figures printed:

  produce   messages/s and MB/s for 100-byte and 1 KiB records (acks=1, librdkafka defaults
            for batching: linger.ms=5, batch.size=1 MB, no compression)
  consume   messages/s and MB/s reading the same records back from offset 0
  latency   end-to-end p50/p99 (produce call -> consumer receipt) at a steady 5,000 msg/s

Target: >= 500,000 msg/s of 100-byte records produced and as many consumed, broker on one core.

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
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

TARGET = 500_000


def start_broker(home: Path, topics: list[str]) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    cmd = [sys.executable, "-m", "paas.kafka.harness", "--home", str(home)]
    for t in topics:
        cmd += ["--topic", t]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit("broker failed to start")
    info = json.loads(line)
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) > 1:
        os.sched_setaffinity(proc.pid, {cpus[0]})
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


def produce(conf: dict[str, Any], topic: str, count: int, size: int) -> float:
    p = Producer({**conf, "acks": 1, "linger.ms": 5, "queue.buffering.max.messages": 1_000_000,
                  "queue.buffering.max.kbytes": 2_000_000})
    value = b"x" * size
    errors = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(err)

    p.produce(topic, value, on_delivery=on_delivery)  # connect + metadata before timing
    p.flush(10)
    start = time.perf_counter()
    produce_ = p.produce
    poll = p.poll
    for i in range(count):
        try:
            produce_(topic, value)
        except BufferError:
            poll(0.001)
            produce_(topic, value)
        if i & 0xFFFF == 0:
            poll(0)
    remaining = p.flush(120)
    elapsed = time.perf_counter() - start
    if remaining or errors:
        raise SystemExit(f"produce failed: {remaining} undelivered, errors {errors[:3]}")
    return elapsed


def consume(conf: dict[str, Any], topic: str, count: int) -> float:
    c = Consumer({**conf, "group.id": "bench", "enable.auto.commit": False, "fetch.max.bytes": 52_428_800,
                  "max.partition.fetch.bytes": 10_485_760, "queued.max.messages.kbytes": 1_048_576})
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2_000_000, help="100-byte records per run")
    parser.add_argument("--quick", action="store_true", help="smaller runs (smoke test)")
    args = parser.parse_args()
    small = 200_000 if args.quick else args.messages
    large = max(small // 4, 1)
    with tempfile.TemporaryDirectory() as tmp:
        proc, info = start_broker(Path(tmp), ["bench-100:1", "bench-1k:1", "bench-latency:1"])
        try:
            conf = client_config(info)
            print(f"broker pid {proc.pid} pinned to cpu {sorted(os.sched_getaffinity(proc.pid))}, "
                  f"client on {sorted(os.sched_getaffinity(0))}")
            rows = []
            for topic, size, count in (("bench-100", 100, small), ("bench-1k", 1024, large)):
                t = produce(conf, topic, count, size)
                rows.append(("produce", size, count, t))
                t = consume(conf, topic, count)
                rows.append(("consume", size, count, t))
            print(f"{'test':8} {'record':>7} {'messages':>10} {'seconds':>8} {'msg/s':>11} {'MB/s':>8}")
            for name, size, count, t in rows:
                print(f"{name:8} {size:>6}B {count:>10,} {t:>8.2f} {count / t:>11,.0f} {count * size / t / 1e6:>8.1f}")
            samples = latency(conf, "bench-latency", 5_000, 3.0)
            if samples:
                qs = statistics.quantiles(samples, n=100)
                print(f"latency  end-to-end at 5,000 msg/s: p50 {qs[49] * 1000:.2f} ms, p99 {qs[98] * 1000:.2f} ms "
                      f"({len(samples):,} samples)")
            p100 = next(count / t for n, s, count, t in rows if n == "produce" and s == 100)
            c100 = next(count / t for n, s, count, t in rows if n == "consume" and s == 100)
            print(f"target {TARGET:,} msg/s (100 B): produce {p100 / TARGET:.2f}x, consume {c100 / TARGET:.2f}x")
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(30)


if __name__ == "__main__":
    main()
