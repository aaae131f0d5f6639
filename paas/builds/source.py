"""Source archives: safe extraction of an uploaded tarball and `.slugignore`."""

from __future__ import annotations

import fnmatch
import os
import shutil
import tarfile
from pathlib import Path


class SourceError(ValueError):
    pass


def extract_tarball(archive: Path, dest: Path) -> None:
    """Extract a (gzipped) tar into dest, refusing absolute paths, `..` and device files."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise SourceError(f"The uploaded source is not a readable tar archive: {exc}") from None
    # a single top-level directory (as `git archive --prefix` or `tar c dir` makes) is unwrapped
    entries = list(dest.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not (dest / "Procfile").exists():
        inner = entries[0]
        if (inner / "Procfile").exists() or any(inner.iterdir()):
            tmp = dest.with_name(dest.name + ".unwrap")
            inner.rename(tmp)
            dest.rmdir()
            tmp.rename(dest)


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
