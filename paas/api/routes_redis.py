"""Key-Value Store endpoints behind redis:info, redis:cli, redis:credentials, redis:maxmemory and
redis:timeout, shaped like Heroku's Data API (`/redis/v0/databases/...`) so the CLI prints them
the same way.

Which add-on: `?database=` filters the app's heroku-redis add-ons as the heroku CLI does (part
of a config var name or of the add-on's name, any case); a command that needs one add-on
refuses when none or several match.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from common.errors import PaasError, invalid
from paas.addons.kvs.plans import (
    DEFAULT_POLICY,
    DEFAULT_TIMEOUT,
    PLANS,
    POLICIES,
    check_policy,
    check_timeout,
)
from paas.addons.kvs.provider import SERVICE, Details
from paas.api.deps import Services, Svc

router = APIRouter()


class ConfigChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    maxmemory_policy: str | None = None
    timeout: int | None = None


def _matches(addon: dict[str, Any], database: str | None) -> bool:
    if addon["addon_service"]["name"] != SERVICE:
        return False
    if not database:
        return True
    wanted = database.upper()
    return wanted in addon["name"].upper() or any(wanted in v.upper() for v in addon["config_vars"])


def _addons(svc: Services, app: str, database: str | None) -> list[dict[str, Any]]:
    return [a for a in svc.addons.list(app) if _matches(a, database)]


def _one(svc: Services, app: str, database: str | None) -> dict[str, Any]:
    found = _addons(svc, app, database)
    exact = [a for a in found if a["name"] == database]
    found = exact or found
    if not found:
        raise PaasError(404, "not_found", "No Redis instances found.")
    if len(found) > 1:
        names = ", ".join(a["name"] for a in found)
        raise invalid(f"Please specify a single instance. Found: {names}")
    return found[0]


def _size(n: int) -> str:
    """1.5 MB, 25 MB, 512 B"""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.1f}".removesuffix(".0") + f" {unit}"
        value /= 1024
    return f"{n} B"


def _rows(d: Details) -> list[tuple[str, str]]:
    i, live = d.instance, d.live
    plan = PLANS[i.plan]
    rows = [
        ("Plan", plan.title),
        ("Status", d.status),
        ("Created", i.created_at),
        ("Version", live.version if live else "unknown"),
        ("Timeout", str(live.timeout if live else i.timeout)),
        ("Maxmemory", live.policy if live else i.policy),
        ("Persistence", "AOF"),
        ("Keyspace Notifications", (live.keyspace_events or "Disabled") if live else "unknown"),
        ("Connections", f"{d.connections}/{plan.connections}"),
    ]
    if live is not None:
        share = live.used_memory / plan.memory_bytes
        rows.append(("Memory Used", f"{_size(live.used_memory)} of {_size(plan.memory_bytes)} ({share:.0%})"))
        rows.append(("Keys", f"{live.keys} ({live.evicted_keys} evicted)"))
    if d.note:
        rows.append(("Note", d.note))
    return rows


def _info_json(addon: dict[str, Any], d: Details) -> dict[str, Any]:
    i, live = d.instance, d.live
    plan = PLANS[i.plan]
    return {
        "name": addon["name"],
        "addon_id": addon["id"],
        "plan": i.plan,
        "created_at": addon["created_at"],
        "resource_url": i.tls_url,
        "version": live.version if live else None,
        "prefer_native_tls": True,
        "info": [{"name": name, "values": [value]} for name, value in _rows(d)],
        "app": addon["app"],
        "config_vars": addon["config_vars"],
        "status": d.status,
        "limits": {
            "connections": d.connections,
            "connection_limit": plan.connections,
            "memory_used": live.used_memory if live else None,
            "memory_limit": plan.memory_bytes,
            "maxmemory_policy": live.policy if live else i.policy,
            "timeout": live.timeout if live else i.timeout,
            "keys": live.keys if live else None,
            "evicted_keys": live.evicted_keys if live else None,
        },
    }


@router.get("/apps/{app}/redis")
async def redis_info(svc: Svc, app: str, database: str | None = None) -> list[dict[str, Any]]:
    return [_info_json(a, await svc.redis.details(a["name"])) for a in _addons(svc, app, database)]


@router.get("/apps/{app}/redis/credentials")
async def redis_credentials(svc: Svc, app: str, database: str | None = None) -> dict[str, Any]:
    addon = _one(svc, app, database)
    i = await svc.redis.credentials(addon["name"])
    return {
        "addon": addon["name"],
        "config_vars": addon["config_vars"],
        "url": i.tls_url,
        "tls_url": i.tls_url,
        "plain_url": i.plain_url,
        "host": "127.0.0.1",
        "port": i.tls_port,
        "plain_port": i.port,
        "password": i.password,
        "ca_path": str(svc.ca.cert_path),
    }


@router.post("/apps/{app}/redis/credentials-rotation")
async def redis_rotate(svc: Svc, app: str, database: str | None = None) -> dict[str, Any]:
    addon = _one(svc, app, database)
    await svc.redis.rotate_credentials(addon["name"])
    return {"addon": addon["name"], "message": f"Credentials of {addon['name']} reset."}


@router.patch("/apps/{app}/redis/config")
async def redis_config(svc: Svc, app: str, body: ConfigChange, database: str | None = None) -> dict[str, Any]:
    if body.maxmemory_policy is None and body.timeout is None:
        raise invalid("Set maxmemory_policy or timeout.")
    # both checked before either is applied: a bad request changes nothing
    if body.maxmemory_policy is not None:
        check_policy(body.maxmemory_policy)
    if body.timeout is not None:
        check_timeout(body.timeout)
    addon = _one(svc, app, database)
    name = addon["name"]
    instance = None
    if body.maxmemory_policy is not None:
        instance = await svc.redis.set_policy(name, body.maxmemory_policy)
    if body.timeout is not None:
        instance = await svc.redis.set_timeout(name, body.timeout)
    assert instance is not None
    return {
        "addon": name,
        "config_vars": addon["config_vars"],
        "maxmemory_policy": {
            "desc": "Key eviction policy when the instance reaches its memory limit",
            "value": instance.policy,
            "default": DEFAULT_POLICY,
            "values": POLICIES,
        },
        "timeout": {
            "desc": "Seconds an idle connection stays open (0: forever)",
            "value": instance.timeout,
            "default": DEFAULT_TIMEOUT,
        },
    }
