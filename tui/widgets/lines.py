"""How a log line looks: router lines coloured by level and code, dyno lines by source.

A renderer turns a `LogEntry` into `(text, style)` parts; `StreamLog` turns the parts straight
into segments. No Rich `Text` in between: at thousands of lines a second, every visible new
line is rendered once per frame, and this is the cheap way to do it.
"""

from __future__ import annotations

import re

from tui.model import LogEntry

Parts = list[tuple[str, str]]

LEVEL_STYLE = {"error": "bold red", "warning": "bold yellow", "info": "green"}
BODY_STYLE = {"error": "red", "warning": "yellow", "info": ""}
STATUS_STYLE = {"2": "green", "3": "cyan", "4": "yellow", "5": "bold red"}
_NOISE = re.compile(r' (?:host|request_id|fwd|protocol|tls|tls_version)=(?:"(?:[^"\\]|\\.)*"|\S*)')
_HIGHLIGHT = re.compile(r'(?:^| )(at|code|desc|status|dyno)=("(?:[^"\\]|\\.)*"|\S*)')
_CONTROL = re.compile("[\u0000-\u0008\u000b-\u001f\u007f]")


def code_style(code: str) -> str:
    """H1x crashes/timeouts red, H2x connection trouble magenta, H8x platform states blue."""
    if code.startswith("H8"):
        return "bold blue"
    if code.startswith("H2"):
        return "bold magenta"
    if code.startswith("R"):
        return "bold red"
    if code.startswith("L"):
        return "bold yellow"
    return "bold white on red"


def compact(text: str) -> str:
    """The router line without the fields that differ on every request and say little here."""
    return _NOISE.sub("", text)


def clean(text: str) -> str:
    """App output may hold tabs and control characters; neither belongs on a terminal line."""
    if "\t" in text:
        text = text.expandtabs()
    return _CONTROL.sub("�", text) if _CONTROL.search(text) else text


def router_parts(entry: LogEntry, full: bool = False) -> Parts:
    raw = clean(entry.text if full else compact(entry.text))
    body_style = BODY_STYLE.get(entry.level, "")
    parts: Parts = [(entry.clock + " ", "dim"), ("heroku[router]: ", "magenta")]
    pos = 0
    for match in _HIGHLIGHT.finditer(raw):
        key, value = match.group(1), match.group(2)
        if key == "at":
            style = LEVEL_STYLE.get(value, "")
        elif key == "code":
            style = code_style(value)
        elif key == "desc":
            style = "bold " + body_style if body_style else "bold"
        elif key == "status":
            style = STATUS_STYLE.get(value[:1], "")
        else:
            style = "cyan"
        start = match.start(1)
        if start > pos:
            parts.append((raw[pos:start], body_style))
        parts.append((raw[start : match.end()], style))
        pos = match.end()
    if pos < len(raw):
        parts.append((raw[pos:], body_style))
    return parts


def router_parts_full(entry: LogEntry) -> Parts:
    return router_parts(entry, full=True)


def log_parts(entry: LogEntry) -> Parts:
    if entry.is_router:
        return router_parts(entry, full=True)
    source_style = "blue" if entry.dyno == "api" else "cyan" if entry.source == "app" else "magenta"
    text = clean(entry.text)
    style = ""
    if entry.code:
        style = "bold red" if entry.level == "error" else "yellow"
    elif "State changed" in text:
        style = "bold red" if "crashed" in text else "bold"
    parts: Parts = [(entry.clock + " ", "dim"), (f"{entry.source}[{entry.dyno}]: ", source_style)]
    if entry.code and entry.code in text:
        before, _, after = text.partition(entry.code)
        parts += [(before, style), (entry.code, code_style(entry.code)), (after, style)]
    else:
        parts.append((text, style))
    return parts
