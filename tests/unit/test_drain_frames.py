"""Logplex's frames and a drain's bounded buffer, without a network."""

from __future__ import annotations

import asyncio
import re

import pytest

from common.errors import PaasError
from common.loghub import LogLine
from paas.logs.buffer import DrainBuffer
from paas.logs.framing import frame
from paas.logs.target import parse_target

TS = "2026-12-05T12:00:00.123456+00:00"
TOKEN = "d.73ea7440-270a-435a-a0ea-adf50b4e5f5a"


def test_a_frame_counts_its_octets_newline_included() -> None:
    line = LogLine(TS, "demo", "heroku", "web.3", "State changed from starting to up")
    data = frame(line, TOKEN)
    count, _, msg = data.partition(b" ")
    assert int(count) == len(msg)
    assert msg == f"<134>1 {TS} {TOKEN} heroku web.3 - State changed from starting to up\n".encode()


@pytest.mark.parametrize(
    ("source", "dyno", "pri"),
    [("app", "web.1", 190), ("heroku", "router", 158), ("heroku", "web.1", 134), ("app", "api", 134)],
)
def test_facilities_are_local7_local3_local0(source: str, dyno: str, pri: int) -> None:
    assert frame(LogLine(TS, "demo", source, dyno, "x"), TOKEN).split(b" ", 2)[1].startswith(b"<%d>1" % pri)


def test_multibyte_text_is_counted_in_bytes() -> None:
    data = frame(LogLine(TS, "demo", "app", "web.1", "héllo ⬢"), TOKEN)
    count, _, msg = data.partition(b" ")
    assert int(count) == len(msg) and msg.decode().endswith("héllo ⬢\n")


def test_the_buffer_keeps_1024_drops_the_oldest_and_reports_l10() -> None:
    async def run() -> None:
        buf = DrainBuffer()
        lines = [LogLine(TS, "demo", "app", "web.1", f"line {i}") for i in range(1500)]
        reports = [buf.offer(line) for line in lines]
        assert len(buf.lines) == 1024 and buf.dropped == 476 and sum(reports) == 476
        assert buf.take(2)[0].text == "line 476"  # the oldest went first
        text = buf.take_report()
        assert text is not None
        assert re.fullmatch(
            r"Error L10 \(output buffer overflow\): 476 messages dropped since "
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00\.",
            text,
        )
        assert buf.take_report() is None  # said once
        for i in range(2):  # full again
            buf.offer(LogLine(TS, "demo", "app", "web.1", f"refill {i}"))
        assert not buf.offer(LogLine(TS, "demo", "heroku", "logplex", text), report=False)
        assert (
            buf.dropped == 477 and buf.take_report() is None
        )  # the L10 line overflowing: counted, not reported
        assert buf.offer(LogLine(TS, "demo", "app", "web.1", "one more"))
        again = buf.take_report()
        assert again is not None and again.startswith(
            "Error L10 (output buffer overflow): 1 messages dropped"
        )

    asyncio.run(run())


@pytest.mark.parametrize(
    ("url", "scheme", "port"),
    [
        ("syslog://logs.example.com", "syslog", 514),
        ("syslog+tls://logs.example.com:6514", "syslog+tls", 6514),
        ("https://user:pass@logs.example.com/x", "https", 443),
        ("http://127.0.0.1:8080/logs", "http", 8080),
    ],
)
def test_drain_urls(url: str, scheme: str, port: int) -> None:
    target = parse_target(url)
    assert (target.scheme, target.port) == (scheme, port)
    assert "pass" not in target.shown


def test_a_bad_url_is_a_422() -> None:
    with pytest.raises(PaasError) as exc:
        parse_target("syslog://host:notaport")
    assert exc.value.status == 422 and "port" in exc.value.message
