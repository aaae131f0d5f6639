"""Destroying an app: its dynos stop, its add-ons are deprovisioned, then its rows go.

One owner for the whole sequence, because it spans parts that never call each other: the dyno
fleet, the add-on providers and the state database.
"""

from __future__ import annotations

from typing import Any

from dynos.manager import DynoManager
from paas.addons.service import AddonService
from paas.control import ControlPlane


class AppTeardown:
    def __init__(self, control: ControlPlane, dynos: DynoManager, addons: AddonService) -> None:
        self.control = control
        self.dynos = dynos
        self.addons = addons

    async def destroy(self, app: str) -> dict[str, Any]:
        name = self.control.get_app(app)["name"]
        await self.dynos.remove_app(name)
        await self.addons.destroy_all(name)
        return self.control.destroy_app(name)
