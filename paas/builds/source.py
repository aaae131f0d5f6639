"""Source archives: safe, bounded extraction of an uploaded tarball, and `.slugignore`."""

from __future__ import annotations

import bz2
import fnmatch
import gzip
import lzma
import os
import shutil
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol, cast

from common.config import Settings


class SourceError(ValueError):
    pass


class SourceTooLarge(SourceError):
    pass


MB = 1024 * 1024
HEADER_ALLOWANCE = MB  # a member's headers (pax, GNU long names) are read into memory: bounded
RATIO_GRACE = 64 * MB  # below this, any compression ratio is fine
MAX_RATIO = 100  # past the grace, an archive may expand to 100 times its size (as Apache POI's 1 %)


@dataclass(frozen=True)
class SourceLimits:
    """What one source may expand to on disk: file bytes and entries (files, dirs, links)."""

    max_bytes: int = 1024 * MB
    max_entries: int = 100_000

    @classmethod
    def from_settings(cls, settings: Settings) -> SourceLimits:
        return cls(int(settings.source_size_limit_mb * MB), settings.source_max_files)

    def budget(self, archive_size: int | None) -> tuple[int, str]:
        """The byte budget for an archive of `archive_size` compressed bytes, and its reason."""
        cap = f"more than {self.max_bytes / MB:g} MB (PAAS_SOURCE_SIZE_LIMIT_MB)"
        if archive_size is None:
            return self.max_bytes, cap
        by_ratio = max(RATIO_GRACE, MAX_RATIO * archive_size)
        if by_ratio < self.max_bytes:
            return by_ratio, (
                f"more than {MAX_RATIO} times its compressed size of {_human(archive_size)} "
                "(a decompression bomb?)"
            )
        return self.max_bytes, cap


class _Bounded:
    """A reader over the decompressed tar stream that refuses to read past its allowance, so
    neither the disk nor tarfile's in-memory header buffers follow a crafted archive."""

    def __init__(self, inner: _Readable):
        self.inner = inner
        self.count = 0
        self.limit = HEADER_ALLOWANCE

    def allow(self, extra: int) -> None:
        self.limit = self.count + extra

    def read(self, size: int = -1) -> bytes:
        want = self.limit - self.count + 1 if size is None or size < 0 else size
        data = self.inner.read(min(want, self.limit - self.count + 1))
        self.count += len(data)
        if self.count > self.limit:
            raise SourceTooLarge("The source archive holds a tar header over 1 MB: refused as crafted.")
        return data


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Prefixed:
    """`head` (already read to sniff the format) followed by the rest of `raw`."""

    def __init__(self, head: bytes, raw: _Readable):
        self.head = head
        self.raw = raw

    def read(self, size: int = -1, /) -> bytes:
        if not self.head:
            return self.raw.read(size)
        if size is None or size < 0:
            data, self.head = self.head + self.raw.read(), b""
            return data
        data, self.head = self.head[:size], self.head[size:]
        return data


def _decompressed(raw: _Readable) -> _Readable:
    """The tar stream inside gzip, bzip2 or xz (or a plain tar), by its magic bytes."""
    head = raw.read(6)
    # the decompressors only read it front to back (their stubs ask for a whole file object)
    stream = cast(IO[bytes], _Prefixed(head, raw))
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=stream, mode="rb")
    if head.startswith(b"BZh"):
        return bz2.BZ2File(stream)
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(stream)
    return stream


def extract_tarball(archive: Path, dest: Path, limits: SourceLimits | None = None) -> None:
    """Extract an uploaded (gzipped) tar into dest: no absolute paths, `..`, links out of dest
    or device files, and no more bytes or entries than `limits` allow, refused while extracting
    (before the disk fills). On any refusal dest is removed: nothing is left behind."""
    limits = limits or SourceLimits()
    with archive.open("rb") as raw:
        extract_stream(raw, dest, limits, archive_size=archive.stat().st_size)
    _unwrap_single_directory(dest)


def extract_stream(raw: _Readable, dest: Path, limits: SourceLimits, archive_size: int | None = None) -> None:
    """Extract a tar stream (compressed or not) as `extract_tarball` does, reading it once."""
    dest.mkdir(parents=True, exist_ok=True)
    budget, reason = limits.budget(archive_size)
    try:
        reader = _Bounded(_decompressed(raw))
        with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
            _extract_members(tar, reader, dest, limits.max_entries, budget, reason)
    except SourceError:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError) as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise SourceError(f"The uploaded source is not a readable tar archive: {exc}") from None


def _extract_members(
    tar: tarfile.TarFile, reader: _Bounded, dest: Path, max_entries: int, budget: int, reason: str
) -> None:
    entries = written = 0
    while True:
        reader.allow(HEADER_ALLOWANCE)
        member = tar.next()
        if member is None:
            return
        entries += 1
        if entries > max_entries:
            raise SourceTooLarge(
                f"The source archive holds more than {max_entries} files and directories "
                "(PAAS_SOURCE_MAX_FILES): refused while extracting."
            )
        if member.isfile():
            written += member.size
            if written > budget:
                raise SourceTooLarge(f"The source archive expands to {reason}: refused while extracting.")
            reader.allow(member.size + HEADER_ALLOWANCE)
        tar.extract(member, dest, filter="data")
        if member.isdir():
            _keep_directory_mode(dest / member.name.lstrip("/"), member.mode)
        vars(tar)["members"].clear()  # stream mode keeps every header read (not in the stubs)


def _keep_directory_mode(path: Path, mode: int) -> None:
    """A directory keeps the archive's mode (less group/other write), as `tar -x` does, not the
    daemon's private umask: a Dockerfile's non-root USER must still enter it. It stays private
    behind the home's 0700 directories."""
    if not path.is_symlink() and path.is_dir():
        os.chmod(path, (mode & 0o755) | 0o700)


def _unwrap_single_directory(dest: Path) -> None:
    """A single top-level directory (as `git archive --prefix` or `tar c dir` makes) is unwrapped."""
    entries = list(dest.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not (dest / "Procfile").exists():
        inner = entries[0]
        if (inner / "Procfile").exists() or any(inner.iterdir()):
            tmp = dest.with_name(dest.name + ".unwrap")
            inner.rename(tmp)
            dest.rmdir()
            tmp.rename(dest)


def _human(size: int) -> str:
    return f"{size / MB:.1f} MB" if size >= MB else f"{size / 1024:.0f} KB"


def read_slugignore(root: Path) -> list[str]:
    path = root / ".slugignore"
    if not path.is_file():
        return []
    patterns = []
    for line in path.read_text("utf-8", "replace").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            patterns.append(line)
    return patterns


def apply_slugignore(root: Path) -> list[str]:
    """Delete what `.slugignore` names (gitignore-like patterns). Returns the removed paths."""
    patterns = read_slugignore(root)
    removed: list[str] = []
    if not patterns:
        return removed
    for dirpath, dirnames, filenames in os.walk(root, topdown=True):
        rel_dir = Path(dirpath).relative_to(root)
        for name in list(dirnames) + filenames:
            rel = (rel_dir / name).as_posix()
            if _ignored(rel, name, patterns):
                target = Path(dirpath) / name
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                    dirnames.remove(name)
                else:
                    target.unlink()
                removed.append(rel)
    return removed


def _ignored(rel: str, name: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        anchored = pattern.startswith("/")
        pat = pattern.strip("/")
        if anchored or "/" in pat:
            if fnmatch.fnmatch(rel, pat) or rel.startswith(pat + "/"):
                return True
        elif fnmatch.fnmatch(name, pat):
            return True
    return False


def directory_size(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total
