"""A router process's outbox: records share frames, reach the daemon within milliseconds, and a
daemon that stops reading costs records (counted), never memory without bound."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from router.fleet import outbox as outbox_module
from router.fleet.outbox import Outbox
from router.fleet.wire import read_message
from router.metrics import RequestRecord


class Writer:
    """The channel's writer: frames land in a StreamReader, as the daemon would read them."""

    def __init__(self, buffered: int = 0) -> None:
        self.reader = asyncio.StreamReader()
        self.frames = 0
        self.transport = self
        self.buffered = buffered

    def write(self, data: bytes) -> None:
        self.frames += 1
        self.reader.feed_data(data)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return self.buffered


def _record(n: int) -> RequestRecord:
    return RequestRecord(
        "demo",
        "web.1",
        None,
        200,
        0,
        n,
        2,
        "GET",
        f"/{n}",
        "demo.localhost",
        f"id-{n}",
        "info",
        n,
        time.time(),
    )


def _finish(box: Outbox, n: int) -> None:
    box.line("demo", f"at=info path=/{n}")
    box.record(_record(n))


async def test_requests_finished_together_share_one_frame_sent_within_milliseconds() -> None:
    writer = Writer()
    box = Outbox(writer, 1 << 20)  # type: ignore[arg-type]
    started = time.monotonic()
    for n in range(50):
        _finish(box, n)
        if n % 10 == 9:
            await asyncio.sleep(0)  # several loop turns: still one frame
    assert writer.frames == 0
    message: dict[str, Any] = await asyncio.wait_for(read_message(writer.reader), 1)
    assert time.monotonic() - started < 0.5
    assert writer.frames == 1 and len(message["records"]) == 50 and len(message["lines"]) == 50
    assert [r[8] for r in message["records"]] == [f"/{n}" for n in range(50)]


async def test_a_full_batch_goes_at_once() -> None:
    writer = Writer()
    box = Outbox(writer, 1 << 20)  # type: ignore[arg-type]
    for n in range(outbox_module.BATCH_MAX):
        _finish(box, n)
    assert writer.frames == 1  # no waiting for the timer
    _finish(box, -1)
    box.flush()  # a figures query flushes what is pending: the answer comes after every record
    assert writer.frames == 2 and box.records_sent == outbox_module.BATCH_MAX + 1


async def test_a_daemon_that_does_not_read_loses_records_counted() -> None:
    writer = Writer(buffered=2 << 20)
    box = Outbox(writer, 1 << 20)  # type: ignore[arg-type]
    for n in range(10):
        _finish(box, n)
    box.flush()
    assert writer.frames == 0
    assert box.figures() == {"records_sent": 0, "records_dropped": 10, "lines_dropped": 10}
