"""Uploaded sources are extracted within bounds, while extracting, leaving nothing behind."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import shutil
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from paas.builds.source import MB, SourceError, SourceLimits, SourceTooLarge, extract_tarball


def add_file(tar: tarfile.TarFile, name: str, data: bytes = b"", mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


class Zeros(io.RawIOBase):
    """`size` zero bytes, produced as they are read (a bomb is never held in memory)."""

    def __init__(self, size: int):
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buf: bytearray) -> int:  # type: ignore[override]
        n = min(len(buf), self.left)
        buf[:n] = bytes(n)
        self.left -= n
        return n


def zero_bomb(path: Path, size: int, files: int = 1) -> Path:
    with tarfile.open(path, "w:gz", compresslevel=9) as tar:
        add_file(tar, "Procfile", b"web: sleep 60\n")
        for i in range(files):
            info = tarfile.TarInfo(f"zeros-{i}.bin")
            info.size = size
            tar.addfile(info, Zeros(size))
    return path


def test_a_normal_source_extracts_with_its_modes_and_single_top_dir_unwrapped(tmp_path: Path) -> None:
    archive = tmp_path / "src.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        add_file(tar, "app/Procfile", b"web: ./run\n")
        add_file(tar, "app/run", b"#!/bin/sh\n", mode=0o755)
        add_file(tar, "app/lib/data.txt", b"x" * 10_000)
    dest = tmp_path / "out"
    extract_tarball(archive, dest)
    assert (dest / "Procfile").read_text() == "web: ./run\n"
    assert os.access(dest / "run", os.X_OK)
    assert (dest / "lib" / "data.txt").stat().st_size == 10_000


@pytest.mark.parametrize("kind", ["plain", "bz2", "xz"])
def test_every_compression_tar_knows_is_still_read(tmp_path: Path, kind: str) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        add_file(tar, "Procfile", b"web: x\n")
    data = {"plain": buf.getvalue(), "bz2": bz2.compress(buf.getvalue()), "xz": lzma.compress(buf.getvalue())}
    archive = tmp_path / "src.tar"
    archive.write_bytes(data[kind])
    extract_tarball(archive, tmp_path / "out")
    assert (tmp_path / "out" / "Procfile").read_text() == "web: x\n"


def test_the_102_kb_bomb_of_100_mb_of_zeros_is_refused_before_its_bytes_reach_the_disk(
    tmp_path: Path,
) -> None:
    archive = zero_bomb(tmp_path / "bomb.tar.gz", 100 * MB)
    assert archive.stat().st_size < 200 * 1024
    dest = tmp_path / "out"
    with pytest.raises(SourceTooLarge) as err:
        extract_tarball(archive, dest)  # the default limits
    assert str(err.value) == (
        f"The source archive expands to more than 100 times its compressed size of "
        f"{archive.stat().st_size / 1024:.0f} KB (a decompression bomb?): refused while extracting."
    )
    assert not dest.exists()  # nothing left behind


def test_the_absolute_cap_holds_whatever_the_ratio_and_is_checked_per_file(tmp_path: Path) -> None:
    archive = tmp_path / "big.tar"
    with tarfile.open(archive, "w") as tar:  # uncompressed: ratio 1
        for i in range(4):
            add_file(tar, f"part-{i}", os.urandom(MB))
    limits = SourceLimits(max_bytes=3 * MB)
    seen: list[int] = []
    dest = tmp_path / "out"
    stop = threading.Event()

    def watch() -> None:  # the disk never holds more than the cap
        while not stop.is_set():
            seen.append(sum(f.stat().st_size for f in dest.glob("part-*")) if dest.exists() else 0)
            time.sleep(0.001)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with pytest.raises(SourceTooLarge, match=r"more than 3 MB \(PAAS_SOURCE_SIZE_LIMIT_MB\)"):
            extract_tarball(archive, dest, limits)
    finally:
        stop.set()
        watcher.join()
    assert max(seen) <= 3 * MB
    assert not dest.exists()


def test_too_many_entries_are_refused_while_extracting(tmp_path: Path) -> None:
    archive = tmp_path / "many.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for i in range(60):
            add_file(tar, f"f{i}")
    with pytest.raises(SourceTooLarge, match=r"more than 50 files and directories \(PAAS_SOURCE_MAX_FILES\)"):
        extract_tarball(archive, tmp_path / "out", SourceLimits(max_entries=50))
    assert not (tmp_path / "out").exists()


def test_a_giant_pax_header_is_refused_without_being_read_into_memory(tmp_path: Path) -> None:
    """tarfile reads a pax header whole: a 50 MB one of zeros compresses to ~50 KB."""
    body = b"%d comment=%s\n" % (50 * MB + 20, b"0" * (50 * MB))
    archive = tmp_path / "pax.tar.gz"
    raw = io.BytesIO()
    header = tarfile.TarInfo("././@PaxHeader")
    header.type, header.size = tarfile.XHDTYPE, len(body)
    raw.write(header.tobuf(tarfile.USTAR_FORMAT))
    raw.write(body + bytes(-len(body) % 512))
    archive.write_bytes(gzip.compress(raw.getvalue(), 9))
    with pytest.raises(SourceTooLarge, match="tar header over 1 MB"):
        extract_tarball(archive, tmp_path / "out", SourceLimits(max_bytes=1024 * MB))


@pytest.mark.parametrize(
    "name,link,kind",
    [
        ("../evil", None, "file"),
        ("/etc/evil", None, "abs"),
        ("link", "../../outside", "sym"),
        ("dev", None, "chr"),
    ],
)
def test_unsafe_members_are_refused_and_nothing_is_left(
    tmp_path: Path, name: str, link: str | None, kind: str
) -> None:
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        add_file(tar, "Procfile", b"web: x\n")
        info = tarfile.TarInfo(name)
        if kind == "sym":
            info.type, info.linkname = tarfile.SYMTYPE, link or ""
        elif kind == "chr":
            info.type = tarfile.CHRTYPE
        tar.addfile(info, io.BytesIO(b""))
    dest = tmp_path / "work" / "out"
    try:
        extract_tarball(archive, dest)
    except SourceError:
        assert not dest.exists()
    else:  # an absolute name is made relative, as tar does; it stays inside
        assert kind == "abs" and (dest / "etc" / "evil").exists()
    assert not (tmp_path / "work" / "evil").exists() and not (tmp_path / "evil").exists()


def test_garbage_is_a_clear_error(tmp_path: Path) -> None:
    archive = tmp_path / "junk.tar.gz"
    archive.write_bytes(b"\x1f\x8b" + os.urandom(1000))
    with pytest.raises(SourceError, match="not a readable tar archive"):
        extract_tarball(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.fixture(autouse=True)
def _no_leftovers(tmp_path: Path) -> Iterator[None]:
    yield
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_directories_keep_the_archives_modes_under_the_daemons_private_umask(tmp_path: Path) -> None:
    """A Dockerfile build copies them into an image whose USER may not be root."""
    archive = tmp_path / "src.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, mode in (("lib", 0o755), ("lib/deep", 0o775), ("secret", 0o700)):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        add_file(tar, "lib/deep/code.py", b"x = 1\n", mode=0o644)
        add_file(tar, "Dockerfile", b"FROM scratch\n")
    before = os.umask(0o077)
    try:
        extract_tarball(archive, tmp_path / "out")
    finally:
        os.umask(before)
    modes = {
        p: (tmp_path / "out" / p).stat().st_mode & 0o777
        for p in ("lib", "lib/deep", "secret", "lib/deep/code.py")
    }
    assert modes == {"lib": 0o755, "lib/deep": 0o755, "secret": 0o700, "lib/deep/code.py": 0o644}
