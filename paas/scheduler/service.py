"""The scheduler: keeps jobs in the state database and starts each run as a one-off dyno.

A run is `scheduler.N` through the dyno manager's one-off path (detached: its output is
`app[scheduler.N]` lines), with the job's dyno size, so R14/R15, daily cycling and the one-off
limits apply as to `paas run:detached`. A run still going when its interval ends is stopped
(SIGTERM, grace, R12 + SIGKILL) through the one-off `time_to_live`: scheduled work is meant to
be short, like Heroku's. Next run times live in memory, counted from the start of the daemon:
runs missed while it was down are not replayed (`scheduler:jobs` shows the next one).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from common.config import Settings
from common.errors import PaasError, conflict, invalid, not_found
from dynos.manager import DynoManager
from dynos.oneoff import OneOff
from dynos.sizes import SIZES, get_size
from paas.control import ControlPlane
from paas.scheduler.models import SchedulerJob
from paas.scheduler.schedule import Schedule, parse_schedule
from paas.state.models import Addon

SERVICE = "scheduler"
USER = "scheduler@addons.heroku.com"  # who Heroku names in `Starting process ... by user`
MAX_JOBS = 50  # per app
MAX_COMMAND = 4096
IDLE_WAKE = 60.0  # with no job due sooner, the loop still looks every minute


@dataclass(frozen=True)
class JobInfo:
    id: str
    app: str
    command: str
    schedule: Schedule
    dyno_size: str
    runs: int
    last_run_at: datetime | None
    last_dyno: str | None
    last_status: int | None
    next_run_at: float | None  # epoch seconds (None while the daemon has not planned it)
    running: bool = False  # its last run's dyno is still there

    @property
    def last_outcome(self) -> str:
        """`exit N`, `running`, or `unknown` (the daemon stopped before the run ended)."""
        if self.last_status is not None:
            return f"exit {self.last_status}"
        return "running" if self.running else "unknown"

    @classmethod
    def of(cls, job: SchedulerJob, app: str, next_run_at: float | None, running: bool = False) -> JobInfo:
        return cls(
            id=job.id,
            app=app,
            command=job.command,
            schedule=Schedule(job.every, job.at),
            dyno_size=job.dyno_size,
            runs=job.runs,
            last_run_at=job.last_run_at,
            last_dyno=job.last_dyno,
            last_status=job.last_status,
            next_run_at=next_run_at,
            running=running,
        )


@dataclass(frozen=True)
class JobChange:
    """What `scheduler:jobs:create/update` asks for; None keeps the current value."""

    command: str | None = None
    every: str | None = None
    at: str | None = None
    dyno_size: str | None = None


def _command(text: str) -> str:
    if not text or not text.strip():
        raise invalid("Provide a command for the job to run.")
    if len(text) > MAX_COMMAND or "\x00" in text:
        raise invalid(f"A job's command must be at most {MAX_COMMAND} characters, without NUL.")
    return text.strip()


def _dyno_size(text: str) -> str:
    try:
        return get_size(text).name
    except ValueError:
        raise invalid(f"Unknown dyno size {text!r}; choose one of: {', '.join(SIZES)}") from None


class SchedulerService:
    def __init__(
        self,
        settings: Settings,
        control: ControlPlane,
        dynos: DynoManager,
        report: Callable[[BaseException], None],
    ):
        self.scale = settings.scheduler_time_scale
        self.control = control
        self.store = control.store
        self.dynos = dynos
        self.report = report
        self._due: dict[str, float] = {}  # job id -> next run (epoch seconds)
        self._planned: dict[str, Schedule] = {}  # the schedule `_due` was counted from
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._runs: set[asyncio.Task[None]] = set()
        self.started_runs = 0
        self.failed_starts = 0  # runs that could not start (counted, and logged to the app)

    # ---- daemon lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """The loop stops; running scheduler dynos are the dyno manager's to stop."""
        tasks = [t for t in [self._loop_task, *self._runs] if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # ---- jobs -------------------------------------------------------------------------------
    def _addon_id(self, app_id: str, app_name: str) -> str:
        with self.store.session() as s:
            addon_id = s.scalar(
                select(Addon.id).where(
                    Addon.app_id == app_id, Addon.service == SERVICE, Addon.state == "provisioned"
                )
            )
        if addon_id is None:
            raise PaasError(
                404,
                "not_found",
                f"{app_name} has no Heroku Scheduler: paas addons:create scheduler:standard -a {app_name}",
            )
        return addon_id

    def list_jobs(self, app: str) -> list[JobInfo]:
        with self.store.session() as s:
            row = self.store.app(s, app)
            jobs = s.scalars(
                select(SchedulerJob).where(SchedulerJob.app_id == row.id).order_by(SchedulerJob.created_at)
            )
            return [JobInfo.of(j, row.name, self._due.get(j.id), self._running(row.name, j)) for j in jobs]

    def _find(self, app: str, job_id: str) -> tuple[str, str]:
        """(app id, app name) of a job of this app, or 404."""
        with self.store.session() as s:
            row = self.store.app(s, app)
            job = s.get(SchedulerJob, job_id)
            if job is None or job.app_id != row.id:
                raise not_found("scheduler job")
            return row.id, row.name

    def create_job(self, app: str, change: JobChange) -> JobInfo:
        command = _command(change.command or "")
        schedule = parse_schedule(change.every or "10m", change.at)
        size = _dyno_size(change.dyno_size or "standard-1x")
        with self.store.session() as s:
            row = self.store.app(s, app)
            addon_id = self._addon_id(row.id, row.name)
            count = len(list(s.scalars(select(SchedulerJob.id).where(SchedulerJob.app_id == row.id))))
            if count >= MAX_JOBS:
                raise invalid(f"{row.name} already has {MAX_JOBS} scheduler jobs (the most an app may have).")
            job = SchedulerJob(
                app_id=row.id,
                addon_id=addon_id,
                command=command,
                every=schedule.every,
                at=schedule.at,
                dyno_size=size,
            )
            s.add(job)
            s.flush()
            job_id, name = job.id, row.name
        self._plan(job_id, schedule)
        return self._info(name, job_id)

    def update_job(self, app: str, job_id: str, change: JobChange) -> JobInfo:
        self._find(app, job_id)
        with self.store.session() as s:
            job = s.get(SchedulerJob, job_id)
            if job is None:
                raise not_found("scheduler job")
            every = change.every if change.every is not None else Schedule(job.every).flag
            at = (
                change.at
                if change.at is not None or change.every is not None
                else Schedule(job.every, job.at).at_text()
            )
            schedule = parse_schedule(every, at)
            job.command = _command(change.command) if change.command is not None else job.command
            job.dyno_size = _dyno_size(change.dyno_size) if change.dyno_size is not None else job.dyno_size
            job.every, job.at = schedule.every, schedule.at
        self._plan(job_id, schedule)
        return self._info(app, job_id)

    def destroy_job(self, app: str, job_id: str) -> JobInfo:
        _, name = self._find(app, job_id)
        info = self._info(name, job_id)
        with self.store.session() as s:
            job = s.get(SchedulerJob, job_id)
            if job is not None:
                s.delete(job)
        self._forget(job_id)
        return info

    def delete_addon_jobs(self, addon_name: str) -> int:
        """The add-on goes: its jobs go with it (no run starts after this returns)."""
        with self.store.session() as s:
            addon_id = s.scalar(select(Addon.id).where(Addon.name == addon_name))
            jobs = list(s.scalars(select(SchedulerJob).where(SchedulerJob.addon_id == addon_id)))
            for job in jobs:
                s.delete(job)
            ids = [j.id for j in jobs]
        for job_id in ids:
            self._forget(job_id)
        return len(ids)

    def _info(self, app: str, job_id: str) -> JobInfo:
        with self.store.session() as s:
            job = s.get(SchedulerJob, job_id)
            if job is None:
                raise not_found("scheduler job")
            return JobInfo.of(job, app, self._due.get(job_id), self._running(app, job))

    def _running(self, app: str, job: SchedulerJob) -> bool:
        return job.last_dyno is not None and self.dynos.oneoff(app, job.last_dyno) is not None

    def _plan(self, job_id: str, schedule: Schedule) -> None:
        self._due[job_id] = schedule.next_after(time.time(), self.scale)
        self._planned[job_id] = schedule
        self._wake.set()

    def _forget(self, job_id: str) -> None:
        self._due.pop(job_id, None)
        self._planned.pop(job_id, None)
        self._wake.set()

    # ---- runs -------------------------------------------------------------------------------
    async def run_now(self, app: str, job_id: str) -> OneOff:
        """`scheduler:jobs:run`: one run now; the schedule is unchanged."""
        self._find(app, job_id)
        return await self._start_run(job_id)

    def _dyno_name(self, app: str) -> str:
        for _ in range(1000):
            name = f"scheduler.{random.randint(1000, 9999)}"
            if self.dynos.oneoff(app, name) is None:
                return name
        raise conflict("Too many scheduler dynos running.")

    async def _start_run(self, job_id: str) -> OneOff:
        with self.store.session() as s:
            job = s.get(SchedulerJob, job_id)
            if job is None:
                raise not_found("scheduler job")
            app_id, command, size = job.app_id, job.command, job.dyno_size
            schedule = Schedule(job.every, job.at)
        desired = self.control.desired(app_id)
        name = self._dyno_name(desired.app)
        oneoff = await self.dynos.run_oneoff(
            desired,
            command,
            attach=False,
            size=size,
            user=USER,
            name=name,
            time_to_live=min(schedule.period(self.scale), 86400.0),
        )
        self.started_runs += 1
        with self.store.session() as s:
            row = s.get(SchedulerJob, job_id)
            if row is not None:
                row.runs += 1
                row.last_run_at = datetime.now(UTC)
                row.last_dyno, row.last_status = name, None
        task = asyncio.get_running_loop().create_task(self._record_exit(job_id, oneoff))
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)
        return oneoff

    async def _record_exit(self, job_id: str, oneoff: OneOff) -> None:
        status = await oneoff.wait()
        with self.store.session() as s:
            row = s.get(SchedulerJob, job_id)
            if row is not None and row.last_dyno == oneoff.name:
                row.last_status = status

    # ---- the clock --------------------------------------------------------------------------
    def _load(self) -> dict[str, Schedule]:
        with self.store.session() as s:
            rows = s.execute(select(SchedulerJob.id, SchedulerJob.every, SchedulerJob.at)).all()
        return {job_id: Schedule(every, at) for job_id, every, at in rows}

    def _due_now(self, now: float) -> list[str]:
        """Replan from the database (new, changed, gone jobs) and take the jobs due by `now`."""
        jobs = self._load()
        for job_id in set(self._due) - set(jobs):
            self._forget(job_id)
        for job_id, schedule in jobs.items():
            if self._planned.get(job_id) != schedule:  # first seen: from now on, nothing replayed
                self._due[job_id] = schedule.next_after(now, self.scale)
                self._planned[job_id] = schedule
        due = [job_id for job_id, at in self._due.items() if at <= now]
        for job_id in due:
            self._due[job_id] = jobs[job_id].next_after(now, self.scale)
        return due

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                due = self._due_now(time.time())
            except Exception as exc:  # the state database failed this once: look again later
                self.report(exc)
                due = []
            for job_id in due:
                await self._fire(job_id)
            wait = min([*self._due.values(), time.time() + IDLE_WAKE]) - time.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(wait, 0.0))

    async def _fire(self, job_id: str) -> None:
        try:
            await self._start_run(job_id)
        except PaasError:
            self.failed_starts += 1  # the app is gone or the daemon is stopping: the job waits
        except Exception as exc:
            self.failed_starts += 1
            self.report(exc)
