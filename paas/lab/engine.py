"""The scenario engine: a scenario is a small class (name, summary, explanation, the example
apps it deploys, the timers it wants, `run(ctx) -> Result`).

A scenario never decides an outcome: it deploys an app, drives a bounded load through the
router, performs a platform action (scale down, deploy, restart, crash), and then *reads*
what the router and the dyno manager reported. Its checks compare those readings with what
the lesson predicts, so a scenario that fails its checks has found a real difference.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

from paas.lab.context import LabApp, LabContext
from paas.lab.load import LoadReport

# Timers every throwaway lab daemon gets (seconds); a scenario adds or overrides its own.
BASE_TIMERS: dict[str, float] = {
    "boot_timeout": 10.0,
    "stop_timeout": 3.0,
    "crash_backoff_max": 3.0,
    "cycle_interval": 0.0,
    "memory_check_interval": 0.25,
    "router_connect_timeout": 2.0,
    "router_timeout": 3.0,
    "router_idle_timeout": 3.0,
    "router_hold_timeout": 5.0,
    "router_quarantine": 1.0,
    "router_pool_idle_timeout": 10.0,
}


@dataclass
class Check:
    text: str
    ok: bool

    def to_json(self) -> dict[str, Any]:
        return {"check": self.text, "ok": self.ok}


@dataclass
class Variant:
    """One run of the experiment under one condition (e.g. the naive server)."""

    label: str
    app: str
    action: str
    router: Counter[str] = field(default_factory=Counter)  # router outcomes: H-code or status
    load: LoadReport = field(default_factory=LoadReport)  # what the clients saw
    samples: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "app": self.app,
            "action": self.action,
            "router": dict(sorted(self.router.items())),
            "client": self.load.to_json(),
            "samples": self.samples,
            "notes": self.notes,
        }


@dataclass
class Result:
    scenario: str
    summary: str
    explanation: str
    variants: list[Variant] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    timers: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    table: list[str] = field(default_factory=list)  # the variants side by side, when a scenario makes one

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def check(self, text: str, ok: bool) -> None:
        self.checks.append(Check(text, bool(ok)))

    def variant(self, label: str) -> Variant:
        for v in self.variants:
            if v.label == label:
                return v
        raise KeyError(label)

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "summary": self.summary,
            "ok": self.ok,
            "seconds": round(self.seconds, 1),
            "timers": self.timers,
            "variants": [v.to_json() for v in self.variants],
            "checks": [c.to_json() for c in self.checks],
            "table": self.table,
            "explanation": self.explanation,
        }


class Scenario:
    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    explanation: ClassVar[str] = ""
    apps: ClassVar[tuple[str, ...]] = ()  # example directories it deploys
    timers: ClassVar[dict[str, float]] = {}  # overrides of BASE_TIMERS for its throwaway daemon
    seconds: ClassVar[int] = 10  # about how long a run takes with its own timers
    app_markers: ClassVar[tuple[str, ...]] = ()  # app log lines worth showing among the samples

    @classmethod
    def wanted_timers(cls) -> dict[str, float]:
        return {**BASE_TIMERS, **cls.timers}

    def result(self, ctx: LabContext) -> Result:
        return Result(self.name, self.summary, self.explanation, timers=dict(ctx.timers))

    async def run(self, ctx: LabContext) -> Result:
        raise NotImplementedError

    async def finish(self, app: LabApp, variant: Variant, since: int = 0) -> Variant:
        """Fill a variant's router counts and samples once the router events are in."""
        await app.wait_requests(since + variant.load.sent, timeout=5)
        variant.router = app.router_counts(since)
        variant.samples = await app.samples(app_markers=self.app_markers)
        return variant


async def run_scenario(scenario: Scenario, ctx: LabContext) -> Result:
    started = time.monotonic()
    try:
        result = await scenario.run(ctx)
    finally:
        await ctx.close()
    result.seconds = time.monotonic() - started
    return result
