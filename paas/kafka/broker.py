"""The broker: node 0 of a one-node cluster, leader of every partition, coordinator of every group.

Handlers (one method per Kafka API, version-agnostic thanks to `protocol.build`) live in mixins
by theme: `handlers_data` (produce, fetch, offsets, metadata, delete records), `handlers_groups`
(the group protocol and group admin), `handlers_admin` (topics, configs, cluster, ACLs, SCRAM,
quotas) and `handlers_sasl`. Each sees a `Session` (who is connected, through which listener)
and returns a `Reply`: the kio response (None for acks=0 produce), a throttle time the server
enforces by not reading from the connection, and whether to close the connection afterwards.
Authorization is ACLs only (`acls.Authorizer`), quotas are client quotas (`quotas.QuotaManager`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from kio.schema.errors import ErrorCode

from . import acls as A
from . import protocol as P
from .auth import ADMIN_USER
from .groups import GroupCoordinator
from .handlers_admin import AdminHandlers
from .handlers_data import DataHandlers
from .handlers_groups import GroupHandlers
from .handlers_sasl import SaslHandlers
from .metrics import TopicMetrics
from .quotas import REQUEST_PERCENTAGE, QuotaManager
from .refusal import unsupported_response
from .registry import OffsetStore, Registry
from .session import BrokerStats, Handler, Reply, Session
from .storage import LogManager

log = logging.getLogger("paas.kafka")

E = ErrorCode

__all__ = ["Broker", "BrokerStats", "Reply", "Session", "now_ms"]


class Broker(DataHandlers, GroupHandlers, AdminHandlers, SaslHandlers):
    def __init__(
        self,
        registry: Registry,
        logs: LogManager,
        offsets: OffsetStore,
        coordinator: GroupCoordinator,
        admin_password: Callable[[], str | None],
    ):
        self.registry = registry
        self.logs = logs
        self.offsets = offsets
        self.coordinator = coordinator
        self.admin_password = admin_password
        self.metrics: dict[str, TopicMetrics] = {}
        self.authorizer = A.Authorizer(super_users=[f"User:{ADMIN_USER}"])
        self.quota_manager = QuotaManager()
        self.stats = BrokerStats()
        self.handlers: dict[int, Handler] = {
            **self.data_handlers(),
            **self.group_handlers(),
            **self.admin_handlers(),
            **self.sasl_handlers(),
            P.API_VERSIONS: self.api_versions,
        }
        missing = set(P.ADVERTISED) - set(self.handlers)
        assert not missing, f"advertised without a handler: {sorted(missing)}"

    async def handle(self, session: Session, req: P.Request) -> Reply:
        session.requests += 1
        self.stats.requests[req.name] = self.stats.requests.get(req.name, 0) + 1
        if not req.supported:
            return self.refuse_version(req)
        if req.client_id is not None:
            session.client_id = req.client_id
        if REQUEST_PERCENTAGE not in self.quota_manager.keys or session.principal.user is None:
            return await self.handlers[req.api_key](session, req)
        started = time.perf_counter()
        reply = await self.handlers[req.api_key](session, req)
        # request_percentage: the handler's time, in percent-seconds of one core
        spent = (time.perf_counter() - started) * 100
        owed = self.charge(session, REQUEST_PERCENTAGE, spent)
        if owed > reply.throttle_ms:
            reply.throttle_ms = owed
            _set_throttle(reply.response, owed)
        return reply

    def refuse_version(self, req: P.Request) -> Reply:
        """UNSUPPORTED_VERSION for a version outside ApiVersions; the connection stays open."""
        self.stats.unsupported_versions += 1
        log.info("kafka: %s v%d is not supported; answered UNSUPPORTED_VERSION", req.name, req.api_version)
        if req.api_key == P.API_VERSIONS:  # KIP-511: a v0 answer listing what we do speak
            values = {"error_code": E.unsupported_version, "api_keys": self._api_keys()}
            return Reply(P.response(P.API_VERSIONS, 0, values))
        return Reply(unsupported_response(req))

    def _api_keys(self) -> list[dict[str, int]]:
        return [
            {"api_key": k, "min_version": lo, "max_version": hi}
            for k, (lo, hi) in sorted(P.ADVERTISED.items())
        ]

    async def api_versions(self, s: Session, req: P.Request) -> Reply:
        return self.respond(req, {"error_code": E.none, "api_keys": self._api_keys()})


def _set_throttle(response: Any, ms: int) -> None:
    """Raise a kio response's throttle field (frozen dataclass: set through object.__setattr__)."""
    if response is not None and hasattr(response, "throttle_time"):
        import datetime

        object.__setattr__(response, "throttle_time", datetime.timedelta(milliseconds=ms))


def now_ms() -> int:
    return int(time.time() * 1000)
