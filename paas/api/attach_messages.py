"""The messages a client sends on a one-off dyno's attach WebSocket, validated whole.

    {"type": "start", "tty": bool, "rows": int, "cols": int}    first message (tty/rows/cols optional)
    {"type": "stdin_eof"}
    {"type": "resize", "rows": int, "cols": int}
    {"type": "signal", "signal": "INT" | 2}

Binary frames are stdin. Anything else is answered with `{"type": "error", "message": ...}`
naming what was wrong (a bad start message also ends the dyno: it never started).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

MAX_TERMINAL_SIZE = 10000  # rows or columns: bigger is no terminal


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Start(_Message):
    type: Literal["start"]
    tty: bool = False
    rows: int = Field(24, ge=1, le=MAX_TERMINAL_SIZE)
    cols: int = Field(80, ge=1, le=MAX_TERMINAL_SIZE)


class StdinEof(_Message):
    type: Literal["stdin_eof"]


class Resize(_Message):
    type: Literal["resize"]
    rows: int = Field(ge=1, le=MAX_TERMINAL_SIZE)
    cols: int = Field(ge=1, le=MAX_TERMINAL_SIZE)


class SendSignal(_Message):
    type: Literal["signal"]
    signal: str | int = "INT"


Control = Annotated[StdinEof | Resize | SendSignal, Field(discriminator="type")]

_START = TypeAdapter(Start)
_CONTROL: TypeAdapter[StdinEof | Resize | SendSignal] = TypeAdapter(Control)


class BadMessage(ValueError):
    """The message says what was wrong with it, for the client."""


def _explain(what: str, exc: ValidationError) -> BadMessage:
    problems = []
    for error in exc.errors(include_url=False)[:5]:
        where = ".".join(str(part) for part in error["loc"] if not str(part).startswith("function-"))
        problems.append(f"{where}: {error['msg']}" if where else str(error["msg"]))
    return BadMessage(f"invalid {what}: " + "; ".join(problems))


def parse_start(text: str | None) -> Start:
    if text is None:
        raise BadMessage('the first message must be the start message, as JSON text: {"type": "start", ...}')
    try:
        return _START.validate_json(text)
    except ValidationError as exc:
        raise _explain("start message", exc) from None


def parse_control(text: str) -> StdinEof | Resize | SendSignal:
    try:
        return _CONTROL.validate_json(text)
    except ValidationError as exc:
        raise _explain("message", exc) from None
