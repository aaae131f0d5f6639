"""Results of saved clips for about a minute (Heroku re-runs a result older than that).

Bounded by entries, by rows and by bytes (a result's text size, or an export's CSV size), so a
few large clips cannot pin the daemon's memory; the oldest entry goes first.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

from paas.dataclips.results import ClipResult

CACHE_SECONDS = 60.0
CACHE_ENTRIES = 32
CACHE_ROWS = 1_000_000
CACHE_BYTES = 64 * 1024 * 1024

Key = tuple[int, str]  # (clip id, digest of target and SQL)


@dataclass
class Cached:
    result: ClipResult | None = None
    csv: list[bytes] = field(default_factory=list)
    csv_size: int = -1  # -1: no CSV kept
    at: float = field(default_factory=time.monotonic)

    @property
    def size(self) -> int:
        return max(0, self.csv_size) + (self.result.size if self.result is not None else 0)

    @property
    def rows(self) -> int:
        return len(self.result.values) if self.result is not None else 0


class ResultCache:
    def __init__(self, ttl: float = CACHE_SECONDS, max_bytes: int = CACHE_BYTES):
        self.ttl = ttl
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Key, Cached] = OrderedDict()
        self.evicted = 0

    def get(self, key: Key) -> Cached | None:
        entry = self._entries.get(key)
        if entry is None or time.monotonic() - entry.at > self.ttl:
            self._entries.pop(key, None)
            return None
        return entry

    def result(self, key: Key) -> ClipResult | None:
        entry = self.get(key)
        return None if entry is None else entry.result

    def put_result(self, key: Key, result: ClipResult) -> None:
        self._entries[key] = Cached(result=result)
        self._entries.move_to_end(key)
        self._trim()

    def put_csv(self, key: Key, pieces: list[bytes], size: int) -> None:
        entry = self.get(key) or Cached()
        entry.csv, entry.csv_size = pieces, size
        self._entries[key] = entry
        self._entries.move_to_end(key)
        self._trim()

    def forget(self, clip_id: int) -> None:
        for key in [k for k in self._entries if k[0] == clip_id]:
            del self._entries[key]

    def stats(self) -> dict[str, int]:
        return {
            "entries": len(self._entries),
            "bytes": sum(e.size for e in self._entries.values()),
            "max_bytes": self.max_bytes,
            "evicted": self.evicted,
        }

    def _trim(self) -> None:
        entries = self._entries
        while len(entries) > 1 and (
            len(entries) > CACHE_ENTRIES
            or sum(e.rows for e in entries.values()) > CACHE_ROWS
            or sum(e.size for e in entries.values()) > self.max_bytes
        ):
            entries.popitem(last=False)
            self.evicted += 1
