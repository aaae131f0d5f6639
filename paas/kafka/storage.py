"""All partition logs of the broker: open at start, create/delete with topics, retention."""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

from .log import PartitionLog
from .registry import Topic

log = logging.getLogger("paas.kafka")
COMPACT_ROLL_MS = 86_400_000  # compacted topics roll their active segment daily (Kafka: segment.ms)


class LogManager:
    def __init__(self, data_dir: Path, segment_bytes: int):
        self.data_dir = data_dir
        self.segment_bytes = segment_bytes
        self.logs: dict[tuple[str, int], PartitionLog] = {}
        self.recovered_bytes = 0
        self.deleted_bytes = 0  # freed by retention and capacity

    def _dir(self, topic: str, partition: int) -> Path:
        return self.data_dir / f"{topic}-{partition}"

    def open_all(self, topics: Iterable[Topic], clean: bool) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        known = set()
        for topic in topics:
            for p in range(topic.partitions):
                plog = PartitionLog.open(self._dir(topic.name, p), topic.name, p, self.segment_bytes, clean)
                if plog.recovered_bytes:
                    log.warning(
                        "kafka: %s-%d: cut %d bytes of torn or corrupt data at the end of the log",
                        topic.name,
                        p,
                        plog.recovered_bytes,
                    )
                self.recovered_bytes += plog.recovered_bytes
                self.logs[(topic.name, p)] = plog
                known.add(self._dir(topic.name, p).name)
        # directories of topics deleted while a previous run was stopping
        for path in self.data_dir.iterdir():
            if path.is_dir() and path.name not in known:
                shutil.rmtree(path, ignore_errors=True)

    def create(self, topic: str, partitions: Iterable[int]) -> None:
        for p in partitions:
            directory = self._dir(topic, p)
            if directory.exists():  # leftovers of a same-named deleted topic
                shutil.rmtree(directory, ignore_errors=True)
            self.logs[(topic, p)] = PartitionLog.open(directory, topic, p, self.segment_bytes, clean=True)

    def delete(self, topic: str) -> None:
        for key in [k for k in self.logs if k[0] == topic]:
            plog = self.logs.pop(key)
            for seg in plog.segments:
                seg.close()
            plog.wake()
            # rename first so a crash mid-delete never leaves a half topic behind
            tomb = plog.directory.with_name(f".{plog.directory.name}.{uuid.uuid4().hex}.deleted")
            try:
                os.replace(plog.directory, tomb)
            except OSError:
                tomb = plog.directory
            shutil.rmtree(tomb, ignore_errors=True)

    def get(self, topic: str, partition: int) -> PartitionLog | None:
        return self.logs.get((topic, partition))

    def partitions(self, topic: str) -> list[PartitionLog]:
        return sorted((pl for (t, _p), pl in self.logs.items() if t == topic), key=lambda pl: pl.partition)

    def topic_size(self, topic: str) -> int:
        return sum(pl.size for pl in self.partitions(topic))

    def close(self) -> None:
        for plog in self.logs.values():
            plog.close()
        self.logs.clear()

    # ---------------------------------------------------------------- retention
    def expire(self, topics: Iterable[Topic], now_ms: int | None = None) -> int:
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        freed = 0
        for topic in topics:
            for plog in self.partitions(topic.name):
                freed += plog.expire(now_ms, topic.retention_ms)
                freed += plog.expire_bytes(topic.retention_bytes)
        self.deleted_bytes += freed
        return freed

    def compact(self, topics: Iterable[Topic], now_ms: int | None = None, roll: bool = False) -> int:
        """Compact the closed segments of compacted topics. Their active segment is rolled once a
        day (or now, with `roll`) so recent data becomes eligible."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        freed = 0
        for topic in topics:
            if not topic.compaction:
                continue
            for plog in self.partitions(topic.name):
                active = plog.active
                if active.size and (
                    roll
                    or (
                        active.first_append is not None
                        and now_ms - active.first_append * 1000 > COMPACT_ROLL_MS
                    )
                ):
                    plog.roll()
                freed += plog.compact(now_ms)
        self.deleted_bytes += freed
        return freed

    def enforce_capacity(self, topics: Iterable[Topic], capacity_bytes: int) -> int:
        """Drop the oldest segments of a tenant's topics until they fit its plan's capacity."""
        plogs = [pl for t in topics for pl in self.partitions(t.name)]
        total = sum(pl.size for pl in plogs)
        freed = 0
        while total > capacity_bytes:
            candidates = [pl for pl in plogs if pl.size > 0]
            if not candidates:
                break
            oldest = min(candidates, key=lambda pl: (pl.segments[0].max_timestamp, -pl.size))
            dropped = oldest.drop_oldest()
            if dropped == 0:
                break
            total -= dropped
            freed += dropped
        self.deleted_bytes += freed
        return freed
