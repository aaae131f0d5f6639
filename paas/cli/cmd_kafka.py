"""kafka:* commands, shaped like Heroku's heroku-kafka-jsplugin (Basic plans).

    kafka[:info] [CLUSTER]          kafka:wait [CLUSTER]            kafka:credentials [CLUSTER] --reset
    kafka:topics [CLUSTER]          kafka:topics:create TOPIC       kafka:topics:info TOPIC
    kafka:topics:destroy TOPIC      kafka:topics:retention-time TOPIC VALUE
    kafka:topics:compaction TOPIC enable|disable
    kafka:topics:tail TOPIC         kafka:topics:write TOPIC MESSAGE
    kafka:consumer-groups [CLUSTER] kafka:consumer-groups:create GROUP  kafka:consumer-groups:destroy GROUP

CLUSTER is the add-on name or attachment (KAFKA, KAFKA_URL); default: the KAFKA attachment.
Topic and group names may be given with or without the tenant prefix.
"""

from __future__ import annotations

import datetime
import json
import time
from typing import Any

import click

from paas.cli.client import Client, CliError
from paas.cli.main import app_option, json_option, resolve_app
from paas.cli.ui import APP_GLYPH, action, echo, header, key_values, print_json, table

BAR_WIDTH = 5


def _human(n: float) -> str:
    size = float(n)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"


def _bar(used: int, limit: int) -> str:
    filled = min(BAR_WIDTH, round(BAR_WIDTH * used / limit)) if limit else 0
    return "[" + "█" * filled + "·" * (BAR_WIDTH - filled) + "]"


def _duration(ms: int) -> str:
    from common.durations import format_duration_ms

    return format_duration_ms(ms)


def _created(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _cluster(client: Client, app: str, cluster: str | None) -> str:
    if cluster:
        return cluster
    addons = [a for a in client.get(f"/apps/{app}/addons") if a["addon_service"]["name"] == "heroku-kafka"]
    if not addons:
        raise CliError(
            f"{APP_GLYPH} {app} has no Kafka add-ons. Create one with paas addons:create heroku-kafka:basic-0 -a {app}"
        )
    primary = [a for a in addons if a["attachment"] == "KAFKA"]
    return str((primary or addons)[0]["name"])


def _base(app: str, cluster: str) -> str:
    return f"/apps/{app}/kafka/{cluster}"


def _info_pairs(d: dict[str, Any]) -> list[tuple[str, Any]]:
    limits = d["limits"]
    plan = d["plan"]
    return [
        ("Plan", f"heroku-kafka:{plan}"),
        ("Status", d["status"]),
        ("Version", d["version"]),
        ("Created", _created(d["created_at"])),
        (
            "Topics",
            f"{_bar(d['topic_count'], limits['max_topics'])} {d['topic_count']} / {limits['max_topics']} topics",
        ),
        ("Prefix", d["prefix"]),
        (
            "Partitions",
            f"{_bar(d['partition_replicas'], limits['max_partition_replica_count'])} "
            f"{d['partition_replicas']} / {limits['max_partition_replica_count']} partition replicas "
            f"(partitions × replication factor)",
        ),
        ("Messages", f"{d['messages_in_per_sec']:g} messages/s"),
        ("Traffic", f"{_human(d['bytes_in_per_sec'])}/s in / {_human(d['bytes_out_per_sec'])}/s out"),
        (
            "Data Size",
            f"{_bar(d['data_size'], d['data_size_limit'])} {_human(d['data_size'])} / "
            f"{_human(d['data_size_limit'])} ({d['data_size_percent']:.2f}%)",
        ),
        ("Add-on", d["addon"]["name"]),
    ]


def _throttle_pairs(throttle: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """`Produce Quota` / `Consume Quota` lines: the plan's rate and how often clients were held to it."""
    if not throttle:
        return []
    pairs = []
    for label, key in (("Produce Quota", "produce"), ("Consume Quota", "consume")):
        q = throttle.get(key) or {}
        text = f"{_human(q.get('quota') or 0)}/second"
        if q.get("throttled_responses"):
            text += (
                f"; throttled {q['throttled_responses']} times, {q['throttle_ms_total'] / 1000:.1f} s in all"
                f" (last throttle_time_ms {q['last_throttle_ms']})"
            )
        else:
            text += "; never throttled"
        pairs.append((label, text))
    return pairs


def _show_info(cluster: str | None, app: str | None, as_json: bool) -> None:
    target = resolve_app(app)
    client = Client()
    data = [client.get(_base(target, cluster))] if cluster else client.get(f"/apps/{target}/kafka")
    if as_json:
        print_json(data)
        return
    if not data:
        raise CliError(f"{APP_GLYPH} {target} has no Kafka add-ons.")
    for n, d in enumerate(data):
        if n:
            echo()
        header(", ".join(v for v in d["config_vars"] if v.endswith("_URL")) or d["attachment"] + "_URL")
        key_values(_info_pairs(d))


def _info_command(name: str) -> click.Command:
    @click.command(name)
    @click.argument("cluster", required=False)
    @app_option()
    @json_option()
    def kafka_info(cluster: str | None, app: str | None, as_json: bool) -> None:
        """Display cluster information."""
        _show_info(cluster, app, as_json)

    return kafka_info


@click.command("kafka:wait")
@click.argument("cluster", required=False)
@app_option()
@click.option("--wait-interval", default=5.0, type=float, help="how frequently to poll in seconds")
def kafka_wait(cluster: str | None, app: str | None, wait_interval: float) -> None:
    """Wait until Kafka is available."""
    target = resolve_app(app)
    client = Client()
    name = _cluster(client, target, cluster)
    with action(f"Waiting for {name}"):
        for _ in range(720):
            if client.get(_base(target, name))["status"] == "available":
                return
            time.sleep(wait_interval)
        raise CliError(f"{name} did not become available.")


@click.command("kafka:credentials")
@click.argument("cluster", required=False)
@app_option()
@click.option("--reset", is_flag=True, help="rotate the client certificate and SASL password")
def kafka_credentials(cluster: str | None, app: str | None, reset: bool) -> None:
    """Rotate the Kafka credentials (client certificate and password)."""
    target = resolve_app(app)
    if not reset:
        raise CliError(
            "Pass --reset to rotate the credentials; the current ones are in the app's config vars."
        )
    client = Client()
    name = _cluster(client, target, cluster)
    with action(f"Resetting credentials for {name}"):
        data = client.post(f"{_base(target, name)}/credentials/reset")
    echo(f"New credentials are in {', '.join(data['config_vars'])} (a new release of {target}).")


@click.command("kafka:topics")
@click.argument("cluster", required=False)
@app_option()
@json_option()
def kafka_topics(cluster: str | None, app: str | None, as_json: bool) -> None:
    """List available Kafka topics."""
    target = resolve_app(app)
    client = Client()
    name = _cluster(client, target, cluster)
    data = client.get(f"{_base(target, name)}/topics")
    if as_json:
        print_json(data)
        return
    header(f"Kafka Topics on {data['attachment']}_URL")
    echo()
    echo(f"{len(data['topics'])} / {data['limits']['max_topics']} topics; prefix: {data['prefix']}")
    echo()
    if not data["topics"]:
        echo("No topics found on this Kafka cluster.")
        echo(f"Use paas kafka:topics:create to create a topic (limit {data['limits']['max_topics']})")
        return
    table(
        [
            [
                t["name"],
                f"{t['messages_in_per_sec']:g}/sec",
                f"{_human(t['bytes_in_per_sec'])}/sec in / {_human(t['bytes_out_per_sec'])}/sec out",
            ]
            for t in data["topics"]
        ],
        ["Name", "Messages", "Traffic"],
    )


@click.command("kafka:topics:create")
@click.argument("topic")
@click.argument("cluster", required=False)
@app_option()
@click.option("--partitions", type=int, default=None, help="number of partitions to give the topic")
@click.option("--replication-factor", type=int, default=None, help="number of replicas (Basic: 3)")
@click.option("--retention-time", default=None, help="length of time messages are kept, e.g. 1d, 36h")
@click.option("--compaction", is_flag=True, help="whether to use compaction for this topic")
@json_option()
def topics_create(
    topic: str,
    cluster: str | None,
    app: str | None,
    partitions: int | None,
    replication_factor: int | None,
    retention_time: str | None,
    compaction: bool,
    as_json: bool,
) -> None:
    """Create a topic in Kafka."""
    target = resolve_app(app)
    client = Client()
    name = _cluster(client, target, cluster)
    spec: dict[str, Any] = {"name": topic, "compaction": compaction}
    if partitions is not None:
        spec["partition_count"] = partitions
    if replication_factor is not None:
        spec["replication_factor"] = replication_factor
    if retention_time is not None:
        spec["retention_time_ms"] = retention_time
    with action(
        f"Creating topic {topic} with compaction {'enabled' if compaction else 'disabled'} "
        f"and retention time {retention_time or 'default'} on {name}"
    ):
        data = client.post(f"{_base(target, name)}/topics", json={"topic": spec})
    if as_json:
        print_json(data)
        return
    echo(f"Use `paas kafka:topics:info {data['name']}` to monitor your topic.")


@click.command("kafka:topics:info")
@click.argument("topic")
@click.argument("cluster", required=False)
@app_option()
@json_option()
def topics_info(topic: str, cluster: str | None, app: str | None, as_json: bool) -> None:
    """Show information about a topic in your Kafka cluster."""
    target = resolve_app(app)
    client = Client()
    name = _cluster(client, target, cluster)
    t = client.get(f"{_base(target, name)}/topics/{topic}")
    if as_json:
        print_json(t)
        return
    header(f"Kafka Topic {t['name']}")
    key_values(
        [
            (
                "Producers",
                f"{t['messages_in_per_sec']:g} messages/second ({_human(t['bytes_in_per_sec'])}/second) total",
            ),
            ("Consumers", f"{_human(t['bytes_out_per_sec'])}/second total"),
            ("Partitions", f"{t['partition_count']} partitions"),
            ("Replication Factor", str(t["replication_factor"])),
            (
                "Compaction",
                "Compaction is enabled for " + t["name"]
                if t["compaction"]
                else "Compaction is disabled for " + t["name"],
            ),
            ("Retention", _duration(t["retention_time_ms"])),
            ("Messages", f"{t['messages']} stored, {_human(t['data_size'])}"),
            *_throttle_pairs(t.get("throttle")),
        ]
    )
    echo()
    table(
        [
            [p["partition"], p["log_start_offset"], p["high_watermark"], _human(p["size_bytes"])]
            for p in t.get("partitions") or []
        ],
        ["Partition", "Start Offset", "End Offset", "Size"],
    )


@click.command("kafka:topics:destroy")
@click.argument("topic")
@click.argument("cluster", required=False)
@app_option()
@click.option("--confirm", default=None, help="pass the app name to skip the confirmation")
def topics_destroy(topic: str, cluster: str | None, app: str | None, confirm: str | None) -> None:
    """Delete a topic in Kafka."""
    target = resolve_app(app)
    if confirm != target:
        raise CliError(
            f"Confirmation did not match {target}. This command will permanently destroy the topic "
            f"{topic} and all its messages; pass --confirm {target} to proceed."
        )
    client = Client()
    name = _cluster(client, target, cluster)
    with action(f"Deleting topic {topic}"):
        client.delete(f"{_base(target, name)}/topics/{topic}")
    echo("Your topic has been marked for deletion, and will be removed from the cluster shortly")


@click.command("kafka:topics:retention-time")
@click.argument("topic")
@click.argument("value")
@click.argument("cluster", required=False)
@app_option()
def topics_retention(topic: str, value: str, cluster: str | None, app: str | None) -> None:
    """Configure or disable the retention time of a topic (VALUE like 1d or 36h, or `disable`)."""
    target = resolve_app(app)
    if value == "disable":
        raise CliError("Basic plans keep a retention time on every topic; it cannot be disabled.")
    client = Client()
    name = _cluster(client, target, cluster)
    with action(f"Setting retention time for topic {topic} to {value}"):
        client.patch(f"{_base(target, name)}/topics/{topic}", json={"topic": {"retention_time_ms": value}})


@click.command("kafka:topics:compaction")
@click.argument("topic")
@click.argument("value", type=click.Choice(["enable", "disable", "on", "off"]))
@click.argument("cluster", required=False)
@app_option()
def topics_compaction(topic: str, value: str, cluster: str | None, app: str | None) -> None:
    """Configure (or disable) compaction of a topic."""
    target = resolve_app(app)
    enabled = value in ("enable", "on")
    client = Client()
    name = _cluster(client, target, cluster)
    with action(f"{'Enabling' if enabled else 'Disabling'} compaction for topic {topic}"):
        client.patch(f"{_base(target, name)}/topics/{topic}", json={"topic": {"compaction": enabled}})


@click.command("kafka:topics:write")
@click.argument("topic")
@click.argument("message")
@click.argument("cluster", required=False)
@app_option()
@click.option("--key", default=None, help="the key for this message")
@click.option("--partition", type=int, default=None, help="the partition to write to")
@json_option()
def topics_write(
    topic: str,
    message: str,
    cluster: str | None,
    app: str | None,
    key: str | None,
    partition: int | None,
    as_json: bool,
) -> None:
    """Write a message to a Kafka topic."""
    target = resolve_app(app)
    client = Client()
    name = _cluster(client, target, cluster)
    body: dict[str, Any] = {"value": message, "key": key, "partition": partition}
    data = client.post(f"{_base(target, name)}/topics/{topic}/messages", json=body)
    if as_json:
        print_json(data)


@click.command("kafka:topics:tail")
@click.argument("topic")
@click.argument("cluster", required=False)
@app_option()
@click.option("--max-length", type=int, default=80, help="number of characters per message to output")
@click.option("--from-beginning", is_flag=True, help="start with the oldest retained message")
@click.option("-n", "--num", "limit", type=int, default=None, help="stop after this many messages")
@click.option(
    "--idle-timeout", type=float, default=None, help="stop after this many seconds without messages"
)
def topics_tail(
    topic: str,
    cluster: str | None,
    app: str | None,
    max_length: int,
    from_beginning: bool,
    limit: int | None,
    idle_timeout: float | None,
) -> None:
    """Tail a topic: `<topic> <partition> <offset> <length> <message>` per record."""
    target = resolve_app(app)
    client = Client()
    name = _cluster(client, target, cluster)
    params: dict[str, Any] = {"from_beginning": from_beginning}
    if limit is not None:
        params["limit"] = limit
    if idle_timeout is not None:
        params["idle_timeout"] = idle_timeout
    try:
        for line in client.stream_lines(
            f"{_base(target, name)}/topics/{topic}/tail", params=params, timeout=None
        ):
            if not line.strip():
                continue
            rec = json.loads(line)
            text = rec["error"] if rec.get("error") else (rec["value"] or "")
            click.echo(
                f"{rec['topic']} {rec['partition']} {rec['offset']} {rec['length']} {text[:max_length]}"
            )
    except KeyboardInterrupt:
        return


@click.command("kafka:consumer-groups")
@click.argument("cluster", required=False)
@app_option()
@json_option()
def groups_list(cluster: str | None, app: str | None, as_json: bool) -> None:
    """List consumer groups (with their lag)."""
    target = resolve_app(app)
    client = Client()
    name = _cluster(client, target, cluster)
    data = client.get(f"{_base(target, name)}/consumer_groups")
    if as_json:
        print_json(data)
        return
    header(f"Kafka Consumer Groups on {data['attachment']}_URL")
    echo()
    if not data["consumer_groups"]:
        echo("No consumer groups found on this Kafka cluster.")
        echo("Use paas kafka:consumer-groups:create to create a consumer group.")
        return
    table(
        [[g["name"], g["state"], g["members"], g["lag"]] for g in data["consumer_groups"]],
        ["Name", "State", "Members", "Lag"],
    )


@click.command("kafka:consumer-groups:create")
@click.argument("group")
@click.argument("cluster", required=False)
@app_option()
def groups_create(group: str, cluster: str | None, app: str | None) -> None:
    """Create a new consumer group."""
    target = resolve_app(app)
    client = Client()
    name = _cluster(client, target, cluster)
    with action(f"Creating consumer group {group}"):
        client.post(f"{_base(target, name)}/consumer_groups", json={"consumer_group": {"name": group}})
    echo(f"Use `paas kafka:consumer-groups {name}` to list your consumer groups.")


@click.command("kafka:consumer-groups:destroy")
@click.argument("group")
@click.argument("cluster", required=False)
@app_option()
@click.option("--confirm", default=None, help="pass the app name to skip the confirmation")
def groups_destroy(group: str, cluster: str | None, app: str | None, confirm: str | None) -> None:
    """Destroy a consumer group."""
    target = resolve_app(app)
    if confirm != target:
        raise CliError(
            f"Confirmation did not match {target}. This command will destroy the consumer group "
            f"{group} and its committed offsets; pass --confirm {target} to proceed."
        )
    client = Client()
    name = _cluster(client, target, cluster)
    with action(f"Deleting consumer group {group}"):
        client.delete(f"{_base(target, name)}/consumer_groups/{group}")


def register(cli: click.Group) -> None:
    for name in ("kafka", "kafka:info"):
        cli.add_command(_info_command(name))
    for command in (
        kafka_wait,
        kafka_credentials,
        kafka_topics,
        topics_create,
        topics_info,
        topics_destroy,
        topics_retention,
        topics_compaction,
        topics_write,
        topics_tail,
        groups_list,
        groups_create,
        groups_destroy,
    ):
        cli.add_command(command)
