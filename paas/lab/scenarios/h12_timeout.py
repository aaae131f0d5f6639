"""h12-timeout: no first byte within the router timeout."""

from __future__ import annotations

import asyncio

from paas.lab.context import LabContext
from paas.lab.engine import Result, Scenario, Variant

SLOW_REQUESTS = 3


class H12Timeout(Scenario):
    name = "h12-timeout"
    summary = "A slow endpoint (and a dyno whose bytes never arrive) meet the router timeout: H12"
    apps = ("lab",)
    timers = {"router_timeout": 2.0}
    seconds = 20
    explanation = """\
The router gives a dyno PAAS_ROUTER_TIMEOUT (Heroku: 30 s) from the moment the whole request
reached it until the first response byte. When that passes it answers the client 503, logs
H12 "Request timeout" with service= equal to the timeout and bytes=0, and closes its side.
The app is not told: it goes on working on a request nobody will read (here /slow answers
1.5 s after the router gave up), which is why H12s pile up under load: the timed-out work
still occupies the dyno.
- slow-endpoint: /slow?s=timeout+1.5 next to fast requests; only the slow ones time out.
- timeout-fault: a healthy app with `paas faults:add web.1 timeout` (the dyno's bytes are
  swallowed between dyno and router): every request times out the same way.
Fix in your app: move slow work to a worker dyno, or answer early and poll."""

    async def run(self, ctx: LabContext) -> Result:
        result = self.result(ctx)
        timeout = ctx.timer("router_timeout", 30)
        slow_s = timeout + 1.5

        app = await ctx.app("slow")
        await app.deploy("lab")
        await app.wait_up()
        ctx.say(f"slow-endpoint: {SLOW_REQUESTS} requests to /slow?s={slow_s:g} beside fast ones")
        since = len(app.watch.requests)
        slow, fast = await asyncio.gather(
            app.load(
                f"/slow?s={slow_s:g}", concurrency=SLOW_REQUESTS, max_requests=SLOW_REQUESTS, seconds=60
            ),
            app.load("/", concurrency=2, seconds=timeout + 0.5, gap=0.1, max_requests=200),
        )
        variant = Variant(
            "slow-endpoint",
            app.name,
            f"{SLOW_REQUESTS} x /slow?s={slow_s:g}, fast / beside them",
            load=slow.merge(fast),
        )
        await self.finish(app, variant, since)
        h12 = [r for r in app.router_requests(since) if r.get("code") == "H12"]
        services = [int(r.get("service_ms") or 0) for r in h12]
        variant.notes.append(f"H12 service times (ms): {sorted(services)}")
        result.variants.append(variant)
        result.check(
            f"slow-endpoint: H12 for each slow request ({len(h12)}/{SLOW_REQUESTS})",
            len(h12) == SLOW_REQUESTS,
        )
        result.check(
            f"slow-endpoint: H12 after the timeout, {timeout * 1000:.0f}..{timeout * 1000 + 1000:.0f} ms",
            all(timeout * 1000 - 50 <= s <= timeout * 1000 + 1000 for s in services) and bool(services),
        )
        result.check(
            "slow-endpoint: fast requests unaffected (200)",
            variant.router["200"] == fast.outcomes["200"] and fast.outcomes["200"] > 0,
        )

        app = await ctx.app("fault")
        await app.deploy("lab")
        await app.wait_up()
        await app.add_fault("web.1", "timeout", timeout=0)
        ctx.say("timeout-fault: faults:add web.1 timeout, 3 requests to /")
        since = len(app.watch.requests)
        report = await app.load("/", concurrency=3, max_requests=3, seconds=60)
        variant = Variant(
            "timeout-fault", app.name, "faults:add web.1 timeout (hold forever), 3 x /", load=report
        )
        result.variants.append(await self.finish(app, variant, since))
        result.check(
            f"timeout-fault: every request H12 ({variant.router['H12']}/3)", variant.router["H12"] == 3
        )
        return result
