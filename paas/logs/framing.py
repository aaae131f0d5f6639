"""Logplex's drain frames: RFC 5424 messages with RFC 6587 octet counting.

One frame is `<len> <PRI>1 <timestamp> <drain token> <source> <dyno> - <text>\n`, where
`len` counts the bytes after its space (the trailing newline included), as Logplex writes
them: the drain token stands in the HOSTNAME field, the source (`app` / `heroku`) in
APP-NAME, the dyno (`web.1`, `router`) in PROCID, MSGID is `-` and no structured data.
Facilities as Heroku's: local7 for app output, local3 for the router, local0 for the rest.
"""

from __future__ import annotations

from common.loghub import LogLine

INFO = 6
LOCAL0, LOCAL3, LOCAL7 = 16, 19, 23


def priority(line: LogLine) -> int:
    if line.source == "app" and line.dyno != "api":
        return LOCAL7 * 8 + INFO  # 190
    if line.dyno == "router":
        return LOCAL3 * 8 + INFO  # 158
    return LOCAL0 * 8 + INFO  # 134


def message(line: LogLine, token: str) -> bytes:
    """One RFC 5424 message (without its octet count)."""
    text = line.text.replace("\n", " ")
    head = f"<{priority(line)}>1 {line.ts} {token} {line.source} {line.dyno} - "
    return (head + text + "\n").encode("utf-8", "replace")


def frame(line: LogLine, token: str) -> bytes:
    """One octet-counted frame, ready for a syslog TCP stream or an HTTPS drain's body."""
    msg = message(line, token)
    return b"%d %s" % (len(msg), msg)
