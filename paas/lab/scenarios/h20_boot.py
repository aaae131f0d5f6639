"""h20-boot: requests held while the only web dyno boots (H20), and a boot that never ends (R10)."""

from __future__ import annotations

from paas.lab.context import LabContext
from paas.lab.engine import Result, Scenario, Variant


class H20Boot(Scenario):
    name = "h20-boot"
    summary = "A slow-booting dyno: requests held past the hold timeout get H20; past the boot timeout, R10"
    apps = ("lab",)
    timers = {"router_hold_timeout": 1.5, "boot_timeout": 4.0}
    seconds = 25
    app_markers = ("Booting slowly",)
    explanation = """\
While an app's web dynos are starting (deploy, restart, scale-up from 0), the router holds
incoming requests, waiting for a dyno to come up: up to PAAS_ROUTER_HOLD_TIMEOUT (Heroku: 75 s).
A request still waiting then is answered 503 H20 "App boot timeout"; once the dyno is up, the
held requests are sent to it and the rest go through normally.
Separately, the dyno manager gives a web process PAAS_BOOT_TIMEOUT (Heroku: 60 s) to bind
$PORT. A process that has not bound by then gets `Error R10 (Boot timeout) -> Web process
failed to bind to $PORT within N seconds of launch`, SIGKILL, and the crash path (restart,
then back-off: H10).
- slow-boot: BOOT_DELAY below the boot timeout but above the hold timeout: early requests
  get H20, later ones 200.
- boot-timeout: BOOT_DELAY above the boot timeout: R10, and no request is ever answered.
Fix in your app: bind $PORT first and load lazily, or use preboot so users never wait."""

    async def run(self, ctx: LabContext) -> Result:
        result = self.result(ctx)
        hold = ctx.timer("router_hold_timeout", 75)
        boot = ctx.timer("boot_timeout", 60)
        slow = round(min(boot - 1.0, hold + 1.0), 2)
        too_slow = round(boot + 2.0, 2)

        for label, delay in (("slow-boot", slow), ("boot-timeout", too_slow)):
            app = await ctx.app(label.split("-")[0] + label.split("-")[1][:4])
            await app.set_config({"BOOT_DELAY": f"{delay:g}"})
            mark = app.mark()
            await app.deploy("lab")
            await app.wait_transition("web.1", "starting", mark, 15)
            ctx.say(f"{label}: BOOT_DELAY={delay:g}s, requests while it boots")
            since = len(app.watch.requests)
            report = await app.load("/", concurrency=3, gap=0.3, seconds=delay + 1.0, max_requests=60)
            variant = Variant(
                label,
                app.name,
                f"deploy with BOOT_DELAY={delay:g}s (hold {hold:g}s, boot {boot:g}s)",
                load=report,
            )
            if label == "boot-timeout":
                await app.wait_log("Error R10", boot + 3)
            result.variants.append(await self.finish(app, variant, since))
            r10 = await app.heroku_lines("Error R10")
            variant.notes.append(f"{len(r10)} x Error R10")
            if label == "slow-boot":
                result.check(
                    f"slow-boot: H20 while booting ({variant.router['H20']})", variant.router["H20"] > 0
                )
                result.check(f"slow-boot: 200 once up ({variant.router['200']})", variant.router["200"] > 0)
                result.check("slow-boot: no R10", not r10)
            else:
                result.check("boot-timeout: R10 logged", bool(r10))
                result.check(
                    f"boot-timeout: no request answered 200 ({variant.router['200']})",
                    variant.router["200"] == 0 and variant.load.sent > 0,
                )
        return result
