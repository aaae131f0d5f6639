"""Heroku's `log-runtime-metrics`: a dyno's memory and load, sampled from the real thing.

Two `heroku[web.1]` lines per sample, as Heroku writes them:

    source=web.1 dyno=heroku.<app id>.<dyno id> sample#load_avg_1m=0.00 sample#load_avg_5m=0.00 sample#load_avg_15m=0.00
    source=web.1 dyno=heroku.<app id>.<dyno id> sample#memory_total=21.00MB sample#memory_rss=20.00MB
        sample#memory_cache=1.00MB sample#memory_swap=0.00MB sample#memory_pgpgin=348pages
        sample#memory_pgpgout=12pages sample#memory_quota=512.00MB

Where the figures come from:
- a container dyno: its memory cgroup's `memory.stat` (rss, cache, swap, pgpgin, pgpgout; on
  cgroup v2 anon, file, and `memory.swap.current`), found through its main process;
- a process dyno (it shares the daemon's cgroup): its process tree's /proc figures, resident
  anonymous memory as rss, resident file pages as cache, VmSwap as swap, and pages read from
  and written to disk (/proc/<pid>/io) as pgpgin / pgpgout.
The load averages are exponentially damped averages of the dyno's runnable (and
uninterruptible) tasks, as the kernel computes its own, taken at each sample.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import psutil

MB = 1024 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class MemorySample:
    rss: int  # bytes
    cache: int
    swap: int
    pgpgin: int  # pages
    pgpgout: int

    @property
    def total(self) -> int:
        return self.rss + self.cache + self.swap


@dataclass(frozen=True)
class Sample:
    memory: MemorySample
    runnable: int  # tasks running or waiting on the CPU (or in uninterruptible sleep) now


class LoadAverage:
    """1, 5 and 15 minute damped averages of the runnable task count, sampled every `every` s."""

    def __init__(self, every: float):
        self.decay = tuple(math.exp(-every / window) for window in (60.0, 300.0, 900.0))
        self.values = [0.0, 0.0, 0.0]

    def add(self, runnable: int) -> tuple[float, float, float]:
        for i, d in enumerate(self.decay):
            self.values[i] = self.values[i] * d + runnable * (1 - d)
        return (self.values[0], self.values[1], self.values[2])


def _read(path: Path | str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _task_runnable(pid: int, tid: int | str) -> bool:
    stat = _read(f"/proc/{pid}/task/{tid}/stat")
    after = stat.rpartition(")")[2].split()
    return bool(after) and after[0] in ("R", "D")


def _runnable(pids: list[int]) -> int:
    count = 0
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        count += sum(1 for tid in tids if _task_runnable(pid, tid))
    return count


def _status_kb(text: str, key: str) -> int:
    for line in text.splitlines():
        if line.startswith(key):
            parts = line.split()
            return int(parts[1]) * 1024 if len(parts) > 1 and parts[1].isdigit() else 0
    return 0


def _io_pages(pid: int) -> tuple[int, int]:
    fields = dict(
        (k.strip(), v.strip())
        for k, _, v in (line.partition(":") for line in _read(f"/proc/{pid}/io").splitlines())
    )
    read = int(fields.get("read_bytes", "0") or 0)
    written = int(fields.get("write_bytes", "0") or 0)
    return read // PAGE, written // PAGE


def tree_pids(pid: int) -> list[int]:
    try:
        root = psutil.Process(pid)
        return [pid, *(p.pid for p in root.children(recursive=True))]
    except psutil.Error:
        return []


def sample_tree(pid: int) -> Sample | None:
    """A process dyno: its whole process tree, from /proc."""
    pids = tree_pids(pid)
    if not pids:
        return None
    rss = cache = swap = pgin = pgout = 0
    for p in pids:
        status = _status_kb_all(p)
        rss += status[0]
        cache += status[1]
        swap += status[2]
        pages_in, pages_out = _io_pages(p)
        pgin += pages_in
        pgout += pages_out
    return Sample(MemorySample(rss, cache, swap, pgin, pgout), _runnable(pids))


def _status_kb_all(pid: int) -> tuple[int, int, int]:
    text = _read(f"/proc/{pid}/status")
    anon = _status_kb(text, "RssAnon:") + _status_kb(text, "RssShmem:")
    return anon, _status_kb(text, "RssFile:"), _status_kb(text, "VmSwap:")


def memory_cgroup(pid: int) -> Path | None:
    """The memory cgroup directory `pid` belongs to (v1 `memory` controller, else v2)."""
    v2: Path | None = None
    for line in _read(f"/proc/{pid}/cgroup").splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            found = CGROUP_ROOT / "memory" / path.lstrip("/")
            return found if found.is_dir() else None
        if controllers == "":
            v2 = CGROUP_ROOT / path.lstrip("/")
    return v2 if v2 is not None and (v2 / "memory.stat").exists() else None


def _stat_values(text: str) -> dict[str, int]:
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            values[key] = int(value)
    return values


def sample_cgroup(pid: int) -> Sample | None:
    """A container dyno: its memory cgroup's own accounting, found through its main process."""
    group = memory_cgroup(pid)
    if group is None:
        return None
    stat = _stat_values(_read(group / "memory.stat"))
    if "total_rss" in stat or "rss" in stat:  # cgroup v1

        def get(key: str) -> int:  # hierarchical totals (the container's children included)
            return stat.get(f"total_{key}", stat.get(key, 0))

        memory = MemorySample(get("rss"), get("cache"), get("swap"), get("pgpgin"), get("pgpgout"))
        tasks = _read(group / "tasks")
    else:  # cgroup v2
        swap_text = _read(group / "memory.swap.current").strip()
        swap = int(swap_text) if swap_text.isdigit() else 0
        memory = MemorySample(stat.get("anon", 0), stat.get("file", 0), swap, stat.get("pgfault", 0), 0)
        tasks = _read(group / "cgroup.threads")
    tids = [int(t) for t in tasks.split() if t.isdigit()]
    runnable = sum(1 for tid in tids if _task_runnable(tid, tid))
    return Sample(memory, runnable)


def load_line(source: str, dyno_id: str, load: tuple[float, float, float]) -> str:
    one, five, fifteen = load
    return (
        f"source={source} dyno={dyno_id} sample#load_avg_1m={one:.2f} "
        f"sample#load_avg_5m={five:.2f} sample#load_avg_15m={fifteen:.2f}"
    )


def memory_line(source: str, dyno_id: str, memory: MemorySample, quota: int) -> str:
    return (
        f"source={source} dyno={dyno_id} sample#memory_total={memory.total / MB:.2f}MB "
        f"sample#memory_rss={memory.rss / MB:.2f}MB sample#memory_cache={memory.cache / MB:.2f}MB "
        f"sample#memory_swap={memory.swap / MB:.2f}MB sample#memory_pgpgin={memory.pgpgin}pages "
        f"sample#memory_pgpgout={memory.pgpgout}pages sample#memory_quota={quota / MB:.2f}MB"
    )


class RuntimeMetrics:
    """One dyno process's sampler: the lines to log at each interval."""

    def __init__(self, source: str, app_id: str, dyno_uuid: str, quota: int, every: float):
        self.source = source
        self.dyno_uuid = dyno_uuid
        self.dyno_id = f"heroku.{app_id}.{dyno_uuid}"
        self.quota = quota
        self.load = LoadAverage(every)

    def lines(self, pid: int | None, container: bool) -> list[str]:
        if pid is None:
            return []
        sample = sample_cgroup(pid) if container else sample_tree(pid)
        if sample is None:
            return []
        load = self.load.add(sample.runnable)
        return [
            load_line(self.source, self.dyno_id, load),
            memory_line(self.source, self.dyno_id, sample.memory, self.quota),
        ]
