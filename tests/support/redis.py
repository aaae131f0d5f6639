"""The Key-Value Store's real parts: Debian's redis-server (and redis-cli) must be installed."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import psutil

from tests.support.require import require


def require_redis() -> None:
    require(
        shutil.which("redis-server") is not None and shutil.which("redis-cli") is not None,
        "Debian's redis-server is not installed (apt-get install redis-server)",
    )


def servers_of(home: Path) -> Iterator[psutil.Process]:
    """Every live redis-server whose configuration file lies under `home`."""
    for proc in psutil.process_iter(["cmdline"]):
        title = " ".join(proc.info["cmdline"] or [])
        if "redis-server" in title and str(home) in title:
            try:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    yield proc
            except psutil.Error:
                continue
