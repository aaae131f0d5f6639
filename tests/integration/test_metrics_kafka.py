"""Kafka per tenant at `/metrics`: a real librdkafka producer (confluent-kafka) writes past its
Basic plan's 64 KB/s produce quota; the bytes it wrote and the throttled responses the broker
sent it are counted on the tenant's series."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.fixture
def daemon(paas_home: Path) -> Iterator[DaemonThread]:
    d = DaemonThread(daemon_settings(paas_home, kafka_group_initial_rebalance_delay=0.1)).start()
    try:
        yield d
    finally:
        d.stop()


def sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name} {labels} in:\n{text}")


def test_kafka_tenant_bytes_and_throttling_at_the_prometheus_endpoint(daemon: DaemonThread) -> None:
    from confluent_kafka import Producer

    api = daemon.client()
    assert api.post("/apps", json={"name": "stream"}).status_code == 201
    addon = api.post("/apps/stream/addons", json={"plan": "heroku-kafka:basic-0"})
    assert addon.status_code == 201, addon.text
    tenant = addon.json()["name"]
    config = api.get("/apps/stream/config-vars").json()
    assert daemon.cli("kafka:topics:create", "firehose", "--partitions", "1", "-a", "stream").returncode == 0
    producer = Producer(
        {
            "bootstrap.servers": config["KAFKA_URL"].removeprefix("kafka+ssl://"),
            "security.protocol": "SSL",
            "ssl.ca.pem": config["KAFKA_TRUSTED_CERT"],
            "ssl.certificate.pem": config["KAFKA_CLIENT_CERT"],
            "ssl.key.pem": config["KAFKA_CLIENT_CERT_KEY"],
            "linger.ms": 5,
            "batch.size": 16384,
        }
    )
    payload = [b"x" * 2000 for _ in range(100)]  # ~200 KB: past a 64 KB/s quota's burst
    for value in payload:
        producer.produce(f"{config['KAFKA_PREFIX']}firehose", value)
        producer.poll(0)
    assert producer.flush(30) == 0
    del producer

    text = api.get("/metrics").text
    labels = {"tenant": tenant, "app": "stream"}
    assert sample(text, "paas_kafka_tenant_bytes_in_total", **labels) >= sum(len(v) for v in payload)
    assert sample(text, "paas_kafka_tenant_messages_in_total", **labels) == len(payload)
    assert sample(text, "paas_kafka_tenant_data_limit_bytes", **labels) == 4 * 1024**3
    assert sample(text, "paas_kafka_tenant_data_bytes", **labels) >= sum(len(v) for v in payload)
    assert sample(text, "paas_kafka_tenant_throttled_responses_total", quota="produce", **labels) > 0
    assert sample(text, "paas_kafka_tenant_throttle_seconds_total", quota="produce", **labels) > 0
    assert sample(text, "paas_kafka_tenant_throttled_responses_total", quota="consume", **labels) == 0
    assert re.search(r"^# TYPE paas_kafka_tenant_bytes_in counter$", text, re.M)
