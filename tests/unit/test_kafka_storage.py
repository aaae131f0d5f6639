"""Partition logs on disk: offsets, index lookups, segment rolls, crash recovery, retention."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from paas.kafka.log import Duplicate, OffsetOutOfRange, PartitionLog, SequenceError
from paas.kafka.records import (
    CorruptBatch,
    InvalidBatch,
    build_batch,
    decode_batch,
    iter_headers,
    parse_header,
    validate_produced,
)
from paas.kafka.registry import OffsetStore, Topic
from paas.kafka.storage import LogManager

pytestmark = pytest.mark.kafka


def _append(log: PartitionLog, value: bytes, key: bytes | None = None, ts: int | None = None) -> int:
    batch = build_batch([(key, value)], timestamp_ms=ts)
    return log.append(batch, validate_produced(batch))


def _values(data: bytes) -> list[bytes | None]:
    out = []
    for info in iter_headers(data):
        out += [r.value for r in decode_batch(data, info)]
    return out


def test_offsets_are_assigned_by_the_broker_and_batches_are_stored_as_sent(tmp_path: Path) -> None:
    log = PartitionLog.open(tmp_path / "t-0", "t", 0, 1 << 20, clean=True)
    sent = build_batch([(b"k1", b"one"), (b"k2", b"two")], base_offset=12345)  # client offsets ignored
    assert log.append(sent, validate_produced(sent)) == 0
    assert _append(log, b"three") == 2
    stored = log.read(0, 1 << 20)
    first = parse_header(stored, 0)
    assert first.base_offset == 0 and first.count == 2
    assert stored[16 : first.size] == sent[16:]  # byte for byte after baseOffset/length/epoch
    assert _values(stored) == [b"one", b"two", b"three"]
    assert log.next_offset == 3 and log.log_start_offset == 0
    assert log.read(3, 100) == b""
    with pytest.raises(OffsetOutOfRange):
        log.read(4, 100)
    log.close()


def test_reads_start_at_the_batch_holding_the_offset_across_segments(tmp_path: Path) -> None:
    log = PartitionLog.open(tmp_path / "t-0", "t", 0, 16 * 1024, clean=True)
    for i in range(1000):
        _append(log, b"%04d" % i + b"." * 60)
    assert len(log.segments) > 4
    for offset in (0, 1, 257, 511, 998, 999):
        data = log.read(offset, 300)
        info = parse_header(data, 0)
        assert info.base_offset == offset
        assert decode_batch(data, info)[0].value.startswith(b"%04d" % offset)  # type: ignore[union-attr]
    log.close()
    reopened = PartitionLog.open(tmp_path / "t-0", "t", 0, 16 * 1024, clean=True)
    assert reopened.next_offset == 1000 and len(reopened.segments) == len(log.segments)
    assert parse_header(reopened.read(640, 10), 0).base_offset == 640
    reopened.close()


def test_the_first_batch_is_returned_whole_even_when_larger_than_max_bytes(tmp_path: Path) -> None:
    log = PartitionLog.open(tmp_path / "t-0", "t", 0, 1 << 20, clean=True)
    _append(log, b"x" * 5000)
    _append(log, b"y")
    data = log.read(0, 100)
    assert len(data) == parse_header(data, 0).size > 100
    log.close()


def test_a_torn_write_at_a_crash_is_cut_at_start(tmp_path: Path) -> None:
    log = PartitionLog.open(tmp_path / "t-0", "t", 0, 1 << 20, clean=True)
    for i in range(50):
        _append(log, b"v%d" % i)
    path = log.active.log_path
    log.close()
    good = path.stat().st_size
    torn = build_batch([(None, b"never acknowledged")], base_offset=50)
    with open(path, "ab") as f:
        f.write(torn[: len(torn) // 2])
    # no clean-shutdown marker: the active segment is verified batch by batch
    recovered = PartitionLog.open(tmp_path / "t-0", "t", 0, 1 << 20, clean=False)
    assert recovered.recovered_bytes == len(torn) // 2
    assert path.stat().st_size == good and recovered.next_offset == 50
    assert _append(recovered, b"after") == 50
    assert _values(recovered.read(48, 1 << 20)) == [b"v48", b"v49", b"after"]
    recovered.close()


def test_a_corrupt_batch_is_cut_with_everything_after_it(tmp_path: Path) -> None:
    log = PartitionLog.open(tmp_path / "t-0", "t", 0, 1 << 20, clean=True)
    for i in range(10):
        _append(log, b"value-%d" % i)
    positions = [info.start for info in iter_headers(log.read(0, 1 << 20))]
    path = log.active.log_path
    log.close()
    with open(path, "r+b") as f:  # flip a byte inside batch 6's records
        f.seek(positions[6] + 70)
        byte = f.read(1)
        f.seek(positions[6] + 70)
        f.write(bytes([byte[0] ^ 0xFF]))
    recovered = PartitionLog.open(tmp_path / "t-0", "t", 0, 1 << 20, clean=False)
    assert recovered.next_offset == 6
    assert _values(recovered.read(0, 1 << 20)) == [b"value-%d" % i for i in range(6)]
    recovered.close()


def test_produced_batches_are_validated(tmp_path: Path) -> None:
    good = build_batch([(None, b"ok")])
    with pytest.raises(CorruptBatch, match="CRC"):
        validate_produced(good[:-1] + bytes([good[-1] ^ 1]))
    with pytest.raises(CorruptBatch, match="runs past the end"):
        validate_produced(good[:-3])
    with pytest.raises(CorruptBatch, match="magic"):
        validate_produced(good[:16] + b"\x01" + good[17:])
    with pytest.raises(CorruptBatch, match="empty"):
        validate_produced(b"")
    with pytest.raises(InvalidBatch) as too_large:
        validate_produced(build_batch([(None, b"z" * 1_100_000)]))
    assert too_large.value.too_large


def test_idempotent_producer_duplicates_and_gaps(tmp_path: Path) -> None:
    log = PartitionLog.open(tmp_path / "t-0", "t", 0, 1 << 20, clean=True)

    def batch(seq: int, epoch: int = 0) -> bytes:
        raw = bytearray(build_batch([(None, b"s%d" % seq)]))
        raw[43:57] = (77).to_bytes(8, "big") + epoch.to_bytes(2, "big") + seq.to_bytes(4, "big")
        from crc32c import crc32c

        raw[17:21] = crc32c(bytes(raw[21:])).to_bytes(4, "big")
        return bytes(raw)

    for seq in range(3):
        b = batch(seq)
        assert log.append(b, validate_produced(b)) == seq
    retry = batch(1)
    with pytest.raises(Duplicate) as dup:
        log.append(retry, validate_produced(retry))
    assert dup.value.base_offset == 1
    gap = batch(5)
    with pytest.raises(SequenceError) as err:
        log.append(gap, validate_produced(gap))
    assert err.value.kind == "out_of_order"
    assert log.next_offset == 3
    log.close()
    # the producer window survives a clean restart
    again = PartitionLog.open(tmp_path / "t-0", "t", 0, 1 << 20, clean=True)
    with pytest.raises(Duplicate):
        again.append(retry, validate_produced(retry))
    again.close()


def test_time_retention_drops_whole_old_segments(tmp_path: Path) -> None:
    logs = LogManager(tmp_path / "data", 4096)
    topic = Topic("p.t", "tenant", 1, retention_ms=60_000)
    logs.create("p.t", [0])
    plog = logs.get("p.t", 0)
    assert plog is not None
    now = 1_700_000_000_000
    for i in range(200):
        _append(plog, b"old-%d" % i + b"." * 40, ts=now - 3_600_000)
    for i in range(5):
        _append(plog, b"new-%d" % i, ts=now)
    assert len(plog.segments) > 2
    freed = logs.expire([topic], now_ms=now)
    assert freed > 0 and plog.log_start_offset > 0
    # whole segments go (as in Kafka): what is left is the segment holding the new records
    assert len(plog.segments) == 1 and plog.segments[0].max_timestamp == now
    with pytest.raises(OffsetOutOfRange):
        plog.read(0, 100)
    # everything expired: the active segment is rolled and removed too, offsets keep counting
    logs.expire([topic], now_ms=now + 3_600_000)
    assert plog.size == 0 and plog.log_start_offset == plog.next_offset == 205
    assert _append(plog, b"later") == 205
    logs.close()


def test_capacity_trims_the_oldest_data_of_a_tenant(tmp_path: Path) -> None:
    logs = LogManager(tmp_path / "data", 4096)
    topics = [Topic("p.a", "t", 1, 86_400_000), Topic("p.b", "t", 1, 86_400_000)]
    for t in topics:
        logs.create(t.name, [0])
    a, b = logs.get("p.a", 0), logs.get("p.b", 0)
    assert a is not None and b is not None
    for i in range(100):
        _append(a, b"a" * 100, ts=1000 + i)
    for i in range(100):
        _append(b, b"b" * 100, ts=5000 + i)
    total = a.size + b.size
    freed = logs.enforce_capacity(topics, total // 2)
    assert freed > 0 and a.size + b.size <= total // 2
    assert a.log_start_offset > 0 and b.log_start_offset == 0  # the older topic paid first
    logs.close()


def test_offsets_journal_survives_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "offsets.journal"
    store = OffsetStore(path)
    store.load()
    store.commit("g", [("t", 0, 10, "meta"), ("t", 1, 20, None)])
    store.commit("g", [("t", 0, 11, None)])
    store.close()
    with open(path, "ab") as f:
        f.write(b'{"g":"g","t":"t","p":0,"o":99')  # crash mid-line
    again = OffsetStore(path)
    assert again.load() > 0
    c = again.get("g", "t", 0)
    assert c is not None and c.offset == 11
    assert again.get("g", "t", 1).offset == 20  # type: ignore[union-attr]
    again.delete_topic("t")
    again.close()
    third = OffsetStore(path)
    third.load()
    assert third.group_offsets("g") == {}
    third.close()


def test_journal_compaction_keeps_only_the_live_offsets(tmp_path: Path) -> None:
    path = tmp_path / "offsets.journal"
    store = OffsetStore(path)
    store.load()
    for i in range(3000):
        store.commit("g", [("t", 0, i, None)])
    store.compact()
    assert len(path.read_bytes().splitlines()) == 1
    store.close()
    again = OffsetStore(path)
    again.load()
    assert again.get("g", "t", 0).offset == 2999  # type: ignore[union-attr]
    again.close()


def test_deleting_a_topic_removes_its_files(tmp_path: Path) -> None:
    logs = LogManager(tmp_path / "data", 4096)
    logs.create("p.gone", [0, 1])
    _append(logs.get("p.gone", 0), b"x")  # type: ignore[arg-type]
    logs.delete("p.gone")
    assert logs.get("p.gone", 0) is None
    assert os.listdir(tmp_path / "data") == []


def test_compaction_keeps_the_newest_value_per_key(tmp_path: Path) -> None:
    logs = LogManager(tmp_path / "data", 1 << 20)
    topic = Topic("p.kv", "t", 1, 86_400_000, compaction=True)
    logs.create("p.kv", [0])
    plog = logs.get("p.kv", 0)
    assert plog is not None
    now = 1_700_000_000_000
    for round_ in range(5):
        for key in (b"a", b"b", b"c"):
            _append(plog, b"%s=%d" % (key, round_), key=key, ts=now - 1000 + round_)
    both = build_batch(
        [(b"d", b"d=0"), (b"a", b"a=final")], timestamp_ms=now
    )  # one batch, half superseded below
    plog.append(both, validate_produced(both))
    tomb = build_batch([(b"b", None)], timestamp_ms=now - 2 * 86_400_000)
    plog.append(tomb, validate_produced(tomb))
    _append(plog, b"d=1", key=b"d", ts=now)
    _append(plog, b"no key", ts=now)
    before = plog.size
    freed = logs.compact([topic], now_ms=now, roll=True)
    assert freed > 0 and plog.size == before - freed
    survivors = []
    for seg in plog.segments:
        for data in (seg.read(i.start, i.size) for _p, i in seg.batches_from(0)):
            survivors += [(r.offset, r.key, r.value) for r in decode_batch(data, parse_header(data, 0))]
    assert survivors == [
        (14, b"c", b"c=4"),
        (16, b"a", b"a=final"),
        (18, b"d", b"d=1"),
        (19, None, b"no key"),
    ]
    # offsets keep their numbers; reads and restarts cope with the gaps
    assert parse_header(plog.read(0, 100), 0).base_offset == 14
    assert decode_batch(plog.read(17, 10_000), parse_header(plog.read(17, 10_000), 0))[0].offset == 18
    assert logs.compact([topic], now_ms=now) == 0  # nothing new to clean
    logs.close()
    reopened = LogManager(tmp_path / "data", 1 << 20)
    reopened.open_all([topic], clean=False)
    again = reopened.get("p.kv", 0)
    assert again is not None and again.next_offset == 20 and again.recovered_bytes == 0
    assert _append(again, b"c=5", key=b"c") == 20
    reopened.close()
