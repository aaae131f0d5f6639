"""Procfile parsing: `<type>: <command>` per line, with line-numbered errors."""

from __future__ import annotations

import re
from pathlib import Path

_LINE = re.compile(r"([A-Za-z0-9_-]+)\s*:\s*(.*)")


class ProcfileError(ValueError):
    pass


def parse_procfile(text: str) -> dict[str, str]:
    types: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        if not match:
            name = line.split(":", 1)[0].strip() if ":" in line else ""
            if name and not re.fullmatch(r"[A-Za-z0-9_-]+", name):
                raise ProcfileError(
                    f"Procfile line {number}: process type {name!r} may only contain letters, digits, '-' and '_'"
                )
            raise ProcfileError(f"Procfile line {number}: expected '<type>: <command>', got {raw.strip()!r}")
        ptype, command = match.group(1), match.group(2).strip()
        if not command:
            raise ProcfileError(f"Procfile line {number}: process type {ptype!r} has no command")
        if ptype in types:
            raise ProcfileError(f"Procfile line {number}: process type {ptype!r} is defined twice")
        types[ptype] = command
    return types


def read_procfile(directory: Path) -> dict[str, str]:
    path = directory / "Procfile"
    if not path.is_file():
        return {}
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError:
        raise ProcfileError("Procfile is not valid UTF-8 text") from None
    return parse_procfile(text)
