"""autoscaling: a bounded load up and down against a dyno that works one request at a time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from paas.lab.context import LabApp, LabContext
from paas.lab.engine import Result, Scenario, Variant

GOAL_MS = 150
WORK_MS = 50
CONCURRENCY = 6
MAX_DYNOS = 3
LOAD_SECONDS = 40.0


class Autoscaling(Scenario):
    name = "autoscaling"
    summary = "p95 over the goal under load adds web dynos one at a time; quiet removes them"
    apps = ("lab",)
    timers = {"autoscale_window": 10.0, "autoscale_interval": 0.5, "autoscale_cooldown": 2.0}
    seconds = 45
    explanation = f"""\
`paas ps:autoscale:enable web --min 1 --max {MAX_DYNOS} --p95 {GOAL_MS}` on the lab app, whose
/work?ms={WORK_MS} does {WORK_MS} ms of work one request at a time per dyno (like a single
worker process). {CONCURRENCY} clients keep it busy: requests queue in the dyno, the router's
service time grows, and the p95 passes the goal. Autoscaling (Heroku: web dynos only, one dyno
per step, steps at least a minute apart) adds one dyno per cool-down while the p95 stays over
the goal, up to the max; with more dynos the same load queues less. When the load stops it
removes one dyno at a time, more slowly (two cool-downs), down to the min. Each step is a
formation change (`Scaled to web@N ... by user autoscaling`) plus an app[api] line that says
why. Timers here: window PAAS_AUTOSCALE_WINDOW, cool-down PAAS_AUTOSCALE_COOLDOWN (Heroku:
the past hour, one minute)."""

    async def run(self, ctx: LabContext) -> Result:
        result = self.result(ctx)
        app = await ctx.app("auto")
        await app.deploy("lab")
        await app.wait_up()
        monitor = {"action_type": "scale", "is_active": True, "min_quantity": 1}
        monitor.update({"max_quantity": MAX_DYNOS, "value": GOAL_MS, "name": "LATENCY_SCALE"})
        await app.api("POST", f"/apps/{app.name}/formation/web/monitors", json=monitor)
        ctx.say(f"load: {CONCURRENCY} clients on /work?ms={WORK_MS}, goal p95 {GOAL_MS} ms, 1..{MAX_DYNOS}")
        since = len(app.watch.requests)
        history: list[tuple[float, int]] = []
        stop = asyncio.Event()
        load = asyncio.create_task(
            app.load(
                f"/work?ms={WORK_MS}",
                concurrency=CONCURRENCY,
                seconds=LOAD_SECONDS,
                max_requests=5000,
                stop=stop,
            )
        )
        await follow(app, history, lambda q: q >= MAX_DYNOS, LOAD_SECONDS)
        peak = max(q for _, q in history)
        stop.set()
        report = await load
        up = Variant("under-load", app.name, f"{CONCURRENCY} clients, /work?ms={WORK_MS}", load=report)
        result.variants.append(await self.finish(app, up, since))
        ctx.say("quiet: no requests; waiting for the formation to come back down")
        cooldown = ctx.timer("autoscale_cooldown", 60)
        low = await follow(app, history, lambda q: q <= 1, 2 * cooldown * MAX_DYNOS + 15)
        decisions = (await app.api("GET", f"/apps/{app.name}/formation/web/monitors"))[0]["decisions"]
        lines = [ln for ln in await app.log_lines() if "app[api]: Scale to web=" in ln]
        up.notes.append("web quantity over time: " + " → ".join(str(q) for _, q in history))
        up.notes.extend(f"{d['at']} web {d['from']} → {d['to']} ({d['reason']})" for d in decisions)
        result.check(f"under load: web scaled up to {peak} (goal: {MAX_DYNOS})", peak >= 2)
        result.check(f"quiet: back down to {low}", low == 1)
        result.check(
            "one dyno at a time", bool(decisions) and all(abs(d["to"] - d["from"]) == 1 for d in decisions)
        )
        result.check(
            f"an app[api] line per decision ({len(lines)}/{len(decisions)})", len(lines) == len(decisions)
        )
        return result


async def follow(
    app: LabApp, history: list[tuple[float, int]], done: Callable[[int], bool], timeout: float
) -> int:
    """Watch the web quantity (twice a second, into `history`) until `done(quantity)` or the
    timeout; returns the last quantity seen."""
    deadline = time.monotonic() + timeout
    while True:
        formation = await app.api("GET", f"/apps/{app.name}/formation/web")
        quantity = int(formation["quantity"])
        if not history or history[-1][1] != quantity:
            history.append((time.monotonic(), quantity))
        if done(quantity) or time.monotonic() > deadline:
            return quantity
        await asyncio.sleep(0.5)
