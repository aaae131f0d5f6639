"""Secrets at rest: a new home is born private, an existing one is tightened with one line."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.errors import StartupError
from common.private import PRIVATE_UMASK, is_private, secure_home


@pytest.fixture(autouse=True)
def keep_umask() -> Iterator[None]:
    before = os.umask(0o022)
    os.umask(before)
    try:
        yield
    finally:
        os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def old_home(root: Path) -> Path:
    """A home as a daemon made it before the fix: everything group/world readable."""
    os.umask(0o022)
    home = root / "home"
    for d in ("kafka", "ca/issued", "postgres", "slugs/app/one"):
        (home / d).mkdir(parents=True)
    for f in (
        "state.sqlite3",
        "state.sqlite3-wal",
        "state.sqlite3-shm",
        "token",
        "daemon.json",
        "kafka/registry.json",
        "ca/ca.key",
        "ca/ca.pem",
        "ca/issued/kafka.key",
        "postgres/cluster.json",
        "slugs/app/one/app.py",
    ):
        (home / f).write_text("secret\n")
    os.chmod(home, 0o755)
    return home


def test_a_new_home_is_private_and_later_files_are_born_private(tmp_path: Path) -> None:
    lines: list[str] = []
    home = tmp_path / "a" / "home"
    assert secure_home(home, log=lines.append) == []
    assert mode(home) == 0o700
    assert lines == []  # nothing to tighten: nothing said
    assert os.umask(PRIVATE_UMASK) == PRIVATE_UMASK
    (home / "state.sqlite3-wal").write_text("x")
    (home / "slugs").mkdir()
    assert mode(home / "state.sqlite3-wal") == 0o600 and mode(home / "slugs") == 0o700


def test_an_existing_home_is_tightened_with_one_line_naming_what_changed(tmp_path: Path) -> None:
    home = old_home(tmp_path)
    lines: list[str] = []
    changed = secure_home(home, log=lines.append)
    assert len(lines) == 1
    line = lines[0]
    for what in (
        ". 0755→0700",
        "state.sqlite3 0644→0600",
        "state.sqlite3-wal 0644→0600",
        "token 0644→0600",
        "kafka 0755→0700",
        "kafka/registry.json 0644→0600",
        "ca/ca.key 0644→0600",
        "ca/issued/kafka.key 0644→0600",
        "postgres/cluster.json 0644→0600",
        "slugs 0755→0700",
    ):
        assert what in line, what
    assert line.startswith("tightened permissions in PAAS_HOME")
    assert {c.path for c in changed} >= {"state.sqlite3", "kafka/registry.json", "ca/ca.key"}
    for f in ("state.sqlite3", "state.sqlite3-shm", "token", "kafka/registry.json", "ca/issued/kafka.key"):
        assert mode(home / f) == 0o600, f
    for d in (".", "kafka", "ca", "postgres", "slugs"):
        assert mode(home / d) == 0o700, d
    # the slug's own files are the app's: out of reach behind 0700 directories, left as they are
    assert mode(home / "slugs/app/one/app.py") == 0o644
    # a second start finds nothing to say
    again: list[str] = []
    assert secure_home(home, log=again.append) == [] and again == []


def test_directories_the_postgres_server_traverses_keep_only_their_execute_bit(tmp_path: Path) -> None:
    home = old_home(tmp_path)
    os.chmod(home / "postgres", 0o755)
    lines: list[str] = []
    secure_home(home, traversable=[home, home / "postgres"], log=lines.append)
    assert mode(home) == 0o711 and mode(home / "postgres") == 0o711
    assert mode(home / "kafka") == 0o700
    assert is_private(mode(home), traversable=True) and not is_private(mode(home))
    os.chmod(home, 0o700)  # a traversable directory never gains the bit it did not have
    assert secure_home(home, traversable=[home, home / "postgres"]) == []
    assert mode(home) == 0o700


def test_links_are_not_followed_out_of_the_home(tmp_path: Path) -> None:
    home = old_home(tmp_path)
    outside = tmp_path / "outside.txt"
    outside.write_text("not ours")
    os.chmod(outside, 0o644)
    (home / "link").symlink_to(outside)
    secure_home(home)
    assert mode(outside) == 0o644


def test_a_home_that_cannot_be_made_is_a_clear_startup_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(StartupError, match=r"cannot create PAAS_HOME=.*/a-file/home: Not a directory"):
        secure_home(blocker / "home")
