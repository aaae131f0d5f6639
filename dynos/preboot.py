"""Preboot (`paas features:enable preboot`): new web dynos boot beside the old ones; routing
moves to them only when every one of them is up; then the old ones get SIGTERM.

How it plugs into the manager: `DynoManager.apply` calls `adjust()` under the app's lock,
after computing the wanted specs. For each web dyno that is up and whose spec changed (a new
release or config), `adjust` starts a *staged* supervisor with the new spec and tells the
manager to keep the old spec for now, so the old dyno keeps serving. Staged dynos are not in
the manager's slots, so `DynoManager.dynos()` — and so the router table — does not list
them yet. A watcher task (one per app, woken by `dyno.state` events, never polling) waits
until all staged dynos are up, then, under the app's lock, swaps them into the slots and
retires the old ones: the old dyno's `stopping` event removes it from the router table
before its SIGTERM, and the same refresh adds its replacement (same name, new port).

If the new dynos do not all come up within the boot timeout plus a margin (Heroku switches
about 2 minutes after the boot limit), routing moves anyway, as on Heroku: preboot makes
deploys seamless, it does not protect against a broken release. Dynos that were not up,
new dynos (scale-up) and non-web dynos take the manager's normal path.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dynos.runtimes.base import DynoSpec
from dynos.supervisor import Supervisor
from dynos.types import AppDesired

if TYPE_CHECKING:
    from dynos.manager import DynoManager, _App

FEATURE = "preboot"
SWITCH_MARGIN_MAX = 120.0  # after the boot timeout, wait at most this much more before switching anyway


@dataclass
class _Staged:
    dynos: dict[str, Supervisor] = field(default_factory=dict)
    watching: bool = False


_state: weakref.WeakKeyDictionary[DynoManager, dict[str, _Staged]] = weakref.WeakKeyDictionary()


def _staged(manager: DynoManager, app: str) -> _Staged:
    return _state.setdefault(manager, {}).setdefault(app, _Staged())


def staged_dynos(manager: DynoManager, app: str) -> list[Supervisor]:
    """The new web dynos still booting beside the old ones (for views and tests)."""
    entry = _state.get(manager, {}).get(app)
    return list(entry.dynos.values()) if entry else []


def adjust(
    manager: DynoManager, entry: _App, desired: AppDesired, wanted: dict[str, DynoSpec]
) -> dict[str, DynoSpec]:
    """Called by `DynoManager.apply` under the app lock; returns the specs the manager should
    apply now (old specs for the web dynos being prebooted)."""
    staged = _state.get(manager, {}).get(desired.app)
    enabled = FEATURE in desired.features
    if not enabled and (staged is None or not staged.dynos):
        return wanted
    state = _staged(manager, desired.app)
    result = dict(wanted)
    for name, spec in wanted.items():
        if spec.type != "web":
            continue
        old = entry.slots.get(name)
        new = state.dynos.get(name)
        if not enabled or old is None or old.spec == spec or old.state != "up":
            if new is not None:  # nothing to preboot any more (rolled back, feature off, old one down)
                _drop(manager, state, name)
            continue
        if new is not None and new.spec != spec:  # a newer release while prebooting: boot that instead
            _drop(manager, state, name)
            new = None
        if new is None:
            new = state.dynos[name] = Supervisor(manager.ctx, spec)
            new.start()
        result[name] = old.spec  # the old dyno keeps serving until the switch
    for name in [n for n in state.dynos if n not in wanted]:  # scaled down meanwhile
        _drop(manager, state, name)
    if state.dynos and not state.watching:
        state.watching = True
        manager._track(_switch_when_up(manager, desired.app, entry, state))
    return result


def _drop(manager: DynoManager, state: _Staged, name: str) -> None:
    """Stop a staged dyno that will never take traffic (it is in no slot, so nothing else will)."""
    sup = state.dynos.pop(name)
    manager._track(sup.retire())


async def _switch_when_up(manager: DynoManager, app: str, entry: _App, state: _Staged) -> None:
    try:
        await _wait_and_switch(manager, app, entry, state)
    finally:
        state.watching = False


async def _wait_and_switch(manager: DynoManager, app: str, entry: _App, state: _Staged) -> None:
    loop = asyncio.get_running_loop()
    boot = manager.settings.boot_timeout
    deadline = loop.time() + boot + min(SWITCH_MARGIN_MAX, max(boot, 1.0))
    sub = manager.bus.subscribe(["dyno.state"], app=app, maxsize=1000)
    try:
        while True:
            if manager._closing or manager._apps.get(app) is not entry:
                for name in list(state.dynos):  # the app or the daemon is going away
                    _drop(manager, state, name)
                return
            if not state.dynos:
                return
            if all(s.state == "up" for s in state.dynos.values()):
                break
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await sub.get(timeout=remaining)
    finally:
        sub.close()
    async with entry.lock:
        if manager._closing or manager._apps.get(app) is not entry:
            for name in list(state.dynos):
                _drop(manager, state, name)
            return
        swapped, state.dynos = state.dynos, {}
        for name, new in swapped.items():
            old = entry.slots.get(name)
            entry.slots[name] = new
            if old is not None and old is not new:
                manager._retire(entry, old)
