"""Turns a dyno's raw output chunks into log lines, the way log-shuttle does on Heroku.

Every complete line becomes one `app[web.1]` line at once. A partial line waits for its
newline, for end of stream, or until it reaches `MAX_PARTIAL` bytes (then it is cut, like
Logplex cuts lines over 10,000 bytes). A trailing `\\r` is dropped (CRLF output).
"""

from __future__ import annotations

from collections.abc import Callable

MAX_PARTIAL = 10_000


class LineSplitter:
    def __init__(self, emit: Callable[[str], None], max_partial: int = MAX_PARTIAL):
        self.emit = emit
        self.max_partial = max_partial
        self._partial: dict[str, bytearray] = {}

    def feed(self, stream: str, chunk: bytes) -> None:
        """Feed raw output; `chunk == b""` means end of that stream (flush its partial line)."""
        buf = self._partial.setdefault(stream, bytearray())
        if not chunk:
            if buf:
                self._line(bytes(buf))
                buf.clear()
            return
        buf += chunk
        start = 0
        while True:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            self._line(bytes(buf[start:end]))
            start = end + 1
        del buf[:start]
        while len(buf) >= self.max_partial:
            self._line(bytes(buf[: self.max_partial]))
            del buf[: self.max_partial]

    def _line(self, raw: bytes) -> None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        self.emit(raw.decode("utf-8", "replace"))
