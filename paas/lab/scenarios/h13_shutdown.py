"""h13-shutdown: the Puma H13 story, naive vs draining shutdown under the same load."""

from __future__ import annotations

import asyncio

from paas.lab.context import LabContext
from paas.lab.engine import Result, Scenario, Variant

CONCURRENCY = 10
WORK_MS = 50
LOAD_SECONDS = 3.5
SCALE_DOWN_AFTER = 1.0


class H13Shutdown(Scenario):
    name = "h13-shutdown"
    summary = "Scale down under load: a server that keeps its listener open while stopping gets H13s"
    apps = ("h13-naive", "h13-draining")
    timers = {"stop_timeout": 5.0}
    seconds = 25
    app_markers = ("Gracefully stopping", "Goodbye")
    explanation = """\
Both apps run one worker thread behind a 1024-deep accept backlog and take 50 ms per request,
so under 10 concurrent clients a few connections always wait in the kernel's backlog: the TCP
handshake is done, the router has written its request, nobody has called accept() yet.

Scaling web from 2 to 1 removes web.2 from the routing table and then sends it SIGTERM.
- naive (Puma 3): stops accepting and finishes its current request, but its listen socket
  stays open until the process exits. At exit the kernel resets every connection still in the
  backlog. The router saw those connections accepted and then closed without a byte: H13
  "Connection closed without response".
- draining (Puma 4, PR #1808): takes what is already queued, closes the listener at once (a
  later connect would be refused, and the router retries another dyno), then finishes every
  accepted request. Same load, no H13.
Heroku's own router also keeps sending a few requests after SIGTERM (the two are separate
systems), which makes the naive server's window wider there than here.
Fix in your app: close listeners before draining workers (Puma >= 4, gunicorn, uvicorn do)."""

    async def run(self, ctx: LabContext) -> Result:
        result = self.result(ctx)
        for label, example in (("naive", "h13-naive"), ("draining", "h13-draining")):
            app = await ctx.app(label)
            await app.set_config({"MAX_THREADS": "1", "SHUTDOWN_DELAY": "0.5"})
            await app.deploy(example)
            await app.scale(2)
            await app.wait_up(2)
            ctx.say(
                f"{label}: 2 web dynos up, {CONCURRENCY} clients on /work?ms={WORK_MS}, scaling to 1 after "
                f"{SCALE_DOWN_AFTER:g}s"
            )
            since = len(app.watch.requests)
            load = asyncio.create_task(
                app.load(
                    f"/work?ms={WORK_MS}", concurrency=CONCURRENCY, seconds=LOAD_SECONDS, max_requests=800
                )
            )
            await asyncio.sleep(SCALE_DOWN_AFTER)
            await app.scale(1)
            report = await load
            await app.wait_state("web.2", ("down",), ctx.timer("stop_timeout", 30) + 5)
            variant = Variant(
                label,
                app.name,
                f"ps:scale web=1 (web.2 gets SIGTERM) after {SCALE_DOWN_AFTER:g}s "
                f"of {CONCURRENCY} concurrent clients",
                load=report,
            )
            result.variants.append(await self.finish(app, variant, since))
        naive, draining = result.variant("naive"), result.variant("draining")
        result.check(f"naive: H13 > 0 (got {naive.router['H13']})", naive.router["H13"] > 0)
        result.check(f"draining: no H13 (got {draining.router['H13']})", draining.router["H13"] == 0)
        others = {k: v for k, v in draining.router.items() if k != "200"}
        result.check(f"draining: every request answered 200 (others: {others or 'none'})", not others)
        return result
