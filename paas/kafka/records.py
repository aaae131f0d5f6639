"""RecordBatch v2: header parsing, CRC-32C validation, offset patching, and small helpers.

The broker never re-encodes what clients send: a produced batch is checked (magic, sizes,
CRC-32C over `attributes..end`), gets its baseOffset (and partitionLeaderEpoch, both outside
the CRC) patched, and is stored and served byte for byte, compressed or not. Only the tools
(`kafka:topics:tail`, `kafka:topics:write`) decode or build individual records.
"""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from crc32c import crc32c

# baseOffset, batchLength, partitionLeaderEpoch, magic, crc, attributes, lastOffsetDelta,
# baseTimestamp, maxTimestamp, producerId, producerEpoch, baseSequence, recordsCount
HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = HEADER.size  # 61
LOG_OVERHEAD = 12  # baseOffset + batchLength precede the length-counted part
CRC_START = 21  # CRC covers attributes .. end of batch
MIN_BATCH_LENGTH = HEADER_SIZE - LOG_OVERHEAD  # 49
# Kafka's default max.message.bytes (1 MiB + 12): the largest batch a topic accepts.
MAX_BATCH_BYTES = 1_048_588

# What one stored batch may expand to when the tools decode it: a 1 MiB gzip batch of zeros
# would otherwise become a gigabyte in the daemon's memory.
MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024

CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
TRANSACTIONAL = 0x10
CONTROL = 0x20
_PATCH = struct.Struct(">qii")


class CorruptBatch(ValueError):
    """A produced record set is malformed (Kafka: CORRUPT_MESSAGE)."""


class InvalidBatch(ValueError):
    """Well-formed but not acceptable here (Kafka: INVALID_RECORD / MESSAGE_TOO_LARGE)."""

    def __init__(self, message: str, too_large: bool = False):
        super().__init__(message)
        self.too_large = too_large


@dataclass(slots=True)
class BatchInfo:
    start: int  # byte position within the buffer it was parsed from
    size: int  # total bytes including the 12-byte log overhead
    base_offset: int
    last_offset_delta: int
    attributes: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    count: int

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def last_sequence(self) -> int:
        return (self.base_sequence + self.last_offset_delta) & 0x7FFFFFFF


def parse_header(buf: bytes | memoryview, pos: int = 0, available: int | None = None) -> BatchInfo:
    """Header of the batch at `pos`; sizes checked against `available` bytes (default: the
    rest of `buf`), CRC not."""
    if available is None:
        available = len(buf) - pos
    if len(buf) - pos < HEADER_SIZE:
        raise CorruptBatch(f"{len(buf) - pos} bytes is too short for a record batch header")
    (base, length, _epoch, magic, _crc, attrs, delta, _base_ts, max_ts, pid, pepoch, bseq, count) = (
        HEADER.unpack_from(buf, pos)
    )
    if magic != 2:
        raise CorruptBatch(f"record batch magic {magic} is not supported (only v2)")
    if length < MIN_BATCH_LENGTH:
        raise CorruptBatch(f"record batch length {length} is too small")
    size = length + LOG_OVERHEAD
    if size > available:
        raise CorruptBatch(f"record batch of {size} bytes runs past the end ({available} left)")
    if delta < 0 or count < 0:
        raise CorruptBatch("record batch has a negative record count")
    return BatchInfo(pos, size, base, delta, attrs, max_ts, pid, pepoch, bseq, count)


def crc_ok(buf: bytes | memoryview, info: BatchInfo) -> bool:
    stored = struct.unpack_from(">I", buf, info.start + 17)[0]
    return bool(crc32c(memoryview(buf)[info.start + CRC_START : info.start + info.size]) == stored)


def validate_produced(buf: bytes | memoryview) -> list[BatchInfo]:
    """Every batch in a produced record set, checked as Kafka's LogValidator would (roughly)."""
    if len(buf) == 0:
        raise CorruptBatch("empty record set")
    batches = []
    pos = 0
    first_pid = None
    while pos < len(buf):
        info = parse_header(buf, pos)
        if info.size > MAX_BATCH_BYTES:
            raise InvalidBatch(
                f"record batch of {info.size} bytes exceeds the maximum of {MAX_BATCH_BYTES}", too_large=True
            )
        if not crc_ok(buf, info):
            raise CorruptBatch("record batch CRC-32C mismatch")
        if info.attributes & CONTROL:
            raise InvalidBatch("clients may not produce control batches")
        if info.attributes & TRANSACTIONAL:
            raise InvalidBatch("transactional produce is not supported by this broker")
        if info.count < 1 or info.last_offset_delta != info.count - 1:
            raise InvalidBatch(
                f"record batch claims {info.count} records but lastOffsetDelta {info.last_offset_delta}"
            )
        if first_pid is None:
            first_pid = info.producer_id
        elif info.producer_id != first_pid:
            raise InvalidBatch("record set mixes producers")
        batches.append(info)
        pos += info.size
    return batches


def patched_prefix(base_offset: int, info: BatchInfo) -> bytes:
    """The batch's first 16 bytes with the broker's offset (and leader epoch 0); outside the CRC."""
    return _PATCH.pack(base_offset, info.size - LOG_OVERHEAD, 0)


def iter_headers(buf: bytes | memoryview, pos: int = 0) -> Iterator[BatchInfo]:
    """Headers of consecutive stored batches; stops at the first incomplete one."""
    end = len(buf)
    while end - pos >= HEADER_SIZE:
        try:
            info = parse_header(buf, pos)
        except CorruptBatch:
            return
        yield info
        pos += info.size


# ------------------------------------------------------------------ tools


@dataclass(slots=True)
class Record:
    offset: int
    timestamp: int  # ms
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]


def _varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise CorruptBatch("truncated varint in record")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (value >> 1) ^ -(value & 1), pos
        shift += 7
        if shift > 63:
            raise CorruptBatch("varint too long in record")


def _bytes(buf: bytes | memoryview, pos: int) -> tuple[bytes | None, int]:
    length, pos = _varint(buf, pos)
    if length < 0:
        return None, pos
    if pos + length > len(buf):
        raise CorruptBatch("record field runs past the end of the batch")
    return bytes(buf[pos : pos + length]), pos + length


def gunzip_bounded(data: bytes | memoryview, limit: int) -> bytes:
    """gzip members one after another, refusing to produce more than `limit` bytes."""
    out = bytearray()
    rest = bytes(data)
    try:
        while rest:
            member = zlib.decompressobj(wbits=31)
            out += member.decompress(rest, limit + 1 - len(out))
            if len(out) > limit or member.unconsumed_tail:
                raise CorruptBatch(f"gzip records expand past {limit // (1024 * 1024)} MiB")
            if not member.eof:
                raise CorruptBatch("gzip records are truncated")
            rest = member.unused_data
    except zlib.error as exc:
        raise CorruptBatch(f"gzip records cannot be decompressed: {exc}") from None
    return bytes(out)


def decode_batch(buf: bytes | memoryview, info: BatchInfo) -> list[Record]:
    """Individual records of a stored batch (codecs: none, gzip)."""
    codec = info.attributes & 0x07
    body = memoryview(buf)[info.start + HEADER_SIZE : info.start + info.size]
    if codec == 1:
        body = memoryview(gunzip_bounded(body, MAX_DECOMPRESSED_BYTES))
    elif codec != 0:
        raise CorruptBatch(f"records compressed with {CODECS.get(codec, codec)} cannot be decoded here")
    base_ts = struct.unpack_from(">q", buf, info.start + 27)[0]
    records = []
    pos = 0
    for _ in range(info.count):
        length, pos = _varint(body, pos)
        end = pos + length
        pos += 1  # attributes
        ts_delta, pos = _varint(body, pos)
        off_delta, pos = _varint(body, pos)
        key, pos = _bytes(body, pos)
        value, pos = _bytes(body, pos)
        nheaders, pos = _varint(body, pos)
        headers = []
        for _h in range(max(nheaders, 0)):
            hkey, pos = _bytes(body, pos)
            hval, pos = _bytes(body, pos)
            headers.append(((hkey or b"").decode(errors="replace"), hval))
        if pos != end:
            raise CorruptBatch("record length does not match its contents")
        records.append(Record(info.base_offset + off_delta, base_ts + ts_delta, key, value, headers))
    return records


def _zigzag(value: int) -> bytes:
    value = (value << 1) ^ (value >> 63)
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field(data: bytes | None) -> bytes:
    return _zigzag(-1) if data is None else _zigzag(len(data)) + data


def rebuild_batch(records: Sequence[Record]) -> bytes:
    """A stored batch holding `records` with their own offsets and timestamps (compaction)."""
    base, base_ts = records[0].offset, records[0].timestamp
    body = bytearray()
    for r in records:
        hdr = _zigzag(len(r.headers)) + b"".join(_field(k.encode()) + _field(v) for k, v in r.headers)
        rec = (
            b"\0"
            + _zigzag(r.timestamp - base_ts)
            + _zigzag(r.offset - base)
            + _field(r.key)
            + _field(r.value)
            + hdr
        )
        body += _zigzag(len(rec)) + rec
    max_ts = max(r.timestamp for r in records)
    after_crc = struct.pack(
        ">hiqqqhii", 0, records[-1].offset - base, base_ts, max_ts, -1, -1, -1, len(records)
    )
    after_crc += bytes(body)
    return struct.pack(">qiibI", base, 9 + len(after_crc), 0, 2, crc32c(after_crc)) + after_crc


def build_batch(
    records: Sequence[tuple[bytes | None, bytes | None]],
    timestamp_ms: int | None = None,
    base_offset: int = 0,
    headers: Sequence[tuple[str, bytes]] = (),
) -> bytes:
    """An uncompressed RecordBatch v2 (no producer id), as a client would send it."""
    if not records:
        raise ValueError("a batch needs at least one record")
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    body = bytearray()
    hdr = _zigzag(len(headers)) + b"".join(_field(k.encode()) + _field(v) for k, v in headers)
    for i, (key, value) in enumerate(records):
        rec = b"\0" + _zigzag(0) + _zigzag(i) + _field(key) + _field(value) + hdr
        body += _zigzag(len(rec)) + rec
    count = len(records)
    after_crc = struct.pack(">hiqqqhii", 0, count - 1, ts, ts, -1, -1, -1, count) + bytes(body)
    crc = crc32c(after_crc)
    length = 4 + 1 + 4 + len(after_crc)
    return struct.pack(">qiibI", base_offset, length, 0, 2, crc) + after_crc
