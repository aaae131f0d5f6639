"""r14-memory: a dyno over its memory quota (R14), then over the hard limit (R15, killed)."""

from __future__ import annotations

import asyncio

from paas.lab.context import LabContext
from paas.lab.engine import Result, Scenario, Variant

MB = 1024 * 1024


class R14Memory(Scenario):
    name = "r14-memory"
    summary = "Grow a dyno's memory past its quota (R14) and past twice the quota (R15: SIGKILL)"
    apps = ("lab",)
    timers = {"memory_check_interval": 0.25}
    seconds = 20
    app_markers = ("/memory:",)
    explanation = """\
The dyno manager samples each dyno's memory (RSS of all its processes) every
PAAS_MEMORY_CHECK_INTERVAL. Over the dyno size's quota (standard-1x: 512 MB) it logs
`Process running mem=...` and `Error R14 (Memory quota exceeded)`; Heroku lets the dyno swap
and go on, and so do we: requests keep being answered, only slower on Heroku. Past the hard
limit (2x the quota here) it logs `Error R15 (Memory quota vastly exceeded)` and kills the
dyno with SIGKILL; a request it was answering ends as H13, and the dyno is restarted like after
any crash, with its memory back to normal.
The lab app holds memory with /memory?mb=N (filled pages, so they are really resident).
Fix in your app: find the leak, lower concurrency (WEB_CONCURRENCY), or use a bigger dyno."""

    async def run(self, ctx: LabContext) -> Result:
        result = self.result(ctx)
        app = await ctx.app("mem")
        await app.deploy("lab")
        await app.wait_up()
        dynos = await app.api("GET", f"/apps/{app.name}/dynos")
        quota_mb = max(1, int((dynos[0].get("memory_quota") or 512 * MB) // MB))
        over, more = int(quota_mb * 1.15), int(quota_mb * 0.95)
        since = len(app.watch.requests)
        stop = asyncio.Event()
        load = asyncio.create_task(
            app.load("/", concurrency=1, gap=0.1, seconds=60, max_requests=400, stop=stop)
        )
        ctx.say(f"quota {quota_mb} MB: /memory?mb={over}, wait for R14, then /memory?mb={more} more")
        grow1 = await app.get(f"/memory?mb={over}")
        r14 = await app.wait_log("Error R14", 10)
        mark = app.mark()
        grow2 = await app.get(f"/memory?mb={more}")
        r15 = await app.wait_log("Error R15", 10)
        restarted = await app.wait_transition("web.1", "crashed", mark, 10)
        await app.wait_up(timeout=15)
        await asyncio.sleep(0.5)
        stop.set()
        report = await load
        variant = Variant(
            "grow", app.name, f"/memory?mb={over} (> quota {quota_mb} MB), then +{more} MB", load=report
        )
        variant.notes.append(
            f"/memory?mb={over} got {grow1}; /memory?mb={more} got {grow2} (a dyno killed while "
            "answering leaves that request with H13); the steady load is counted above"
        )
        result.variants.append(await self.finish(app, variant, since))
        result.check("R14 logged once memory passed the quota", r14)
        result.check("R15 logged past the hard limit", r15)
        result.check("the dyno was killed (crashed) and restarted", restarted)
        result.check(
            f"requests answered during R14 (200 x {variant.router['200']})", variant.router["200"] > 0
        )
        return result
