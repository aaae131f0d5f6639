"""The embedded broker: paas's own one-node Kafka cluster, with its listeners and its storage.

    broker = EmbeddedBroker(settings, ca)
    await broker.start()      # 127.0.0.1:settings.kafka_port (SASL_PLAINTEXT, and PLAINTEXT for
                              # unauthenticated probes) and settings.kafka_tls_port (mutual TLS)
    broker.port, broker.tls_port
    await broker.stop()       # flushes logs, writes the clean-shutdown marker

It knows nothing of tenants: topics, ACLs, SCRAM users and quotas are plain Kafka state that
arrives through the Admin API (the Kafka add-on makes tenants out of them). It also serves as
the broker's `TopicController`: topic creation, deletion and config changes through the wire.

State lives under `settings.kafka_dir`: `registry.json` (topics, ACLs, SCRAM credentials,
quotas), `offsets.journal` (committed offsets), `data/<topic>-<partition>/` (log segments),
`.clean_shutdown` (present only between a clean stop and the next start).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import re
import ssl
import time

from common.ca import LocalCA, peer_identity
from common.config import LOOPBACK, Settings
from common.errors import StartupError

from .auth import Principal
from .broker import Broker
from .groups import GroupCoordinator
from .handlers_admin import CLEANUP_POLICIES
from .registry import OffsetStore, Registry, Topic
from .server import Listener
from .storage import LogManager

log = logging.getLogger("paas.kafka")

TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")
MAX_PARTITIONS_PER_TOPIC = 256
DEFAULT_RETENTION_MS = 7 * 86_400_000  # log.retention.hours=168


class EmbeddedBroker:
    def __init__(self, settings: Settings, ca: LocalCA):
        self.settings = settings
        self.dir = settings.kafka_dir
        self.ca = ca
        self.registry = Registry(self.dir / "registry.json")
        self.offsets = OffsetStore(self.dir / "offsets.journal")
        self.logs = LogManager(self.dir / "data", settings.kafka_segment_bytes)
        self.coordinator = GroupCoordinator(settings.kafka_group_initial_rebalance_delay)
        self.broker = Broker(self.registry, self.logs, self.offsets, self.coordinator, self.admin_password)
        self.broker.controller = self
        self.plain = Listener(self.broker, "plain", settings.kafka_max_connections)
        self.tls: Listener | None = None
        self.port = 0
        self.tls_port = 0
        self.started = False
        self._retention_task: asyncio.Task[None] | None = None

    # ----------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        marker = self.dir / ".clean_shutdown"
        clean = marker.exists()
        self.registry.load()
        self.broker.authorizer.load(self.registry.acls)
        self.broker.quota_manager.load(self.registry.quotas)
        cut = self.offsets.load()
        if cut:
            log.warning("kafka: cut %d bytes of a torn offsets journal", cut)
        self.logs.open_all(self.registry.topics.values(), clean)
        with contextlib.suppress(FileNotFoundError):
            marker.unlink()
        self.ca.ensure()
        self.port = await self._listen(
            self.plain, self.settings.kafka_port, "Kafka broker", "PAAS_KAFKA_PORT"
        )
        self.tls = Listener(
            self.broker,
            "tls",
            self.settings.kafka_max_connections,
            self.ca.server_context("kafka", ["localhost", LOOPBACK], client_auth=True),
            identify,
        )
        self.tls_port = await self._listen(
            self.tls, self.settings.kafka_tls_port, "Kafka TLS listener", "PAAS_KAFKA_TLS_PORT"
        )
        self._retention_task = asyncio.create_task(
            self._retention_loop(self.settings.kafka_retention_check_interval)
        )
        self.started = True
        log.info(
            "kafka: listening on %s:%d (SASL_PLAINTEXT) and %s:%d (SSL)",
            LOOPBACK,
            self.port,
            LOOPBACK,
            self.tls_port,
        )

    async def _listen(self, listener: Listener, port: int, what: str, env: str) -> int:
        try:
            return await listener.start(LOOPBACK, port)
        except OSError as exc:
            if listener is not self.plain:
                await self.plain.stop()
            self.logs.close()
            self.offsets.close()
            if exc.errno == errno.EADDRINUSE:
                raise StartupError(
                    f"port {port} for the {what} is already in use on {LOOPBACK}; stop what uses it or set {env}"
                ) from None
            raise StartupError(f"cannot listen on {LOOPBACK}:{port} for the {what}: {exc.strerror}") from None

    async def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        if self._retention_task is not None:
            self._retention_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retention_task
        await self.plain.stop()
        if self.tls is not None:
            await self.tls.stop()
        self.coordinator.close()
        self.logs.close()
        self.offsets.close()
        self.registry.save()
        (self.dir / ".clean_shutdown").write_text(str(time.time()))

    def admin_password(self) -> str | None:
        try:
            return self.settings.token_path.read_text().strip() or None
        except OSError:
            return None

    @property
    def connections(self) -> int:
        return len(self.plain.connections) + (len(self.tls.connections) if self.tls else 0)

    # ------------------------------------------------------------- retention
    async def _retention_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                self.enforce_retention()
            except Exception:
                log.exception("kafka: retention check failed")

    def enforce_retention(self, now_ms: int | None = None, roll_compacted: bool = False) -> int:
        """Delete expired segments (retention.ms, retention.bytes), then compact compacted topics."""
        topics = list(self.registry.topics.values())
        freed = self.logs.expire(topics, now_ms)
        freed += self.logs.compact(topics, now_ms, roll=roll_compacted)
        return freed

    # --------------------------------------------------------- TopicController
    def create_topic(self, name: str, partitions: int, configs: dict[str, str]) -> Topic:
        if not TOPIC_NAME.fullmatch(name) or name in (".", ".."):
            raise ValueError(
                f"Topic name {name!r} is invalid: use up to 249 letters, digits, '.', '_' and '-'."
            )
        if not 1 <= partitions <= MAX_PARTITIONS_PER_TOPIC:
            raise ValueError(f"Partitions must be between 1 and {MAX_PARTITIONS_PER_TOPIC}.")
        topic = Topic(name, None, partitions, DEFAULT_RETENTION_MS)
        for key, value in configs.items():
            _apply_config(topic, key, value)
        self.logs.create(name, range(partitions))
        self.registry.topics[name] = topic
        self.registry.save()
        return topic

    def delete_topic(self, name: str) -> None:
        self.logs.delete(name)
        self.offsets.delete_topic(name)
        self.registry.topics.pop(name, None)
        self.broker.metrics.pop(name, None)
        self.registry.save()

    def add_partitions(self, name: str, count: int) -> None:
        topic = self.registry.topics[name]
        self.logs.create(name, range(topic.partitions, count))
        topic.partitions = count
        self.registry.save()

    def set_topic_config(self, name: str, key: str, value: str | None) -> None:
        _apply_config(self.registry.topics[name], key, value)
        self.registry.save()

    def save(self) -> None:
        self.registry.save()

    # ---------------------------------------------------------------- status
    def status(self) -> dict[str, object]:
        stats = self.broker.stats
        return {
            "port": self.port,
            "tls_port": self.tls_port,
            "topics": len(self.registry.topics),
            "connections": self.connections,
            "requests": dict(stats.requests),
            "bad_frames": stats.bad_frames,
            "unsupported_versions": stats.unsupported_versions,
            "authentication_failures": stats.authentication_failures,
            "connections_refused": stats.connections_refused,
            "acl_checks": self.broker.authorizer.checks,
            "acl_denials": self.broker.authorizer.denials,
            "recovered_bytes": self.logs.recovered_bytes,
            "retention_deleted_bytes": self.logs.deleted_bytes,
            "group_rebalances": self.coordinator.rebalances,
        }


def _apply_config(topic: Topic, key: str, value: str | None) -> None:
    if key == "retention.ms":
        topic.retention_ms = DEFAULT_RETENTION_MS if value is None else int(value)
    elif key == "retention.bytes":
        topic.retention_bytes = -1 if value is None else int(value)
    elif key == "cleanup.policy":
        topic.compaction = False if value is None else CLEANUP_POLICIES[value]


def identify(ssl_object: ssl.SSLObject | None) -> Principal | None:
    """The TLS principal: `User:<CN>` of the client certificate (the CA already verified it)."""
    identity = peer_identity(ssl_object)
    if identity is None:
        return None
    cn, _serial = identity
    return Principal(cn)
