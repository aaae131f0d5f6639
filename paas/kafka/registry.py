"""Durable broker metadata: tenants, topics, consumer groups, committed offsets.

Tenants, topics and groups change rarely and live in one JSON file rewritten atomically
(temp file, fsync, rename). Committed offsets change all the time, so they go to an
append-only journal of JSON lines (like `__consumer_offsets`): a torn last line after a crash
is ignored and cut, and the journal is compacted when it grows well past its live content.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .acls import AclBinding
from .quotas import Entity
from .scram import ScramCredential


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    # 0600: the registry holds SCRAM keys (secrets, although not passwords)
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@dataclass
class Tenant:
    """A tenant as brokers before the Admin-API tenancy recorded it (read once, then migrated)."""

    id: str  # the add-on name, e.g. "kafka-shaped-12345"
    app: str
    plan: str
    prefix: str  # "shaped-12345."
    username: str
    password: str
    cert_serial: int = 0
    created_at: float = field(default_factory=time.time)


@dataclass
class Topic:
    name: str  # full name, prefix included
    tenant: str | None  # None: created by the platform itself
    partitions: int
    retention_ms: int
    compaction: bool = False
    created_at: float = field(default_factory=time.time)
    retention_bytes: int = -1  # per partition, as Kafka's retention.bytes


@dataclass
class Group:
    name: str
    tenant: str | None
    created_at: float = field(default_factory=time.time)


class Registry:
    def __init__(self, path: Path):
        self.path = path
        self.tenants: dict[str, Tenant] = {}
        self.topics: dict[str, Topic] = {}
        self.groups: dict[str, Group] = {}
        self.next_producer_id = 1000
        # the cluster's security state, changed only through the Admin API
        self.acls: list[AclBinding] = []
        self.scram: dict[str, dict[int, ScramCredential]] = {}
        self.quotas: dict[Entity, dict[str, float]] = {}

    def load(self) -> None:
        if not self.path.exists():
            return
        data = json.loads(self.path.read_text())
        self.tenants = {k: Tenant(**v) for k, v in data.get("tenants", {}).items()}
        self.topics = {k: Topic(**v) for k, v in data.get("topics", {}).items()}
        self.groups = {k: Group(**v) for k, v in data.get("groups", {}).items()}
        self.next_producer_id = int(data.get("next_producer_id", 1000))
        self.acls = [AclBinding(**a) for a in data.get("acls", [])]
        self.scram = {
            user: {int(m): ScramCredential.from_json(c) for m, c in creds.items()}
            for user, creds in data.get("scram", {}).items()
        }
        self.quotas = {
            tuple((t, n) for t, n in q["entity"]): {k: float(v) for k, v in q["values"].items()}
            for q in data.get("quotas", [])
        }

    def save(self) -> None:
        write_json_atomic(
            self.path,
            {
                "tenants": {k: asdict(v) for k, v in self.tenants.items()},
                "topics": {k: asdict(v) for k, v in self.topics.items()},
                "groups": {k: asdict(v) for k, v in self.groups.items()},
                "next_producer_id": self.next_producer_id,
                "acls": [a.to_json() for a in self.acls],
                "scram": {u: {str(m): c.to_json() for m, c in cs.items()} for u, cs in self.scram.items()},
                "quotas": [{"entity": [list(e) for e in ent], "values": v} for ent, v in self.quotas.items()],
            },
        )

    def tenant_topics(self, tenant_id: str) -> list[Topic]:
        return sorted((t for t in self.topics.values() if t.tenant == tenant_id), key=lambda t: t.name)

    def tenant_groups(self, tenant_id: str) -> list[Group]:
        return sorted((g for g in self.groups.values() if g.tenant == tenant_id), key=lambda g: g.name)

    def allocate_producer_id(self) -> int:
        pid = self.next_producer_id
        self.next_producer_id += 1
        self.save()
        return pid


@dataclass(slots=True)
class Committed:
    offset: int
    metadata: str | None
    timestamp: int  # ms


class OffsetStore:
    """group -> (topic, partition) -> Committed, journaled to disk."""

    COMPACT_MIN_BYTES = 4 << 20

    def __init__(self, path: Path):
        self.path = path
        self.offsets: dict[str, dict[tuple[str, int], Committed]] = {}
        self._fd: int | None = None
        self._lines = 0

    def load(self) -> int:
        """Replay the journal; returns bytes of torn tail that were cut."""
        cut = 0
        if self.path.exists():
            raw = self.path.read_bytes()
            good = 0
            for line in raw.splitlines(keepends=True):
                if not line.endswith(b"\n"):
                    break
                try:
                    self._apply(json.loads(line))
                except (ValueError, KeyError, TypeError):
                    break
                good += len(line)
                self._lines += 1
            cut = len(raw) - good
            if cut:
                with open(self.path, "r+b") as f:
                    f.truncate(good)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._maybe_compact()
        return cut

    def _apply(self, entry: dict[str, Any]) -> None:
        if entry.get("del") == "offsets":
            self.offsets.get(entry["g"], {}).pop((entry["t"], int(entry["p"])), None)
        elif entry.get("del") == "group":
            self.offsets.pop(entry["g"], None)
        elif entry.get("del") == "topic":
            for offsets in self.offsets.values():
                for key in [k for k in offsets if k[0] == entry["t"]]:
                    del offsets[key]
        else:
            self.offsets.setdefault(entry["g"], {})[(entry["t"], int(entry["p"]))] = Committed(
                int(entry["o"]), entry.get("m"), int(entry.get("ts", 0))
            )

    def _append(self, entries: list[dict[str, Any]]) -> None:
        for entry in entries:
            self._apply(entry)
        if self._fd is not None and entries:
            os.write(
                self._fd, b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in entries)
            )
            self._lines += len(entries)
            self._maybe_compact()

    def commit(self, group: str, offsets: list[tuple[str, int, int, str | None]]) -> None:
        now = int(time.time() * 1000)
        self._append([{"g": group, "t": t, "p": p, "o": o, "m": m, "ts": now} for t, p, o, m in offsets])

    def get(self, group: str, topic: str, partition: int) -> Committed | None:
        return self.offsets.get(group, {}).get((topic, partition))

    def group_offsets(self, group: str) -> dict[tuple[str, int], Committed]:
        return dict(self.offsets.get(group, {}))

    def delete_group(self, group: str) -> None:
        if group in self.offsets:
            self._append([{"del": "group", "g": group}])

    def delete_offsets(self, group: str, partitions: list[tuple[str, int]]) -> None:
        """OffsetDelete: forget the group's offsets of these partitions."""
        self._append([{"del": "offsets", "g": group, "t": t, "p": p} for t, p in partitions])

    def delete_topic(self, topic: str) -> None:
        if any(k[0] == topic for offsets in self.offsets.values() for k in offsets):
            self._append([{"del": "topic", "t": topic}])

    def _live(self) -> int:
        return sum(len(v) for v in self.offsets.values())

    def _maybe_compact(self) -> None:
        if self._fd is None or self._lines < 1000 or self._lines < 10 * max(self._live(), 1):
            return
        if os.fstat(self._fd).st_size < self.COMPACT_MIN_BYTES and self._lines < 100_000:
            return
        self.compact()

    def compact(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        lines = [
            json.dumps(
                {"g": g, "t": t, "p": p, "o": c.offset, "m": c.metadata, "ts": c.timestamp},
                separators=(",", ":"),
            )
            for g, offsets in self.offsets.items()
            for (t, p), c in offsets.items()
        ]
        with open(tmp, "w") as f:
            f.write("".join(line + "\n" for line in lines))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        if self._fd is not None:
            os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lines = len(lines)

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
                os.close(self._fd)
            self._fd = None
