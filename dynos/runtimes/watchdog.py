"""Orphan watchdog: kills every dyno process group the moment the daemon disappears.

The process runtime starts one of these per daemon (`python -m dynos.runtimes.watchdog`) in
its own session, with a pipe on stdin. The daemon writes `+<pgid>` when a dyno starts and
`-<pgid>` when it is gone. When the pipe closes (daemon exit, crash or SIGKILL: the kernel
closes the write end in every case) the watchdog SIGKILLs each group it still knows and exits.
PR_SET_PDEATHSIG on each dyno leader and the registry reaped at the next start are the other
two layers; this one also catches grandchildren that PDEATHSIG cannot reach.
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> int:
    # Ctrl-C in the daemon's terminal or a hang-up must not take us down before the daemon.
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    groups: set[int] = set()
    for raw in sys.stdin.buffer:
        line = raw.strip()
        if len(line) < 2 or not line[1:].isdigit():
            continue
        pgid = int(line[1:])
        if line[:1] == b"+":
            groups.add(pgid)
        elif line[:1] == b"-":
            groups.discard(pgid)
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
