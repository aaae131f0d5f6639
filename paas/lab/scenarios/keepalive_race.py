"""keepalive-race: Router 2.0 reuses dyno connections; a shorter server idle timeout races it."""

from __future__ import annotations

from paas.lab.context import LabContext
from paas.lab.engine import Result, Scenario, Variant

FEATURE = "http-routing-2-dot-0"
REQUESTS = 10
SERVER_IDLE = 0.3  # s
CLOSE_LAG_MS = 300
GAP = SERVER_IDLE + CLOSE_LAG_MS / 2000  # lands in the middle of the window


class KeepaliveRace(Scenario):
    name = "keepalive-race"
    summary = "Router 2.0 keep-alive reuse against a short server idle timeout: H13 on the next request"
    apps = ("lab",)
    timers = {"router_pool_idle_timeout": 10.0}
    seconds = 25
    explanation = f"""\
With the app feature http-routing-2-dot-0 the router keeps connections to dynos open and
reuses them (Heroku's Router 2.0 closes an idle one after 90 s; here
PAAS_ROUTER_POOL_IDLE_TIMEOUT). If the app server gives up on an idle connection sooner, there
is a moment when the router still thinks the connection is good and the server has already
decided to close it: a request sent then is never read, and the close (a RST, because the
request was left unread) arrives instead of a response. The router logs H13 (or H18 if part
of a response had come) on that request.
The lab app's idle timeout is KEEPALIVE_TIMEOUT; KEEPALIVE_CLOSE_LAG stands for the time its
close takes to reach the router. One client sends a request every {GAP:g} s, just past the
server's idle timeout:
- router2-short-idle: Router 2.0 + KEEPALIVE_TIMEOUT={SERVER_IDLE:g}s: every reused connection fails.
- router2-long-idle: Router 2.0 + a server idle timeout longer than the router's pool idle
  timeout (Heroku's advice: >= 90 s): the router always closes first; no errors.
- legacy-router: no feature; a new connection per request; no errors.
Fix in your app: raise the server's keep-alive timeout above the router's, or
`heroku labs:enable http-disable-keepalive-to-dyno`."""

    async def run(self, ctx: LabContext) -> Result:
        result = self.result(ctx)
        pool_idle = ctx.timer("router_pool_idle_timeout", 90)
        variants = (
            ("router2-short-idle", True, SERVER_IDLE),
            ("router2-long-idle", True, pool_idle + 5),
            ("legacy-router", False, SERVER_IDLE),
        )
        for label, router2, idle in variants:
            app = await ctx.app(label.replace("-idle", "").replace("-router", ""))
            await app.set_config({"KEEPALIVE_TIMEOUT": f"{idle:g}", "KEEPALIVE_CLOSE_LAG": str(CLOSE_LAG_MS)})
            if router2:
                await app.feature(FEATURE)
            await app.deploy("lab")
            await app.wait_up()
            ctx.say(f"{label}: {REQUESTS} requests, one every {GAP:g}s")
            since = len(app.watch.requests)
            report = await app.load("/", concurrency=1, gap=GAP, max_requests=REQUESTS, seconds=60)
            action = (
                f"{'Router 2.0' if router2 else 'legacy router'}, server idle timeout {idle:g}s, "
                f"a request every {GAP:g}s"
            )
            result.variants.append(
                await self.finish(app, Variant(label, app.name, action, load=report), since)
            )
        short, long_, legacy = result.variants
        races = short.router["H13"] + short.router["H18"]
        result.check(f"router2-short-idle: reused connections fail with H13/H18 ({races})", races > 0)
        errors = sum(v for k, v in long_.router.items() if k.startswith("H"))
        result.check(f"router2-long-idle: no errors ({errors})", errors == 0)
        errors = sum(v for k, v in legacy.router.items() if k.startswith("H"))
        result.check(f"legacy-router: no errors ({errors})", errors == 0)
        return result
