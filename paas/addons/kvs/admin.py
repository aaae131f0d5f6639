"""The platform's own connection to a server (ACL user `paas`), opened per operation.

It counts against the plan's `maxclients` like any client: when the app holds every
connection the server refuses it too, and the operation says so (503) instead of hanging.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import MaxClientsReachedError, RedisError

from common.config import LOOPBACK
from paas.addons.kvs.instance import ADMIN_USER, Instance, password_hash
from paas.addons.kvs.plans import PLANS
from paas.addons.kvs.server import RedisUnavailable


@dataclass(frozen=True)
class Live:
    """What the server itself reports."""

    version: str
    used_memory: int
    connected_clients: int
    keys: int
    evicted_keys: int
    policy: str
    timeout: int
    maxmemory: int
    maxclients: int
    keyspace_events: str


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Admin:
    def __init__(self, client: aioredis.Redis):
        self.client = client

    async def command(self, *args: str | int) -> Any:
        return await self.client.execute_command(*args)  # type: ignore[no-untyped-call]

    async def live(self) -> Live:
        info = await self.command("INFO", "everything")
        raw = await self.command("CONFIG", "GET", "*")
        config = {_text(k): _text(v) for k, v in dict(raw).items()}
        keys = sum(
            int(v.get("keys", 0)) for k, v in info.items() if k.startswith("db") and isinstance(v, dict)
        )
        return Live(
            version=str(info.get("redis_version", "?")),
            used_memory=int(info.get("used_memory", 0)),
            connected_clients=int(info.get("connected_clients", 0)),
            keys=keys,
            evicted_keys=int(info.get("evicted_keys", 0)),
            policy=config.get("maxmemory-policy", "?"),
            timeout=int(config.get("timeout", 0)),
            maxmemory=int(config.get("maxmemory", 0)),
            maxclients=int(config.get("maxclients", 0)),
            keyspace_events=config.get("notify-keyspace-events", ""),
        )

    async def apply(self, instance: Instance) -> bool:
        """Bring the running server to `instance` (limits, policy, timeout, the app's password).
        Returns True when the app's password changed: its connections were closed."""
        plan = PLANS[instance.plan]
        wanted_config = {
            "maxmemory": str(plan.memory_bytes),
            "maxclients": str(plan.connections),
            "maxmemory-policy": instance.policy,
            "timeout": str(instance.timeout),
        }
        raw = await self.command("CONFIG", "GET", *wanted_config)
        current = {_text(k): _text(v) for k, v in dict(raw).items()}
        changes = [x for k, v in wanted_config.items() if current.get(k) != v for x in (k, v)]
        if changes:
            await self.command("CONFIG", "SET", *changes)
        user = await self.command("ACL", "GETUSER", "default")
        fields = {_text(k): v for k, v in dict(user or {}).items()}
        wanted = password_hash(instance.password)
        if [_text(p) for p in fields.get("passwords", [])] == [wanted]:
            return False
        await self.command("ACL", "SETUSER", "default", "resetpass", f"#{wanted}")
        # connections made with the old password end now: it no longer opens anything
        await self.command("CLIENT", "KILL", "USER", "default")
        return True


@asynccontextmanager
async def admin(instance: Instance, connect_timeout: float = 5.0) -> AsyncIterator[Admin]:
    client = aioredis.Redis(
        host=LOOPBACK,
        port=instance.port,
        username=ADMIN_USER,
        password=instance.admin_password,
        socket_connect_timeout=connect_timeout,
        socket_timeout=30,
        retry=Retry(NoBackoff(), 0),
        single_connection_client=True,
    )
    try:
        try:
            await client.ping()
        except MaxClientsReachedError:
            plan = PLANS[instance.plan]
            raise RedisUnavailable(
                f"{instance.name} has all {plan.connections} connections of its plan in use, so paas cannot "
                "reach it either. Close some (or restart the app's dynos) and try again."
            ) from None
        yield Admin(client)
    except RedisError as exc:
        raise RedisUnavailable(f"{instance.name} did not answer: {exc}") from exc
    finally:
        await client.aclose()
