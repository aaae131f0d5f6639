"""keepalive-tail: Router 2.0's connection reuse meets Puma 6's greedy keep-alive (and Puma 7's fix)."""

from __future__ import annotations

from paas.lab.context import LabContext
from paas.lab.engine import Result, Scenario, Variant

FEATURE = "http-routing-2-dot-0"
CLIENTS = 8
THREADS = 1
EXAMPLE = "keepalive-puma"


class KeepaliveTail(Scenario):
    name = "keepalive-tail"
    summary = "Connection reuse to dynos + a Puma-6-like server: a long latency tail and H12s; Puma 7 fair"
    apps = (EXAMPLE,)
    timers = {"router_timeout": 3.0}
    seconds = 60
    explanation = """\
Heroku's "Pumas, Routers & Keepalives—Oh my!": after answering a request on a keep-alive
connection, Puma 6 waits up to 0.2 s for that connection's next request and serves it at once,
ahead of requests already waiting on other connections; it lets the connection go only after
10 such requests (max_fast_inline) when others wait. The legacy router opens a new connection
per request, so nothing is ever "next" on a connection: requests are served in arrival order.
Router 2.0 keeps connections to dynos open and reuses them, so the next request on a
connection comes at once and one connection keeps the thread for ten requests while the
requests on every other connection wait: the median improves and the tail grows, past the
router timeout (H12) when enough connections queue behind each other. Puma 7 made keep-alive
fair: a connection with a new request goes to the back of the queue like any other.
Every variant: examples/keepalive-puma with one thread, SERVICE_MS of work per request
(router timeout / 60), the same closed-loop load of CLIENTS clients through the router.
- puma6-legacy / puma7-legacy: no feature: a new dyno connection per request.
- puma6-reuse / puma7-reuse: http-routing-2-dot-0: dyno connections kept and reused.
Fix in your app: upgrade to Puma 7, or (Puma 6) `enable_keep_alives false`, or
`heroku labs:enable http-disable-keepalive-to-dyno`."""

    async def run(self, ctx: LabContext) -> Result:
        result = self.result(ctx)
        timeout = ctx.timer("router_timeout", 30)
        service_ms = max(1, round(timeout * 1000 / 60))
        seconds = max(4.0, 2.5 * timeout)
        config = {"PUMA_THREADS": str(THREADS), "SERVICE_MS": str(service_ms)}
        for mode in ("6", "7"):
            for reuse in (False, True):
                label = f"puma{mode}-{'reuse' if reuse else 'legacy'}"
                app = await ctx.app(label)
                await app.set_config({**config, "PUMA_MODE": mode})
                if reuse:
                    await app.feature(FEATURE)
                await app.deploy(EXAMPLE)
                await app.wait_up()
                ctx.say(f"{label}: {CLIENTS} clients for {seconds:g}s, {service_ms} ms of work per request")
                since = len(app.watch.requests)
                report = await app.load("/", concurrency=CLIENTS, seconds=seconds, max_requests=1000)
                action = (
                    f"Puma-{mode}-like, {THREADS} thread, {'Router 2.0 reuse' if reuse else 'legacy router'}, "
                    f"{CLIENTS} clients"
                )
                variant = await self.finish(app, Variant(label, app.name, action, load=report), since)
                result.variants.append(variant)
        self._compare(result, timeout)
        return result

    def _compare(self, result: Result, timeout: float) -> None:
        rows = {v.label: v for v in result.variants}
        result.table.append(f" {'variant':<13} {'p50':>8} {'p99':>8} {'max':>8} {'H12':>5} {'sent':>5}")
        for v in result.variants:
            load = v.load.to_json()
            result.table.append(
                f" {v.label:<13} {load['p50_ms']:>5} ms {load['p99_ms']:>5} ms {load['max_ms']:>5} ms "
                f"{v.router['H12']:>5} {load['sent']:>5}"
            )
        greedy, fair = rows["puma6-reuse"], rows["puma7-reuse"]
        p99 = {label: v.load.to_json()["p99_ms"] or 0 for label, v in rows.items()}
        result.check(
            f"puma6-reuse: H12s from the router's timeout ({greedy.router['H12']})", greedy.router["H12"] > 0
        )
        result.check(
            f"puma6-reuse: p99 {p99['puma6-reuse']} ms past the router timeout ({timeout * 1000:.0f} ms)",
            p99["puma6-reuse"] >= timeout * 1000,
        )
        others = ("puma6-legacy", "puma7-legacy", "puma7-reuse")
        errors = {
            label: sum(n for k, n in rows[label].router.items() if k.startswith("H")) for label in others
        }
        result.check(f"no H-codes without the greedy server and reuse ({errors})", not any(errors.values()))
        result.check(
            f"puma7-reuse: p99 {p99['puma7-reuse']} ms well under the timeout",
            p99["puma7-reuse"] < timeout * 1000 / 2 and fair.router["200"] > 0,
        )
