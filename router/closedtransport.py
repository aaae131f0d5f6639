"""What a connection's `transport` becomes once the connection is gone.

A protocol and its transport reference each other (and the protocol's httptools parser
references the protocol): left in place, every finished connection is a reference cycle that
only the cyclic GC frees, which costs the router measurable CPU when a new dyno connection
is opened per request. Dropping both references in `connection_lost` lets reference
counting free them at once. Code that still reaches for the transport afterwards (it should
check `closed` first) finds this inert stand-in rather than None.
"""

from __future__ import annotations

import asyncio
from typing import Any


class ClosedTransport(asyncio.Transport):
    def is_closing(self) -> bool:
        return True

    def write(self, data: Any) -> None:
        pass

    def writelines(self, list_of_data: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


CLOSED = ClosedTransport()
