"""The daemon ↔ router-process channel's frames: what a router process sends is what the daemon
reads, field for field, and a broken frame closes the channel instead of crashing the reader."""

from __future__ import annotations

import asyncio
import dataclasses
import struct
from typing import Any

import pytest

from router.fleet.wire import (
    ChannelClosed,
    encode,
    encode_out,
    read_message,
    record_from_wire,
    record_to_wire,
)
from router.metrics import RequestRecord


def _record(**changes: Any) -> RequestRecord:
    rec = RequestRecord(
        "demo", "web.2", "H12", 503, 1, 30000, 0, "POST", '/a?b="c"', "demo.localhost",
        "f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9", "error", 30001, 1_796_500_000.25,
    )  # fmt: skip
    return dataclasses.replace(rec, **changes)


def _read(*frames: bytes) -> list[dict[str, object]]:
    async def go() -> list[dict[str, object]]:
        reader = asyncio.StreamReader()
        for frame in frames:
            reader.feed_data(frame)
        reader.feed_eof()
        out = []
        for _ in frames:
            out.append(await read_message(reader))
        return out

    return asyncio.run(go())


def test_a_record_crosses_whole_with_every_field_in_order() -> None:
    rec = _record(dyno=None, code=None, connect_ms=None, service_ms=None, bytes=None)
    assert len(record_to_wire(rec)) == len(dataclasses.fields(RequestRecord))
    assert record_from_wire(record_to_wire(rec)) == rec


def test_a_batch_of_lines_and_records_reads_back_between_json_messages() -> None:
    records = [_record(service_ms=i, path=f"/é/{i}") for i in range(50)]
    lines = [("demo", f'at=info method=GET path="/é/{i}" status=200') for i in range(50)]
    before, batch, after = _read(
        encode({"op": "ack", "seq": 7}),
        encode_out(lines, [record_to_wire(r) for r in records]),
        encode({"op": "ready", "pid": 1, "seq": 7}),
    )
    assert before == {"op": "ack", "seq": 7}
    assert batch["op"] == "out"
    assert [tuple(line) for line in batch["lines"]] == lines  # type: ignore[attr-defined]
    assert [record_from_wire(r) for r in batch["records"]] == records  # type: ignore[attr-defined]
    assert after["op"] == "ready"


@pytest.mark.parametrize(
    "body",
    [b"\x00garbage", b"", b"N", b"\xe9\x01\x00\x00\x00N"],  # not marshal, empty, None, an int
    ids=["garbage", "empty", "none", "an-int"],
)
def test_a_broken_batch_closes_the_channel_with_a_reason(body: bytes) -> None:
    frame = struct.pack(">I", len(body) | 0x8000_0000) + body
    with pytest.raises(ChannelClosed):
        _read(frame)


def test_an_oversized_frame_is_refused_before_it_is_read() -> None:
    with pytest.raises(ChannelClosed, match="frame of"):
        _read(struct.pack(">I", 0x7FFF_FFFF))
    with pytest.raises(ChannelClosed, match="frame of"):
        _read(struct.pack(">I", 0xFFFF_FFFF))
