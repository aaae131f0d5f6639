"""How a log line looks: router lines coloured by level and code, dyno lines by source."""

from __future__ import annotations

import re

from rich.text import Text

from tui.model import LogEntry

LEVEL_STYLE = {"error": "bold red", "warning": "yellow", "info": "green"}
BODY_STYLE = {"error": "red", "warning": "yellow", "info": ""}
STATUS_STYLE = {"2": "green", "3": "cyan", "4": "yellow", "5": "bold red"}


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


_NOISE = re.compile(r' (?:host|request_id|fwd|protocol|tls|tls_version)=(?:"(?:[^"\\]|\\.)*"|\S*)')


def compact(text: str) -> str:
    """The router line without the fields that differ on every request and say little here."""
    return _NOISE.sub("", text)


def render_router(entry: LogEntry, full: bool = False) -> Text:
    text = Text(no_wrap=True)
    text.append(entry.clock + " ", style="dim")
    text.append("heroku[router]: ", style="magenta")
    raw = entry.text if full else compact(entry.text)
    body = Text(raw, style=BODY_STYLE.get(entry.level, ""))
    _highlight_value(body, raw, "at=", LEVEL_STYLE.get(entry.level, ""))
    if entry.code:
        _highlight_value(body, raw, "code=", code_style(entry.code))
        _highlight_value(body, raw, "desc=", "bold")
    status = (entry.fields or {}).get("status", "")
    if status:
        _highlight_value(body, raw, "status=", STATUS_STYLE.get(status[0], ""))
    _highlight_value(body, raw, "dyno=", "cyan")
    text.append_text(body)
    return text


def render_router_full(entry: LogEntry) -> Text:
    return render_router(entry, full=True)


def render_log(entry: LogEntry) -> Text:
    if entry.is_router:
        return render_router(entry, full=True)
    text = Text(no_wrap=True)
    text.append(entry.clock + " ", style="dim")
    source_style = "cyan" if entry.source == "app" else "magenta"
    if entry.dyno == "api":
        source_style = "blue"
    text.append(f"{entry.source}[{entry.dyno}]: ", style=source_style)
    style = ""
    if entry.code:
        style = "bold red" if entry.level == "error" else "yellow"
    elif "State changed" in entry.text and "crashed" in entry.text:
        style = "bold red"
    elif "State changed" in entry.text:
        style = "bold"
    text.append(entry.text, style=style)
    if entry.code:
        text.highlight_words([entry.code], code_style(entry.code))
    return text


def _highlight_value(text: Text, raw: str, key: str, style: str) -> None:
    if not style:
        return
    start = raw.find(key)
    if start < 0 or (start > 0 and raw[start - 1] not in " "):
        # keys appear after a space (or first); a quoted value could contain "key="
        start = raw.find(" " + key)
        if start < 0:
            return
        start += 1
    value_start = start + len(key)
    if value_start < len(raw) and raw[value_start] == '"':
        end = raw.find('"', value_start + 1) + 1 or len(raw)
    else:
        end = raw.find(" ", value_start)
        end = len(raw) if end < 0 else end
    text.stylize(style, start, end)
