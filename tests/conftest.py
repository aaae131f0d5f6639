from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import DaemonThread, test_settings


@pytest.fixture
def paas_home(tmp_path: Path) -> Path:
    home = tmp_path / "paas-home"
    home.mkdir()
    return home


@pytest.fixture
def daemon(paas_home: Path) -> Iterator[DaemonThread]:
    """A whole daemon (process runtime, short timers) on free ports."""
    d = DaemonThread(test_settings(paas_home)).start()
    try:
        yield d
    finally:
        d.stop()
