"""One add-on's database as a typed value, and the plans that size it.

The provider stores these fields as the Addon row's `provider_data` (JSON); everything that
connects to an add-on's database reads them back through `AddonDatabase.from_provider_data`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from psycopg.conninfo import make_conninfo


@dataclass(frozen=True)
class Plan:
    name: str
    connections: int
    storage_gb: int


PLANS: dict[str, Plan] = {
    p.name: p
    for p in (
        Plan("essential-0", 20, 1),
        Plan("essential-1", 20, 10),
        Plan("essential-2", 40, 32),
        Plan("standard-0", 120, 64),
        Plan("standard-2", 400, 256),
        Plan("premium-0", 120, 64),
    )
}
DEFAULT_PLAN = "essential-0"


def plan_of(name: object) -> Plan:
    """The plan by name; an unknown name (a row from an older version) reads as the default."""
    return PLANS.get(str(name), PLANS[DEFAULT_PLAN])


def database_url(host: str, port: int, user: str, password: str, dbname: str) -> str:
    """Heroku's DATABASE_URL shape: postgres://user:password@host:port/dbname"""
    return (
        f"postgres://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{quote(dbname, safe='')}"
    )


@dataclass(frozen=True)
class AddonDatabase:
    """An add-on's database and its owner role (the app's own credentials)."""

    host: str
    port: int
    database: str
    user: str
    password: str
    plan: Plan

    @classmethod
    def from_provider_data(cls, data: Mapping[str, Any]) -> AddonDatabase:
        return cls(
            host=str(data["host"]),
            port=int(data["port"]),
            database=str(data["database"]),
            user=str(data["user"]),
            password=str(data["password"]),
            plan=plan_of(data.get("plan")),
        )

    @property
    def url(self) -> str:
        return database_url(self.host, self.port, self.user, self.password, self.database)

    def conninfo(self, **extra: Any) -> str:
        return make_conninfo(
            host=self.host,
            port=str(self.port),
            user=self.user,
            password=self.password,
            dbname=self.database,
            connect_timeout="10",
            **extra,
        )


def url_of(provider_data: Mapping[str, Any]) -> str:
    return AddonDatabase.from_provider_data(provider_data).url


def conninfo_of(provider_data: Mapping[str, Any], **extra: Any) -> str:
    return AddonDatabase.from_provider_data(provider_data).conninfo(**extra)
