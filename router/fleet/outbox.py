"""A router process's way back to the daemon: request records and log lines, batched, bounded.

What finishes within `FLUSH_DELAY` (2 ms) goes out as one frame: a busy router sends few large
frames (a frame per loop turn cost the daemon a wakeup, two reads and a dispatch for every two
or three requests), and a record reaches the daemon at most 2 ms after its request ended;
`BATCH_MAX` records go at once. The channel is bounded by bytes waiting in our transport (the kernel's socket buffer comes first):
past `limit`, a batch is dropped and counted, never queued without bound. A daemon too busy to
read loses records, not routing.
"""

from __future__ import annotations

import asyncio
from typing import Any

from router.fleet.wire import encode_out, record_to_wire
from router.metrics import RequestRecord

FLUSH_DELAY = 0.002  # seconds a finished request's record may wait for others to share its frame
BATCH_MAX = 1024  # records that go at once, without waiting


class Outbox:
    def __init__(self, writer: asyncio.StreamWriter, limit: int) -> None:
        self.writer = writer
        self.limit = limit
        self._lines: list[tuple[str, str]] = []
        self._records: list[tuple[Any, ...]] = []
        self._timer: asyncio.TimerHandle | None = None
        self.records_sent = 0
        self.records_dropped = 0
        self.lines_dropped = 0

    def line(self, app: str, text: str) -> None:
        """The Router's `log` function."""
        self._lines.append((app, text))
        self._schedule()

    def record(self, rec: RequestRecord) -> None:
        """The Router's `on_request` function."""
        records = self._records
        records.append(record_to_wire(rec))
        if len(records) >= BATCH_MAX:
            self.flush()
        else:
            self._schedule()

    def _schedule(self) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_DELAY, self.flush)

    def flush(self) -> None:
        timer = self._timer
        if timer is not None:
            self._timer = None
            timer.cancel()
        lines, records = self._lines, self._records
        if not lines and not records:
            return
        self._lines, self._records = [], []
        transport = self.writer.transport
        if transport.is_closing() or transport.get_write_buffer_size() > self.limit:
            self.records_dropped += len(records)
            self.lines_dropped += len(lines)
            return
        self.records_sent += len(records)
        self.writer.write(encode_out(lines, records))

    def figures(self) -> dict[str, int]:
        return {
            "records_sent": self.records_sent,
            "records_dropped": self.records_dropped,
            "lines_dropped": self.lines_dropped,
        }
