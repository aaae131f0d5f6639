"""preboot: the same deploy under load, without and with preboot."""

from __future__ import annotations

import asyncio

from paas.lab.context import LabContext
from paas.lab.engine import Result, Scenario, Variant

BOOT_DELAY = 2.5


class Preboot(Scenario):
    name = "preboot"
    summary = "Redeploy a slow-booting app under load, without preboot (H20s) and with it (none)"
    apps = ("lab",)
    timers = {"router_hold_timeout": 1.0, "boot_timeout": 8.0}
    seconds = 30
    app_markers = ("Booting slowly", "SIGTERM:")
    explanation = f"""\
Without preboot a deploy restarts the web dynos in place: the old dyno is stopped, the new one
boots, and until it is up the router holds requests (then H20 after PAAS_ROUTER_HOLD_TIMEOUT,
Heroku: 75 s). With a slow boot users wait or fail on every deploy.
With preboot (`paas features:enable preboot`) the new dynos boot beside the old ones, which
keep serving; routing switches to the new dynos once they are up, and only then do the old
ones get SIGTERM. The deploy is invisible to clients (Heroku switches about 3 minutes after
the build; here as soon as the new dynos are up).
Both variants: the lab app with BOOT_DELAY={BOOT_DELAY:g}s, steady traffic, the same source
deployed a second time."""

    async def run(self, ctx: LabContext) -> Result:
        result = self.result(ctx)
        for label, preboot in (("without-preboot", False), ("with-preboot", True)):
            app = await ctx.app(label.split("-")[0] + "pb")
            await app.set_config({"BOOT_DELAY": f"{BOOT_DELAY:g}"})
            if preboot:
                await app.feature("preboot")
            await app.deploy("lab")
            await app.wait_up(timeout=BOOT_DELAY + 15)
            ctx.say(f"{label}: steady traffic, deploying the same source again")
            since = len(app.watch.requests)
            stop = asyncio.Event()
            load = asyncio.create_task(
                app.load("/", concurrency=3, gap=0.1, seconds=60, max_requests=900, stop=stop)
            )
            await asyncio.sleep(0.5)
            await app.deploy("lab")
            version = await app.current_release()
            await app.wait_release_up(version, timeout=BOOT_DELAY + 15)
            await asyncio.sleep(1.0)
            stop.set()
            report = await load
            action = (
                f"second deploy under load, BOOT_DELAY={BOOT_DELAY:g}s, preboot {'on' if preboot else 'off'}"
            )
            result.variants.append(
                await self.finish(app, Variant(label, app.name, action, load=report), since)
            )
        without, with_ = result.variants
        errors = {k: v for k, v in with_.router.items() if k.startswith("H")}
        result.check(
            f"without-preboot: requests fail while the new dyno boots (H20 x {without.router['H20']})",
            without.router["H20"] > 0,
        )
        result.check(f"with-preboot: no router errors ({errors or 'none'})", not errors)
        return result
