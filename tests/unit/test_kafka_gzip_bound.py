"""A gzip record batch is decoded within a bound: a 1 MiB batch of zeros is not a gigabyte."""

from __future__ import annotations

import gzip
import struct
import zlib

import pytest
from crc32c import crc32c

from paas.kafka.records import (
    MAX_BATCH_BYTES,
    CorruptBatch,
    build_batch,
    decode_batch,
    gunzip_bounded,
    parse_header,
)


def gzip_batch(body: bytes, count: int = 1) -> bytes:
    ts = 1_700_000_000_000
    after_crc = struct.pack(">hiqqqhii", 1, count - 1, ts, ts, -1, -1, -1, count) + body
    return struct.pack(">qiibI", 0, 4 + 1 + 4 + len(after_crc), 0, 2, crc32c(after_crc)) + after_crc


def zeros_gzipped(size: int) -> bytes:
    z = zlib.compressobj(9, wbits=31)
    chunk = bytes(1 << 20)
    out = [z.compress(chunk) for _ in range(size >> 20)]
    return b"".join([*out, z.flush()])


def test_a_gzip_bomb_batch_is_refused_not_inflated() -> None:
    body = zeros_gzipped(256 << 20)  # 256 MiB of zeros in ~250 KiB: a batch any topic accepts
    batch = gzip_batch(body, count=1)
    assert len(batch) <= MAX_BATCH_BYTES
    with pytest.raises(CorruptBatch, match="gzip records expand past 64 MiB"):
        decode_batch(batch, parse_header(batch))


def test_ordinary_gzip_batches_still_decode_even_in_several_members() -> None:
    plain = build_batch([(b"k", b"v1"), (None, b"v2")])
    info = parse_header(plain)
    records_body = plain[61:]
    for body in (
        gzip.compress(records_body),
        gzip.compress(records_body[:5]) + gzip.compress(records_body[5:]),
    ):
        batch = gzip_batch(body, count=info.count)
        got = decode_batch(batch, parse_header(batch))
        assert [(r.key, r.value) for r in got] == [(b"k", b"v1"), (None, b"v2")]


def test_broken_gzip_is_a_corrupt_batch() -> None:
    with pytest.raises(CorruptBatch, match="cannot be decompressed"):
        gunzip_bounded(b"\x1f\x8b" + bytes(40), 100)
    with pytest.raises(CorruptBatch, match="truncated"):
        gunzip_bounded(gzip.compress(b"hello" * 100)[:-12], 10_000)
