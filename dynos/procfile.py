"""Procfile parsing: `<type>: <command>` per line, with line-numbered errors.

Lines end at `\\n` (or `\\r\\n`) and nowhere else: `str.splitlines()` would also break at
`\\x0b`, `\\x0c`, `\\x1c`-`\\x1e`, `\\x85`, `\\u2028` and `\\u2029`, so a command holding one of
those would quietly declare a second process type. Those characters (and every other control
character but tab) are refused with the line they are on. A UTF-8 byte order mark, as some
Windows editors write, is accepted.

Bounds (a Procfile is user input): at most `MAX_TYPES` process types, a type name of at most
`MAX_TYPE_LENGTH` characters (Heroku's formation type pattern is `^[-\\w]{1,128}$`), a command of
at most `MAX_COMMAND_LENGTH` characters and a file of at most `MAX_PROCFILE_BYTES`.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

MAX_PROCFILE_BYTES = 64 * 1024
MAX_TYPES = 100
MAX_TYPE_LENGTH = 128
MAX_COMMAND_LENGTH = 8192

_TYPE = re.compile(r"[A-Za-z0-9_-]+")
_LINE = re.compile(r"([^:]*):[ \t]*(.*)", re.DOTALL)
_BLANK = " \t"


class ProcfileError(ValueError):
    pass


def _lines(text: str) -> list[str]:
    """Split at `\\n` only; a `\\r` right before it belongs to the line ending."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _control_character(line: str) -> str | None:
    for char in line:
        if char != "\t" and (unicodedata.category(char) == "Cc" or char in "\u2028\u2029"):
            return f"U+{ord(char):04X}"
    return None


def _parse_line(number: int, line: str) -> tuple[str, str]:
    """One non-blank, non-comment line → (type, command), or a ProcfileError naming the line."""
    bad = _control_character(line)
    if bad is not None:
        raise ProcfileError(f"Procfile line {number}: control character {bad} is not allowed")
    match = _LINE.fullmatch(line)
    if match is None:
        raise ProcfileError(f"Procfile line {number}: expected '<type>: <command>', got {line!r}")
    ptype, command = match.group(1).strip(_BLANK), match.group(2).strip(_BLANK)
    if not ptype:
        raise ProcfileError(f"Procfile line {number}: expected '<type>: <command>', got {line!r}")
    if not _TYPE.fullmatch(ptype):
        raise ProcfileError(
            f"Procfile line {number}: process type {ptype!r} may only contain letters, digits, '-' and '_'"
        )
    if len(ptype) > MAX_TYPE_LENGTH:
        raise ProcfileError(
            f"Procfile line {number}: process type name is {len(ptype)} characters long (max {MAX_TYPE_LENGTH})"
        )
    if not command:
        raise ProcfileError(f"Procfile line {number}: process type {ptype!r} has no command")
    if len(command) > MAX_COMMAND_LENGTH:
        raise ProcfileError(
            f"Procfile line {number}: the command of {ptype!r} is {len(command)} characters long "
            f"(max {MAX_COMMAND_LENGTH})"
        )
    return ptype, command


def parse_procfile(text: str) -> dict[str, str]:
    types: dict[str, str] = {}
    for number, raw in enumerate(_lines(text), start=1):
        line = raw.strip(_BLANK)
        if not line or line.startswith("#"):
            continue
        ptype, command = _parse_line(number, line)
        if ptype in types:
            raise ProcfileError(f"Procfile line {number}: process type {ptype!r} is defined twice")
        if len(types) == MAX_TYPES:
            raise ProcfileError(f"Procfile line {number}: more than {MAX_TYPES} process types")
        types[ptype] = command
    return types


def read_procfile(directory: Path) -> dict[str, str]:
    path = directory / "Procfile"
    if not path.is_file():
        return {}
    with path.open("rb") as f:
        data = f.read(MAX_PROCFILE_BYTES + 1)
    if len(data) > MAX_PROCFILE_BYTES:
        raise ProcfileError(f"Procfile is larger than {MAX_PROCFILE_BYTES // 1024} KB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ProcfileError(f"Procfile line {line}: not valid UTF-8 text") from None
    return parse_procfile(text)
