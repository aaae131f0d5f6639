"""Dyno sizes and their memory quotas (Heroku's table). R15 hits at 2x the quota."""

from __future__ import annotations

from dataclasses import dataclass

MB = 1024 * 1024


@dataclass(frozen=True)
class DynoSize:
    name: str
    memory_mb: int

    @property
    def quota_bytes(self) -> int:
        return self.memory_mb * MB

    @property
    def hard_limit_bytes(self) -> int:
        return 2 * self.quota_bytes


SIZES: dict[str, DynoSize] = {
    s.name: s
    for s in (
        DynoSize("eco", 512),
        DynoSize("basic", 512),
        DynoSize("standard-1x", 512),
        DynoSize("standard-2x", 1024),
        DynoSize("performance-m", 2560),
        DynoSize("performance-l", 14336),
    )
}
DEFAULT_SIZE = "standard-1x"


def normalize_size(name: str) -> str:
    return name.lower()


def display_size(name: str) -> str:
    """How Heroku writes a size in log lines and CLI output: `Standard-1X`, `Performance-M`, `Eco`."""
    first, *rest = normalize_size(name).split("-")
    return "-".join([first.capitalize(), *(part.upper() for part in rest)])


def get_size(name: str) -> DynoSize:
    try:
        return SIZES[normalize_size(name)]
    except KeyError:
        raise ValueError(f"Unknown dyno size {name!r}; choose one of: {', '.join(SIZES)}") from None
