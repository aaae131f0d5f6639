"""Skip on a laptop without the real part; fail in CI (CI=true), where skipping hides a gap."""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    if condition:
        return
    if in_ci():
        pytest.fail(f"required in CI but unavailable: {reason}")
    pytest.skip(reason)
