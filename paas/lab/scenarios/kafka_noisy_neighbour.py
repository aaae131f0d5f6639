"""kafka-noisy-neighbour: one tenant floods its produce quota; another tenant's latency stays flat."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from paas.lab.context import LabApp, LabContext
from paas.lab.engine import Result, Scenario, Variant

QUIET_INTERVAL = 0.02  # the quiet app sends one 200-byte order every 20 ms
NOISY_RECORD = 4096
BASELINE_SECONDS, FLOOD_SECONDS = 3.0, 6.0


@dataclass
class Latencies:
    seconds: list[float] = field(default_factory=list)
    errors: int = 0

    def quantile(self, q: float) -> float:
        if len(self.seconds) < 2:
            return self.seconds[0] if self.seconds else 0.0
        return statistics.quantiles(self.seconds, n=100)[int(q * 100) - 1]

    def text(self) -> str:
        return (
            f"{len(self.seconds)} orders acknowledged, p50 {self.quantile(0.5) * 1000:.1f} ms, "
            f"p99 {self.quantile(0.99) * 1000:.1f} ms, {self.errors} errors"
        )


@dataclass
class Flood:
    queued: int = 0
    delivered: int = 0
    throttle_ms: list[int] = field(default_factory=list)  # what librdkafka reported (throttle_cb)


def _client_config(config: dict[str, str], **extra: Any) -> dict[str, Any]:
    """The app's KAFKA_* config vars as librdkafka settings (the SASL listener)."""
    return {
        "bootstrap.servers": config["KAFKA_SASL_BOOTSTRAP_SERVERS"],
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": config["KAFKA_SASL_MECHANISM"],
        "sasl.username": config["KAFKA_SASL_USERNAME"],
        "sasl.password": config["KAFKA_SASL_PASSWORD"],
        **extra,
    }


def quiet_producer(config: dict[str, str], topic: str, seconds: float) -> Latencies:
    """Acknowledged-produce latency of a steady, small producer (acks=1, no batching delay)."""
    from confluent_kafka import Producer

    out = Latencies()
    producer = Producer(_client_config(config, **{"linger.ms": 0, "acks": 1}))

    def delivered(sent: float) -> Any:
        def callback(err: Any, _msg: Any) -> None:
            if err is None:
                out.seconds.append(time.perf_counter() - sent)
            else:
                out.errors += 1

        return callback

    producer.produce(topic, b"warm-up")
    producer.flush(10)
    started = time.monotonic()
    for i in range(int(seconds / QUIET_INTERVAL)):
        producer.produce(topic, b"o" * 200, on_delivery=delivered(time.perf_counter()))
        next_at = started + (i + 1) * QUIET_INTERVAL
        while (left := next_at - time.monotonic()) > 0:  # poll returns early when a report arrives
            producer.poll(left)
    producer.flush(10)
    return out


def noisy_producer(config: dict[str, str], topic: str, stop: threading.Event) -> Flood:
    """As many 4 KB records as librdkafka will queue, until `stop`; the queue is bounded."""
    from confluent_kafka import Producer

    flood = Flood()

    def on_delivery(err: Any, _msg: Any) -> None:
        flood.delivered += err is None

    producer = Producer(
        _client_config(
            config,
            **{
                "linger.ms": 5,
                "batch.size": 16384,  # requests of 16 KB: the quota holds it back request by request
                "queue.buffering.max.messages": 2000,
                "throttle_cb": lambda event: flood.throttle_ms.append(
                    round(event.throttle_time * 1000)
                ),  # seconds
            },
        )
    )
    value = b"n" * NOISY_RECORD
    while not stop.is_set():
        try:
            producer.produce(topic, value, on_delivery=on_delivery)
            flood.queued += 1
        except BufferError:  # its queue is full: the broker is holding it to its quota
            producer.poll(0.05)
        producer.poll(0)
    producer.purge()  # what the quota did not let through is dropped, not waited for
    producer.flush(2)
    producer.poll(0.1)
    return flood


class KafkaNoisyNeighbour(Scenario):
    name = "kafka-noisy-neighbour"
    summary = "One Kafka tenant floods its produce quota; another tenant's produce latency stays flat"
    seconds = 15
    explanation = """\
Heroku's multi-tenant Kafka shares brokers between apps; what keeps one app's burst from
hurting the others is a client quota per tenant (producer_byte_rate, consumer_byte_rate: here
basic-0's 64 KB/s produce), set on the tenant's principal with AlterClientQuotas when the
add-on is made. Over its quota a tenant's responses carry throttle_time_ms (KIP-219) and the
broker stops reading its connection for that long, so its excess waits in its own client,
not in the broker. The quiet tenant's orders keep their latency; the noisy one sees
throttle_time_ms in its client (librdkafka's throttle_cb here) and in `paas kafka:topics:info`
(Produce Quota: throttled N times), and the TUI's Kafka screen shows it in red.
Fix in your app: produce within the plan's rate (batch, compress), or move to a bigger plan."""

    async def run(self, ctx: LabContext) -> Result:
        result = self.result(ctx)
        quiet, quiet_topic = await self._tenant(ctx, "quiet", "orders")
        noisy, noisy_topic = await self._tenant(ctx, "noisy", "firehose")
        quiet_config = await quiet.api("GET", f"/apps/{quiet.name}/config-vars")
        noisy_config = await noisy.api("GET", f"/apps/{noisy.name}/config-vars")
        ctx.say(f"baseline: {quiet.name} produces alone for {BASELINE_SECONDS:.0f} s")
        baseline = await asyncio.to_thread(quiet_producer, quiet_config, quiet_topic, BASELINE_SECONDS)
        ctx.say(f"flood: {noisy.name} floods its 64 KB/s quota while {quiet.name} goes on")
        stop = threading.Event()
        flood_task = asyncio.create_task(asyncio.to_thread(noisy_producer, noisy_config, noisy_topic, stop))
        during = await asyncio.to_thread(quiet_producer, quiet_config, quiet_topic, FLOOD_SECONDS)
        stop.set()
        flood = await flood_task
        noisy_info = await noisy.api("GET", f"/apps/{noisy.name}/kafka/KAFKA/topics/{noisy_topic}")
        quiet_info = await quiet.api("GET", f"/apps/{quiet.name}/kafka/KAFKA/topics/{quiet_topic}")
        noisy_throttle = (noisy_info.get("throttle") or {}).get("produce") or {}
        quiet_throttle = (quiet_info.get("throttle") or {}).get("produce") or {}
        self._report(result, quiet, noisy, baseline, during, flood, noisy_throttle)
        self._checks(result, baseline, during, flood, noisy_throttle, quiet_throttle)
        return result

    async def _tenant(self, ctx: LabContext, label: str, topic: str) -> tuple[LabApp, str]:
        app = await ctx.app(label)
        await app.api("POST", f"/apps/{app.name}/addons", json={"plan": "heroku-kafka:basic-0"})
        made = await app.api(
            "POST",
            f"/apps/{app.name}/kafka/KAFKA/topics",
            json={"topic": {"name": topic, "partition_count": 1}},
        )
        return app, str(made["name"])

    @staticmethod
    def _report(
        result: Result,
        quiet: LabApp,
        noisy: LabApp,
        baseline: Latencies,
        during: Latencies,
        flood: Flood,
        throttle: dict[str, Any],
    ) -> None:
        alone = Variant("quiet alone", quiet.name, f"one 200 B order every {QUIET_INTERVAL * 1000:.0f} ms")
        alone.notes.append(baseline.text())
        beside = Variant(
            "quiet beside the flood", quiet.name, "the same orders while the noisy tenant floods"
        )
        beside.notes.append(during.text())
        noisy_variant = Variant(
            "noisy", noisy.name, f"4 KB records as fast as librdkafka queues them ({FLOOD_SECONDS:.0f} s)"
        )
        noisy_variant.notes.append(
            f"{flood.queued} queued, {flood.delivered} delivered "
            f"(~{flood.delivered * NOISY_RECORD / FLOOD_SECONDS / 1024:.0f} KB/s against a 64 KB/s quota)"
        )
        noisy_variant.notes.append(
            f"client throttle_time_ms: {len(flood.throttle_ms)} reports, max {max(flood.throttle_ms, default=0)} ms"
        )
        noisy_variant.notes.append(
            f"kafka:topics:info: throttled {throttle.get('throttled_responses', 0)} times, "
            f"last throttle_time_ms {throttle.get('last_throttle_ms', 0)}"
        )
        result.variants += [alone, beside, noisy_variant]

    @staticmethod
    def _checks(
        result: Result,
        baseline: Latencies,
        during: Latencies,
        flood: Flood,
        noisy: dict[str, Any],
        quiet: dict[str, Any],
    ) -> None:
        result.check("the noisy client was told throttle_time_ms > 0", max(flood.throttle_ms, default=0) > 0)
        result.check(
            "kafka:topics:info shows the noisy tenant throttled", noisy.get("throttled_responses", 0) > 0
        )
        result.check("the quiet tenant was never throttled", quiet.get("throttled_responses", 0) == 0)
        delivered_rate = flood.delivered * NOISY_RECORD / FLOOD_SECONDS
        result.check(
            f"the noisy tenant got about its quota through ({delivered_rate / 1024:.0f} KB/s <= 2 x 64 KB/s)",
            0 < delivered_rate <= 2 * 64 * 1024,
        )
        p99, base_p99 = during.quantile(0.99), baseline.quantile(0.99)
        result.check(
            f"the quiet tenant's p99 stayed flat ({p99 * 1000:.1f} ms vs {base_p99 * 1000:.1f} ms alone)",
            not during.errors and p99 <= max(2 * base_p99, base_p99 + 0.05),
        )
