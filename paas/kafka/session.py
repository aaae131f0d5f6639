"""What every handler shares: the session, the reply, counters, and `BrokerCore`'s helpers.

`BrokerCore` declares the broker's state and the checks every handler uses (ACLs, quotas,
response building); the handler mixins derive from it and `broker.Broker` puts them together.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from kio.schema.errors import ErrorCode

from . import acls as A
from . import protocol as P
from .auth import ANONYMOUS, Principal
from .groups import GroupCoordinator
from .metrics import TopicMetrics
from .quotas import QuotaManager
from .registry import OffsetStore, Registry
from .storage import LogManager

E = ErrorCode
NODE_ID = 0
CLUSTER_ID = "paas-kafka-local"
HOST = "127.0.0.1"
UNKNOWN_OPS = -2147483648  # "authorized operations not requested"


@dataclass
class Session:
    listener: str  # "plain" | "tls"
    port: int  # advertised back in Metadata / FindCoordinator
    peer: str
    principal: Principal = ANONYMOUS
    sasl_stage: str | None = None  # None | "authenticate" | "v0_token"
    sasl_mechanism: str | None = None
    sasl_state: Any = None  # a ScramServer between the two SCRAM round trips
    client_id: str = ""
    requests: int = 0


@dataclass
class Reply:
    response: Any | None
    throttle_ms: int = 0
    close: bool = False


@dataclass
class BrokerStats:
    requests: dict[str, int] = field(default_factory=dict)
    produce_errors: int = 0
    bad_frames: int = 0
    connections_refused: int = 0
    unsupported_versions: int = 0
    authentication_failures: int = 0


Handler = Callable[[Session, P.Request], Coroutine[Any, Any, Reply]]


class BrokerCore:
    registry: Registry
    logs: LogManager
    offsets: OffsetStore
    coordinator: GroupCoordinator
    authorizer: A.Authorizer
    quota_manager: QuotaManager
    metrics: dict[str, TopicMetrics]
    stats: BrokerStats
    admin_password: Callable[[], str | None]

    def respond(
        self, req: P.Request, values: dict[str, Any], throttle_ms: int = 0, close: bool = False
    ) -> Reply:
        values.setdefault("throttle_time", throttle_ms)
        return Reply(P.response(req.api_key, req.api_version, values), throttle_ms, close)

    def allowed(self, s: Session, operation: int, resource_type: int, name: str) -> bool:
        return self.authorizer.authorize(s.principal.name, operation, resource_type, name)

    def cluster_allowed(self, s: Session, operation: int) -> bool:
        return self.allowed(s, operation, A.CLUSTER, A.CLUSTER_NAME)

    def topic_error(self, s: Session, operation: int, name: str, partition: int | None = None) -> ErrorCode:
        """Kafka's order: an unauthorized topic is TOPIC_AUTHORIZATION_FAILED whether it exists or not."""
        if not self.allowed(s, operation, A.TOPIC, name):
            return E.topic_authorization_failed
        topic = self.registry.topics.get(name)
        if topic is None or (partition is not None and not 0 <= partition < topic.partitions):
            return E.unknown_topic_or_partition
        return E.none

    def topic_metrics(self, name: str) -> TopicMetrics:
        m = self.metrics.get(name)
        if m is None:
            m = self.metrics[name] = TopicMetrics()
        return m

    def charge(self, s: Session, key: str, amount: float) -> int:
        user = s.principal.user
        if user is None or key not in self.quota_manager.keys:
            return 0
        return self.quota_manager.charge(key, user, s.client_id, amount)
