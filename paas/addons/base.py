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
    # read-only members, so plain class attributes of any tuple length satisfy them
    @property
    def service(self) -> str: ...  # "heroku-postgresql"

    @property
    def aliases(self) -> tuple[str, ...]: ...  # ("postgres", "postgresql")

    @property
    def plans(self) -> tuple[str, ...]: ...

    @property
    def default_plan(self) -> str: ...

    @property
    def attachment(self) -> str: ...  # config var prefix: "DATABASE", "KAFKA"

    @property
    def name_prefix(self) -> str: ...  # add-on names look like "<name_prefix>-<adjective>-<number>"

    async def provision(self, app: str, addon_name: str, plan: str) -> Provisioned: ...

    async def deprovision(self, addon_name: str, provider_data: dict[str, Any]) -> None: ...

    async def stop(self) -> None: ...
