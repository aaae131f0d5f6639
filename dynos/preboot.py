"""Preboot (`paas features:enable preboot`): new web dynos boot beside the old ones; routing
moves to them only when every one of them is up; then the old ones get SIGTERM.

`Preboot` is a restart strategy the dyno manager owns (one per manager). `DynoManager.apply`
calls `adjust()` under the app's lock, after computing the wanted specs. For each web dyno that
is up and whose spec changed (a new release or config), `adjust` starts a *staged* supervisor
with the new spec and tells the manager to keep the old spec for now, so the old dyno keeps
serving. Staged dynos are not in the manager's slots, so `DynoManager.dynos()` — and so the
router table — does not list them yet. A watcher task (one per app, woken by `dyno.state`
events, never polling) waits until all staged dynos are up, then, under the app's lock, swaps
them into the slots and retires the old ones: the old dyno's `stopping` event removes it from
the router table before its SIGTERM, and the same refresh adds its replacement (same name, new
port).

If the new dynos do not all come up within the boot timeout plus a margin (Heroku switches
about 2 minutes after the boot limit), routing moves anyway, as on Heroku: preboot makes
deploys seamless, it does not protect against a broken release. Dynos that were not up,
new dynos (scale-up) and non-web dynos take the manager's normal path.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from dynos.fleet import AppDynos, FleetHost
from dynos.runtimes.base import DynoSpec
from dynos.supervisor import Supervisor
from dynos.types import AppDesired

FEATURE = "preboot"
SWITCH_MARGIN_MAX = 120.0  # after the boot timeout, wait at most this much more before switching anyway


@dataclass
class _Staged:
    dynos: dict[str, Supervisor] = field(default_factory=dict)
    watching: bool = False


class Preboot:
    def __init__(self, host: FleetHost):
        self.host = host
        self._apps: dict[str, _Staged] = {}

    def staged(self, app: str) -> list[Supervisor]:
        """The new web dynos still booting beside the old ones (for shutdown, views and tests)."""
        entry = self._apps.get(app)
        return list(entry.dynos.values()) if entry else []

    def forget(self, app: str) -> list[Supervisor]:
        """The app is going away: its staged dynos, for the manager to retire."""
        entry = self._apps.pop(app, None)
        return list(entry.dynos.values()) if entry else []

    def adjust(
        self, entry: AppDynos, desired: AppDesired, wanted: dict[str, DynoSpec]
    ) -> dict[str, DynoSpec]:
        """Called by `DynoManager.apply` under the app lock; returns the specs the manager
        should apply now (old specs for the web dynos being prebooted)."""
        enabled = FEATURE in desired.features
        current = self._apps.get(desired.app)
        if not enabled and (current is None or not current.dynos):
            return wanted
        state = self._apps.setdefault(desired.app, _Staged())
        result = dict(wanted)
        for name, spec in wanted.items():
            if spec.type == "web" and self._stage(entry, state, name, spec, enabled):
                result[name] = entry.slots[name].spec  # the old dyno keeps serving until the switch
        for name in [n for n in state.dynos if n not in wanted]:  # scaled down meanwhile
            self._drop(state, name)
        if state.dynos and not state.watching:
            state.watching = True
            self.host.track(self._switch_when_up(desired.app, entry, state))
        return result

    def _stage(self, entry: AppDynos, state: _Staged, name: str, spec: DynoSpec, enabled: bool) -> bool:
        """Boot `spec` beside the old `name` if preboot applies to it; True when it does."""
        old = entry.slots.get(name)
        new = state.dynos.get(name)
        if not enabled or old is None or old.spec == spec or old.state != "up":
            if new is not None:  # nothing to preboot any more (rolled back, feature off, old one down)
                self._drop(state, name)
            return False
        if new is not None and new.spec != spec:  # a newer release while prebooting: boot that instead
            self._drop(state, name)
            new = None
        if new is None:
            new = state.dynos[name] = Supervisor(self.host.ctx, spec)
            new.start()
        return True

    def _drop(self, state: _Staged, name: str) -> None:
        """Stop a staged dyno that will never take traffic (it is in no slot, so nothing else will)."""
        sup = state.dynos.pop(name)
        self.host.track(sup.retire())

    def _drop_all(self, state: _Staged) -> None:
        for name in list(state.dynos):
            self._drop(state, name)

    async def _switch_when_up(self, app: str, entry: AppDynos, state: _Staged) -> None:
        try:
            if await self._wait_until_up(app, entry, state):
                await self._switch(app, entry, state)
        finally:
            state.watching = False

    async def _wait_until_up(self, app: str, entry: AppDynos, state: _Staged) -> bool:
        """Until every staged dyno is up or the deadline passed; False: nothing to switch."""
        loop = asyncio.get_running_loop()
        boot = self.host.ctx.settings.boot_timeout
        deadline = loop.time() + boot + min(SWITCH_MARGIN_MAX, max(boot, 1.0))
        sub = self.host.ctx.bus.subscribe(["dyno.state"], app=app, maxsize=1000)
        try:
            while self.host.holds(app, entry) and state.dynos:
                remaining = deadline - loop.time()
                if remaining <= 0 or all(s.state == "up" for s in state.dynos.values()):
                    return True
                await sub.get(timeout=remaining)
        finally:
            sub.close()
        self._drop_all(state)  # the app or the daemon is going away
        return False

    async def _switch(self, app: str, entry: AppDynos, state: _Staged) -> None:
        async with entry.lock:
            if not self.host.holds(app, entry):
                self._drop_all(state)
                return
            swapped, state.dynos = state.dynos, {}
            for name, new in swapped.items():
                old = entry.slots.get(name)
                entry.slots[name] = new
                if old is not None and old is not new:
                    self.host.retire(entry, old)
