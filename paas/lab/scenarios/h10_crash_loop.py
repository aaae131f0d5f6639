"""h10-crash-loop: a dyno that keeps crashing is restarted at once, then left crashed (H10)."""

from __future__ import annotations

import asyncio

from paas.lab.context import LabContext
from paas.lab.engine import Result, Scenario, Variant


class H10CrashLoop(Scenario):
    name = "h10-crash-loop"
    summary = (
        "Crash the only web dyno twice: immediate restart, then a back-off during which the router says H10"
    )
    apps = ("lab",)
    timers = {"crash_backoff_max": 4.0}
    seconds = 25
    app_markers = ("/crash:", "EXIT_ON_BOOT")
    explanation = """\
Any exit of a dyno's command is a crash. The dyno manager restarts a crashed dyno at once the
first time; when it crashes again it waits (Heroku: a cool-off of up to 20 min, here
PAAS_CRASH_BACKOFF_MAX) before the next start. While the app's only web dyno sits in
`crashed`, the router has nowhere to send a request and answers H10 "App crashed" (dyno=
connect= service= empty: no dyno was reached).
- crash-endpoint: /crash makes the process exit mid-request (that request, and any other in
  flight on the dyno, ends as H13: accepted, then closed without a byte). The dyno comes back immediately; a second
  /crash starts the back-off, and steady traffic meets H10 until the dyno is started again.
- crash-on-boot: a release whose process exits before binding $PORT (EXIT_ON_BOOT=1, like a
  missing module) crash-loops from the first start: H10 for everyone.
Look at `heroku[web.1]` lines: `Process exited with status 1`, `State changed from up to
crashed`, `State changed from crashed to starting`."""

    async def run(self, ctx: LabContext) -> Result:
        result = self.result(ctx)
        backoff = ctx.timer("crash_backoff_max", 1200)

        app = await ctx.app("crash")
        await app.deploy("lab")
        await app.wait_up()
        ctx.say("crash-endpoint: steady traffic, /crash, wait for the restart, /crash again")
        since = len(app.watch.requests)
        stop = asyncio.Event()
        load = asyncio.create_task(
            app.load("/", concurrency=2, gap=0.1, seconds=60, max_requests=600, stop=stop)
        )
        await asyncio.sleep(0.5)
        mark = app.mark()
        first = await app.get("/crash")
        await app.wait_transition("web.1", "crashed", mark, 10)
        await app.wait_up(timeout=15)
        mark = app.mark()
        second = await app.get("/crash")
        await app.wait_transition("web.1", "crashed", mark, 10)
        await asyncio.sleep(min(backoff, 6.0) / 2)
        stop.set()
        report = await load
        variant = Variant("crash-endpoint", app.name, "GET /crash, restart, GET /crash again", load=report)
        variant.notes.append(
            f"the two /crash requests got: {first}, {second} (the steady load is counted above)"
        )
        await self.finish(app, variant, since)
        crashed_lines = await app.heroku_lines("to crashed")
        variant.notes.append(f"{len(crashed_lines)} x 'State changed from ... to crashed'")
        result.variants.append(variant)
        result.check(
            f"crash-endpoint: H10 while crashed ({variant.router['H10']})", variant.router["H10"] > 0
        )
        result.check(
            f"crash-endpoint: the crashing requests end as H13 ({variant.router['H13']})",
            variant.router["H13"] >= 1,
        )
        result.check("crash-endpoint: two crashes logged", len(crashed_lines) >= 2)

        app = await ctx.app("boot")
        await app.set_config({"EXIT_ON_BOOT": "1"})
        await app.deploy("lab")
        await app.wait_transition("web.1", "crashed", 0, 15)
        ctx.say("crash-on-boot: EXIT_ON_BOOT=1, 6 requests")
        since = len(app.watch.requests)
        report = await app.load("/", concurrency=2, gap=0.2, max_requests=6, seconds=10)
        variant = Variant(
            "crash-on-boot", app.name, "deploy with EXIT_ON_BOOT=1 (exits before binding)", load=report
        )
        result.variants.append(await self.finish(app, variant, since))
        result.check(f"crash-on-boot: H10 ({variant.router['H10']})", variant.router["H10"] > 0)
        return result
