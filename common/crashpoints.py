"""Named crash points: a test arms one and the daemon SIGKILLs itself when it gets there.

They prove that a crash at any step of a multi-step change leaves state the next start resolves.
Honoured only with `PAAS_ALLOW_CRASH_POINTS=1` (a test setting, never on by default) and
`PAAS_CRASH_POINT=<name>`; the daemon refuses to start when the armed name is not one of POINTS.
"""

from __future__ import annotations

import os
import signal
import sys

POINTS = frozenset(
    {
        "release.after_pending",  # a pending release is committed; its release command has not run
        "release.before_finish",  # the release command has exited; the release is still pending
        "addon.after_row",  # the add-on's row says provisioning; the provider has done nothing yet
        "addon.after_provision",  # the provider has provisioned; the row and the config know nothing
        "addon.after_detach",  # its config vars are gone (a release); the provider still has it
        "addon.after_deprovision",  # the provider has deprovisioned; the row is still there
        "app.after_mark_destroying",  # the app is marked destroying; nothing is torn down yet
        "app.after_addons",  # the app's add-ons are gone; its rows are still there
        "pgbackup.mid_capture",  # pg_dump has written part of a backup; its row says running
    }
)


def armed() -> str | None:
    """The crash point this process is armed with, if the test setting allows one."""
    if os.environ.get("PAAS_ALLOW_CRASH_POINTS") != "1":
        return None
    return os.environ.get("PAAS_CRASH_POINT") or None


def crash_point(name: str) -> None:
    """SIGKILL this process here when armed with `name` (nothing is flushed, nothing cleaned up)."""
    assert name in POINTS, name
    if armed() == name:
        print(f"paas daemon: crash point {name} reached: SIGKILL", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
