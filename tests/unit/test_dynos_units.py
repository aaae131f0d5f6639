"""Pure pieces of the dyno manager: Procfile, output lines, shell script, formats, back-off."""

from __future__ import annotations

from pathlib import Path

import pytest

from dynos.manager import sort_key
from dynos.output import LineBudget, LineSplitter
from dynos.procfile import (
    MAX_COMMAND_LENGTH,
    MAX_PROCFILE_BYTES,
    MAX_TYPE_LENGTH,
    MAX_TYPES,
    ProcfileError,
    parse_procfile,
    read_procfile,
)
from dynos.runtimes.base import exit_status
from dynos.runtimes.process import free_port, shell_script
from dynos.sizes import SIZES, get_size
from dynos.supervisor import Supervisor, fmt_seconds, memory_line


def test_procfile_types_and_comments() -> None:
    text = "# comment\nweb: gunicorn app:app --bind 0.0.0.0:$PORT\n\nworker:python worker.py\nrelease: ./migrate\n"
    assert parse_procfile(text) == {
        "web": "gunicorn app:app --bind 0.0.0.0:$PORT",
        "worker": "python worker.py",
        "release": "./migrate",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("web: ok\nthis line is wrong\n", "Procfile line 2: expected '<type>: <command>'"),
        ("web: a\nweb: b\n", "Procfile line 2: process type 'web' is defined twice"),
        ("\n\nweb:\n", "Procfile line 3: process type 'web' has no command"),
        ("we b: x\n", "Procfile line 1: process type 'we b' may only contain"),
    ],
)
def test_procfile_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ProcfileError) as err:
        parse_procfile(text)
    assert str(err.value).startswith(message)


@pytest.mark.parametrize("separator", ["\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029", "\r"])
def test_procfile_lines_end_at_newline_only(separator: str) -> None:
    # splitlines() would make `worker` a second process type here
    text = f"web: python app.py{separator}worker: python evil.py\nclock: python clock.py\n"
    with pytest.raises(ProcfileError) as err:
        parse_procfile(text)
    assert str(err.value) == f"Procfile line 1: control character U+{ord(separator):04X} is not allowed"


def test_procfile_accepts_crlf_bom_and_tabs() -> None:
    text = "\ufeffweb:\tpython app.py\r\n\r\n# comment\r\nworker :  python w.py  \r\n"
    assert parse_procfile(text) == {"web": "python app.py", "worker": "python w.py"}


def test_procfile_is_bounded() -> None:
    many = "".join(f"t{i}: run {i}\n" for i in range(MAX_TYPES + 1))
    with pytest.raises(
        ProcfileError, match=f"^Procfile line {MAX_TYPES + 1}: more than {MAX_TYPES} process types$"
    ):
        parse_procfile(many)
    assert len(parse_procfile("".join(f"t{i}: run\n" for i in range(MAX_TYPES)))) == MAX_TYPES
    long_name = "w" * (MAX_TYPE_LENGTH + 1)
    with pytest.raises(
        ProcfileError, match=f"^Procfile line 2: process type name is {MAX_TYPE_LENGTH + 1} characters"
    ):
        parse_procfile(f"web: ok\n{long_name}: run\n")
    with pytest.raises(
        ProcfileError, match=r"^Procfile line 1: the command of 'web' is 8193 characters long"
    ):
        parse_procfile("web: " + "x" * (MAX_COMMAND_LENGTH + 1))


def test_read_procfile(tmp_path: Path) -> None:
    assert read_procfile(tmp_path) == {}
    (tmp_path / "Procfile").write_bytes(b"web: ok\nworker: \xff\n")
    with pytest.raises(ProcfileError, match=r"^Procfile line 2: not valid UTF-8 text$"):
        read_procfile(tmp_path)
    (tmp_path / "Procfile").write_bytes(b"\xef\xbb\xbfweb: ok\r\n")
    assert read_procfile(tmp_path) == {"web": "ok"}
    (tmp_path / "Procfile").write_bytes(b"#" * (MAX_PROCFILE_BYTES + 1))
    with pytest.raises(ProcfileError, match=r"^Procfile is larger than 64 KB$"):
        read_procfile(tmp_path)


def test_sizes_match_heroku_quotas() -> None:
    quotas = {name: size.memory_mb for name, size in SIZES.items()}
    assert quotas == {
        "eco": 512,
        "basic": 512,
        "standard-1x": 512,
        "standard-2x": 1024,
        "performance-m": 2560,
        "performance-l": 14336,
    }
    assert get_size("Standard-2X").hard_limit_bytes == 2 * 1024 * 1024 * 1024
    with pytest.raises(ValueError, match="Unknown dyno size"):
        get_size("huge")


def test_line_splitter() -> None:
    lines: list[str] = []
    s = LineSplitter(lines.append, max_partial=10)
    s.feed("stdout", b"one\r\ntw")
    assert lines == ["one"]
    s.feed("stdout", b"o\nthree")
    s.feed("stderr", b"err\n")
    assert lines == ["one", "two", "err"]
    s.feed("stdout", b"")
    assert lines[-1] == "three"
    s.feed("stdout", b"0123456789abc")
    assert lines[-1] == "0123456789"
    s.feed("stdout", b"\xff\n")
    assert lines[-1] == "abc\ufffd"


def test_shell_script(tmp_path: Path) -> None:
    assert shell_script("python app.py", tmp_path) == "python app.py"
    (tmp_path / ".profile.d").mkdir()
    script = shell_script("python app.py", tmp_path)
    assert script.endswith("\nexec python app.py")
    assert ".profile.d" in script
    assert shell_script("cd x && python app.py", tmp_path).endswith("\ncd x && python app.py")
    assert shell_script("cd x", tmp_path).endswith("\ncd x")


def test_formats() -> None:
    assert fmt_seconds(60.0) == "60"
    assert fmt_seconds(2.5) == "2.5"
    assert memory_line(600 * 1024 * 1024, 512 * 1024 * 1024) == "Process running mem=600M(117.2%)"
    assert exit_status(-15) == 143 and exit_status(-9) == 137 and exit_status(3) == 3


def test_backoff_doubles_to_the_cap() -> None:
    class Settings:
        crash_backoff_max = 1200.0

    class Ctx:
        settings = Settings()

    sup = Supervisor.__new__(Supervisor)
    sup.ctx = Ctx()  # type: ignore[assignment]
    delays = []
    for crashes in range(1, 6):
        sup.crashes = crashes
        delays.append(sup.backoff_delay())
    assert delays == [0.0, 600.0, 1200.0, 1200.0, 1200.0]


def test_sort_key_orders_dynos_like_heroku() -> None:
    names = ["worker.1", "web.10", "run.1234", "web.2", "web.1"]
    assert sorted(names, key=sort_key) == ["web.1", "web.2", "web.10", "worker.1", "run.1234"]


def test_free_port_skips_taken() -> None:
    port = free_port()
    assert 0 < port < 65536
    assert free_port({port}) != port


def test_line_budget_drops_and_reports_l12() -> None:
    now = [0.0]
    budget = LineBudget(rate=10, burst=3, clock=lambda: now[0])
    lines: list[str] = []
    reports: list[str] = []
    s = LineSplitter(lines.append, budget=budget, report=reports.append)
    s.feed("stdout", b"1\n2\n3\n4\n5\n")
    assert lines == ["1", "2", "3"] and budget.dropped == 2
    now[0] = 0.1  # one token back
    s.feed("stdout", b"6\n")
    assert lines[-1] == "6"
    assert len(reports) == 1
    assert reports[0].startswith("Error L12 (Local buffer overflow) -> 2 messages dropped since ")
    assert budget.dropped_total == 2 and budget.report() is None
