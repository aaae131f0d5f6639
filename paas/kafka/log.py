"""Per-partition append-only logs: segment files plus a sparse offset index.

Layout: `<kafka_dir>/data/<topic>-<partition>/<base offset, 20 digits>.log` holds stored
RecordBatches back to back, exactly as produced (offsets patched); `.index` beside it has one
16-byte entry (`base offset - segment base`, `file position`, `max timestamp so far`) per
~4 KiB of log, the same sparse scheme as Kafka's offset index. A lookup bisects the index,
then walks batch headers forward.

Crash safety: writes are `pwritev` at the known end, never fsync'd per request (like Kafka);
at start, unless the previous stop was clean, the active segment is re-read batch by batch
(sizes, contiguous offsets, CRC-32C) and cut at the first torn or corrupt batch.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import os
import shutil
import struct
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .records import (
    HEADER_SIZE,
    LOG_OVERHEAD,
    MIN_BATCH_LENGTH,
    BatchInfo,
    CorruptBatch,
    crc_ok,
    decode_batch,
    parse_header,
    patched_prefix,
    rebuild_batch,
)

INDEX_INTERVAL = 4096
INDEX_ENTRY = struct.Struct(">iiq")
READ_CHUNK = 1 << 20
_BASE_LEN = struct.Struct(">qi")
_I32 = struct.Struct(">i")
PRODUCER_WINDOW = 5  # batches remembered per producer for duplicate detection, as Kafka
_BatchHook = Callable[[BatchInfo], None]


class OffsetOutOfRange(Exception):
    pass


class StorageError(Exception):
    """The disk refused a write; nothing partial is left behind."""


class SequenceError(Exception):
    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind  # "out_of_order" | "epoch"


class Duplicate(Exception):
    """A retried batch already in the log: answer with its original offset."""

    def __init__(self, base_offset: int):
        super().__init__(base_offset)
        self.base_offset = base_offset


# ------------------------------------------------------------------ segment


class Segment:
    def __init__(self, directory: Path, base_offset: int):
        self.directory = directory
        self.base_offset = base_offset
        self.log_path = directory / f"{base_offset:020d}.log"
        self.index_path = directory / f"{base_offset:020d}.index"
        self.fd = os.open(self.log_path, os.O_RDWR | os.O_CREAT, 0o644)
        self.index_fd = os.open(self.index_path, os.O_RDWR | os.O_CREAT, 0o644)
        self.size = 0
        self.next_offset = base_offset
        self.max_timestamp = -1
        self.first_append: float | None = None
        self.idx_offsets = array("q")
        self.idx_positions = array("q")
        self.idx_times = array("q")
        self._indexed_at = -INDEX_INTERVAL  # position of the last index entry

    # -- loading
    def load(self, verify: bool, on_batch: _BatchHook | None = None) -> int:
        """Rebuild in-memory state from disk; returns bytes cut off the end (0 if intact)."""
        file_size = os.fstat(self.fd).st_size
        start = 0
        if not verify:
            start = self._load_index(file_size)
        if start == 0:
            self._reset_index()
        good_end = start
        expected = self.next_offset if start else None
        for pos, info in _scan(self.fd, start, file_size, verify):
            # offsets only grow (compaction leaves gaps, so "grow", not "follow on")
            if expected is not None and info.base_offset < expected:
                break
            if info.base_offset < self.base_offset:
                break
            self._note_batch(pos, info)
            if on_batch is not None:
                on_batch(info)
            expected = info.next_offset
            good_end = pos + info.size
        cut = file_size - good_end
        if cut:
            os.ftruncate(self.fd, good_end)
            self._drop_index_after(good_end)
        self.size = good_end
        if self.size:
            self.first_append = os.fstat(self.fd).st_mtime
        self._rewrite_index()
        return cut

    def _load_index(self, file_size: int) -> int:
        raw = os.pread(self.index_fd, os.fstat(self.index_fd).st_size, 0)
        self._reset_index()
        last_pos = -1
        for i in range(len(raw) // INDEX_ENTRY.size):
            rel, pos, ts = INDEX_ENTRY.unpack_from(raw, i * INDEX_ENTRY.size)
            if pos <= last_pos or pos >= file_size or rel < 0:
                break
            self.idx_offsets.append(self.base_offset + rel)
            self.idx_positions.append(pos)
            self.idx_times.append(ts)
            last_pos = pos
        if not self.idx_positions:
            return 0
        # Re-read from the last indexed batch: it and everything after it rebuilds state.
        start = self.idx_positions[-1]
        self.max_timestamp = self.idx_times[-1]
        self.next_offset = self.idx_offsets[-1]
        self.idx_offsets.pop()
        self.idx_positions.pop()
        self.idx_times.pop()
        self._indexed_at = self.idx_positions[-1] if self.idx_positions else -INDEX_INTERVAL
        return start

    def _reset_index(self) -> None:
        self.idx_offsets = array("q")
        self.idx_positions = array("q")
        self.idx_times = array("q")
        self._indexed_at = -INDEX_INTERVAL
        self.max_timestamp = -1
        self.next_offset = self.base_offset

    def _drop_index_after(self, end: int) -> None:
        while self.idx_positions and self.idx_positions[-1] >= end:
            self.idx_offsets.pop()
            self.idx_positions.pop()
            self.idx_times.pop()

    def _rewrite_index(self) -> None:
        data = b"".join(
            INDEX_ENTRY.pack(o - self.base_offset, p, t)
            for o, p, t in zip(self.idx_offsets, self.idx_positions, self.idx_times, strict=True)
        )
        os.ftruncate(self.index_fd, 0)
        if data:
            os.pwrite(self.index_fd, data, 0)

    def _note_batch(self, pos: int, info: BatchInfo) -> bytes:
        """Track a batch that now sits at `pos`; returns an index entry to persist (or b"")."""
        if info.max_timestamp > self.max_timestamp:
            self.max_timestamp = info.max_timestamp
        self.next_offset = info.next_offset
        if pos - self._indexed_at >= INDEX_INTERVAL:
            self._indexed_at = pos
            self.idx_offsets.append(info.base_offset)
            self.idx_positions.append(pos)
            self.idx_times.append(self.max_timestamp)
            return INDEX_ENTRY.pack(info.base_offset - self.base_offset, pos, self.max_timestamp)
        return b""

    # -- writing
    def append(self, parts: list[bytes | memoryview], placed: list[tuple[int, BatchInfo]]) -> None:
        total = sum(len(p) for p in parts)
        try:
            written = os.pwritev(self.fd, parts, self.size)
            if written != total:
                raise OSError(f"short write: {written} of {total} bytes")
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, self.size)
            raise StorageError(f"writing {self.log_path.name}: {exc}") from exc
        entries = []
        for pos, info in placed:
            entry = self._note_batch(self.size + pos, info)
            if entry:
                entries.append(entry)
        if entries:
            os.pwrite(self.index_fd, b"".join(entries), len(self.idx_positions) * 16 - 16 * len(entries))
        if self.first_append is None:
            self.first_append = time.time()
        self.size += total

    # -- reading
    def find(self, offset: int) -> int | None:
        """File position of the batch holding `offset` (or the first one after it)."""
        i = bisect.bisect_right(self.idx_offsets, offset) - 1
        pos = self.idx_positions[i] if i >= 0 else 0
        while pos < self.size:
            chunk = os.pread(self.fd, min(8192, self.size - pos), pos)
            p = 0
            while p + 27 <= len(chunk):
                base, length = _BASE_LEN.unpack_from(chunk, p)
                (delta,) = _I32.unpack_from(chunk, p + 23)
                if base + delta >= offset:
                    return pos + p
                p += length + LOG_OVERHEAD
            if p == 0:
                return None
            pos += p
        return None

    def read(self, position: int, max_bytes: int) -> bytes:
        """Bytes from `position`: at least the whole first batch, else up to `max_bytes`."""
        avail = self.size - position
        if avail <= 0:
            return b""
        want = min(max_bytes, avail)
        if want < avail:
            first = os.pread(self.fd, 12, position)
            if len(first) == 12:
                first_size = _BASE_LEN.unpack(first)[1] + LOG_OVERHEAD
                want = max(want, min(first_size, avail))
        return os.pread(self.fd, want, position)

    def batches_from(self, position: int) -> Iterator[tuple[int, BatchInfo]]:
        return _scan(self.fd, position, self.size, False)

    def flush(self) -> None:
        os.fsync(self.fd)
        os.fsync(self.index_fd)

    def close(self) -> None:
        for fd in (self.fd, self.index_fd):
            with contextlib.suppress(OSError):
                os.close(fd)

    def delete(self) -> None:
        self.close()
        for path in (self.log_path, self.index_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _scan(fd: int, pos: int, end: int, verify: bool) -> Iterator[tuple[int, BatchInfo]]:
    """Consecutive batches from `pos`; stops silently at the first incomplete or bad one."""
    buf = b""
    buf_pos = pos
    while end - pos >= HEADER_SIZE:
        rel = pos - buf_pos
        if len(buf) - rel < HEADER_SIZE:
            buf = os.pread(fd, READ_CHUNK, pos)
            buf_pos, rel = pos, 0
        (length,) = _I32.unpack_from(buf, rel + 8)
        size = length + LOG_OVERHEAD
        if length < MIN_BATCH_LENGTH or pos + size > end:
            return
        if verify and len(buf) - rel < size:
            buf = os.pread(fd, max(READ_CHUNK, size), pos)
            buf_pos, rel = pos, 0
        try:
            info = parse_header(buf, rel, available=end - pos)
        except CorruptBatch:
            return
        if verify and not crc_ok(buf, info):
            return
        info.start = pos
        yield pos, info
        pos += size


# ------------------------------------------------------------ producer state


@dataclass
class ProducerState:
    epoch: int
    last_sequence: int
    recent: deque[tuple[int, int, int]] = field(default_factory=lambda: deque(maxlen=PRODUCER_WINDOW))
    # recent: (first sequence, last sequence, base offset)

    def to_json(self) -> dict[str, object]:
        return {"epoch": self.epoch, "last": self.last_sequence, "recent": list(self.recent)}


# ------------------------------------------------------------- partition

START_FILE = "log-start-offset"


class PartitionLog:
    def __init__(self, directory: Path, topic: str, partition: int, segment_bytes: int):
        self.directory = directory
        self.topic = topic
        self.partition = partition
        self.segment_bytes = segment_bytes
        self.segments: list[Segment] = []
        self.producers: dict[int, ProducerState] = {}
        self.waiters: list[asyncio.Future[None]] = []
        self.recovered_bytes = 0  # torn/corrupt bytes cut at load
        self.cleaned_upto = -1  # base offset of the active segment at the last compaction
        self.start_floor = 0  # DeleteRecords: no record below this offset is served

    # -- lifecycle
    @classmethod
    def open(
        cls, directory: Path, topic: str, partition: int, segment_bytes: int, clean: bool
    ) -> PartitionLog:
        directory.mkdir(parents=True, exist_ok=True)
        log = cls(directory, topic, partition, segment_bytes)
        bases = sorted(int(p.stem) for p in directory.glob("*.log") if p.stem.isdigit())
        for base in bases:
            log.segments.append(Segment(directory, base))
        snapshot = directory / "producers.json"
        loaded_snapshot = False
        if clean and snapshot.exists():
            with contextlib.suppress(ValueError, OSError, KeyError, TypeError):
                for pid, st in json.loads(snapshot.read_text()).items():
                    state = ProducerState(st["epoch"], st["last"])
                    state.recent.extend(tuple(r) for r in st["recent"])
                    log.producers[int(pid)] = state
                loaded_snapshot = True
        with contextlib.suppress(FileNotFoundError):
            snapshot.unlink()
        for i, seg in enumerate(log.segments):
            last = i == len(log.segments) - 1
            hook = log._track_producer if (last and not loaded_snapshot) else None
            log.recovered_bytes += seg.load(verify=last and not clean, on_batch=hook)
        # segments must not overlap; an inconsistent one is dropped, later ones too
        for i in range(1, len(log.segments)):
            if log.segments[i].base_offset < log.segments[i - 1].next_offset:
                for seg in log.segments[i:]:
                    log.recovered_bytes += seg.size
                    seg.delete()
                del log.segments[i:]
                break
        if not log.segments:
            log.segments.append(Segment(directory, 0))
        with contextlib.suppress(FileNotFoundError, ValueError):
            log.start_floor = int((directory / START_FILE).read_text())
        return log

    def close(self) -> None:
        """Flush to disk and keep the idempotence window for the next start."""
        for seg in self.segments:
            with contextlib.suppress(OSError):
                seg.flush()
            seg.close()
        if self.producers:
            data = {str(pid): st.to_json() for pid, st in self.producers.items()}
            tmp = self.directory / "producers.json.tmp"
            with contextlib.suppress(OSError):
                tmp.write_text(json.dumps(data))
                os.replace(tmp, self.directory / "producers.json")
        self.wake()

    def delete(self) -> None:
        for seg in self.segments:
            seg.close()
        self.wake()
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- properties
    @property
    def active(self) -> Segment:
        return self.segments[-1]

    @property
    def log_start_offset(self) -> int:
        return min(max(self.segments[0].base_offset, self.start_floor), self.next_offset)

    def delete_records(self, offset: int) -> int:
        """DeleteRecords: records below `offset` (-1: the high watermark) go; returns the new start.

        Whole segments below it are deleted; inside a segment the start offset is recorded in
        `log-start-offset` (as Kafka's checkpoint) and reads below it are out of range.
        """
        end = self.next_offset
        offset = end if offset == -1 else offset
        if not self.log_start_offset <= offset <= end:
            if offset < self.log_start_offset:
                return self.log_start_offset
            raise OffsetOutOfRange(f"offset {offset} is past the high watermark {end}")
        tmp = self.directory / (START_FILE + ".tmp")
        tmp.write_text(str(offset))
        os.replace(tmp, self.directory / START_FILE)
        self.start_floor = offset
        if offset == end and self.active.size:
            self.roll()
        while len(self.segments) > 1 and self.segments[0].next_offset <= offset:
            self.segments.pop(0).delete()
        return self.log_start_offset

    @property
    def next_offset(self) -> int:
        return self.active.next_offset

    @property
    def size(self) -> int:
        return sum(s.size for s in self.segments)

    # -- producer idempotence
    def _track_producer(self, info: BatchInfo) -> None:
        if info.producer_id < 0:
            return
        state = self.producers.get(info.producer_id)
        if state is None or info.producer_epoch != state.epoch:
            state = ProducerState(info.producer_epoch, info.last_sequence)
            self.producers[info.producer_id] = state
        state.last_sequence = info.last_sequence
        state.recent.append((info.base_sequence, info.last_sequence, info.base_offset))

    def _check_sequence(self, info: BatchInfo) -> None:
        state = self.producers.get(info.producer_id)
        if state is None:
            return
        if info.producer_epoch < state.epoch:
            raise SequenceError(
                f"producer {info.producer_id} epoch {info.producer_epoch} is older than {state.epoch}",
                "epoch",
            )
        if info.producer_epoch > state.epoch:
            if info.base_sequence != 0:
                raise SequenceError("a new producer epoch must start at sequence 0", "out_of_order")
            return
        for first, last, base in state.recent:
            if first == info.base_sequence and last == info.last_sequence:
                raise Duplicate(base)
        expected = (state.last_sequence + 1) & 0x7FFFFFFF
        if info.base_sequence != expected:
            raise SequenceError(
                f"producer {info.producer_id}: sequence {info.base_sequence}, expected {expected}",
                "out_of_order",
            )

    # -- append / read
    def append(self, buf: bytes | memoryview, infos: list[BatchInfo], roll_ms: int | None = None) -> int:
        """Store validated batches; returns the first assigned offset."""
        if infos[0].producer_id >= 0:
            self._check_sequence(infos[0])
        incoming = sum(i.size for i in infos)
        seg = self.active
        if seg.size and (
            seg.size + incoming > self.segment_bytes
            or (
                roll_ms is not None
                and seg.first_append is not None
                and (time.time() - seg.first_append) * 1000 > roll_ms
            )
        ):
            seg = self.roll()
        mv = memoryview(buf)
        offset = base = seg.next_offset
        parts: list[bytes | memoryview] = []
        placed = []
        pos = 0
        for info in infos:
            parts.append(patched_prefix(offset, info))
            parts.append(mv[info.start + 16 : info.start + info.size])
            stored = BatchInfo(
                pos,
                info.size,
                offset,
                info.last_offset_delta,
                info.attributes,
                info.max_timestamp,
                info.producer_id,
                info.producer_epoch,
                info.base_sequence,
                info.count,
            )
            placed.append((pos, stored))
            pos += info.size
            offset = stored.next_offset
        seg.append(parts, placed)
        for _pos, stored in placed:
            self._track_producer(stored)
        self.wake()
        return base

    def roll(self) -> Segment:
        seg = Segment(self.directory, self.next_offset)
        self.segments.append(seg)
        return seg

    def wake(self) -> None:
        waiters, self.waiters = self.waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def read(self, offset: int, max_bytes: int) -> bytes:
        """Stored batches from the one holding `offset`. b"" at the end of the log."""
        if offset == self.next_offset:
            return b""
        if offset < self.log_start_offset or offset > self.next_offset:
            raise OffsetOutOfRange(f"offset {offset} is outside {self.log_start_offset}..{self.next_offset}")
        i = bisect.bisect_right([s.base_offset for s in self.segments], offset) - 1
        for seg in self.segments[max(i, 0) :]:
            pos = seg.find(offset)
            if pos is not None:
                return seg.read(pos, max_bytes)
        return b""

    def offset_for_time(self, timestamp: int) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record at or after `timestamp`, None if none."""
        for seg in self.segments:
            if seg.max_timestamp < timestamp:
                continue
            i = bisect.bisect_left(seg.idx_times, timestamp) - 1
            pos = seg.idx_positions[i] if i >= 0 else 0
            for _p, info in seg.batches_from(pos):
                if info.max_timestamp < timestamp:
                    continue
                data = seg.read(info.start, info.size)
                with contextlib.suppress(CorruptBatch):
                    local = parse_header(data, 0)
                    for rec in decode_batch(data, local):
                        if rec.timestamp >= timestamp:
                            return rec.offset, rec.timestamp
                return info.base_offset, info.max_timestamp
        return None

    def max_timestamp(self) -> tuple[int, int]:
        best = (-1, -1)
        for seg in self.segments:
            if seg.max_timestamp > best[1]:
                for _p, info in seg.batches_from(0):
                    if info.max_timestamp >= seg.max_timestamp:
                        best = (info.last_offset, info.max_timestamp)
                        break
        return best

    # -- retention
    def expire(self, now_ms: int, retention_ms: int) -> int:
        """Delete segments whose newest record is older than retention; returns bytes freed."""
        if retention_ms < 0:
            return 0
        cutoff = now_ms - retention_ms
        if len(self.segments) == 1 and self.active.size and self.active.max_timestamp < cutoff:
            self.roll()
        freed = 0
        while len(self.segments) > 1 and self.segments[0].max_timestamp < cutoff:
            freed += self.drop_oldest()
        return freed

    def expire_bytes(self, retention_bytes: int) -> int:
        """retention.bytes: drop the oldest segments while the rest still holds that much."""
        if retention_bytes < 0:
            return 0
        freed = 0
        while len(self.segments) > 1 and self.size - self.segments[0].size >= retention_bytes:
            freed += self.drop_oldest()
        if len(self.segments) == 1 and self.active.size > retention_bytes > 0:
            self.roll()
        return freed

    def drop_oldest(self) -> int:
        """Remove the oldest closed segment (rolling first when only the active one remains)."""
        if len(self.segments) == 1:
            if not self.active.size:
                return 0
            self.roll()
        seg = self.segments.pop(0)
        freed = seg.size
        seg.delete()
        return freed

    def flush(self) -> None:
        for seg in self.segments[-1:]:
            seg.flush()

    # -- compaction (cleanup.policy=compact)
    def compact(self, now_ms: int, tombstone_retention_ms: int = 86_400_000) -> int:
        """Keep only the newest record per key in closed segments; returns bytes freed.

        Batches whose records all survive are kept byte for byte; others are rebuilt
        (uncompressed) with their original offsets and timestamps. Records without a key are
        kept; tombstones (null value) go once older than `tombstone_retention_ms`. Partitions
        holding batches this broker cannot decompress are left alone."""
        closed = self.segments[:-1]
        if not closed or self.cleaned_upto == self.active.base_offset:
            return 0
        self.cleaned_upto = self.active.base_offset
        try:
            latest = self._latest_offsets()
        except CorruptBatch:
            return 0
        cutoff = now_ms - tombstone_retention_ms
        freed = 0
        for i, seg in enumerate(closed):
            kept, changed = _compacted(seg, latest, cutoff)
            if changed:
                freed += seg.size - sum(len(b) for b in kept)
                self.segments[i] = _rewrite_segment(seg, kept)
        return freed

    def _latest_offsets(self) -> dict[bytes, int]:
        """The offset of the newest record of each key (raises CorruptBatch if undecodable)."""
        latest: dict[bytes, int] = {}
        for seg in self.segments:
            for data, info in _batches_with_bytes(seg):
                for rec in decode_batch(data, info):
                    if rec.key is not None:
                        latest[rec.key] = rec.offset
        return latest


def _compacted(seg: Segment, latest: dict[bytes, int], tombstone_cutoff: int) -> tuple[list[bytes], bool]:
    """The batches of a closed segment after compaction, and whether anything was dropped."""
    kept: list[bytes] = []
    changed = False
    for data, info in _batches_with_bytes(seg):
        records = decode_batch(data, info)
        survivors = [
            r
            for r in records
            if r.key is None
            or (latest.get(r.key) == r.offset and not (r.value is None and r.timestamp < tombstone_cutoff))
        ]
        if len(survivors) == len(records):
            kept.append(data[info.start : info.start + info.size])
        else:
            changed = True
            if survivors:
                kept.append(rebuild_batch(survivors))
    return kept, changed


def _batches_with_bytes(seg: Segment) -> Iterator[tuple[bytes, BatchInfo]]:
    """(bytes holding the batch, its header info relative to those bytes) for each batch."""
    for _pos, info in seg.batches_from(0):
        data = seg.read(info.start, info.size)
        yield data, parse_header(data, 0)


def _rewrite_segment(seg: Segment, batches: list[bytes]) -> Segment:
    """Replace a closed segment's contents atomically (temp file, fsync, rename)."""
    tmp = seg.log_path.with_name(seg.log_path.name + ".cleaned")
    with open(tmp, "wb") as f:
        for b in batches:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    seg.close()
    os.replace(tmp, seg.log_path)
    with contextlib.suppress(FileNotFoundError):
        seg.index_path.unlink()
    fresh = Segment(seg.directory, seg.base_offset)
    fresh.load(verify=False)
    return fresh
