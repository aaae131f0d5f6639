"""The add-on provider interface. Each service (heroku-postgresql, heroku-kafka) implements it.

The control plane's add-on service (`paas/addons/service.py`) looks providers up by service
name or alias, calls `provision`, stores the `Addon` row with `provider_data`, and sets the
returned config vars on the app (one new release), exactly as Heroku attaches an add-on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class Provisioned:
    config: dict[str, str]  # config vars to set, e.g. {"DATABASE_URL": "postgres://..."}
    provider_data: dict[str, Any] = field(default_factory=dict)  # kept on the Addon row


class AddonProvider(Protocol):
    service: str  # "heroku-postgresql"
    aliases: tuple[str, ...]  # ("postgres", "postgresql")
    plans: tuple[str, ...]
    default_plan: str
    attachment: str  # config var prefix: "DATABASE", "KAFKA"
    name_prefix: str  # add-on names look like "<name_prefix>-<adjective>-<number>"

    async def provision(self, app: str, addon_name: str, plan: str) -> Provisioned: ...

    async def deprovision(self, addon_name: str, provider_data: dict[str, Any]) -> None: ...

    async def stop(self) -> None: ...
