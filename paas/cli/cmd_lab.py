"""lab, lab:run — the router-error lab (scenarios in paas/lab/scenarios)."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import click

from paas.cli.client import Client, CliError
from paas.cli.main import json_option
from paas.cli.ui import action, echo, print_json, table, warn


def register(cli: click.Group) -> None:
    @cli.command("lab")
    @json_option()
    def lab(as_json: bool) -> None:
        """List the router-error lab's scenarios."""
        from paas.lab.scenarios import CATALOG

        if as_json:
            print_json(
                [
                    {
                        "name": s.name,
                        "summary": s.summary,
                        "seconds": s.seconds,
                        "apps": list(s.apps),
                        "timers": s.wanted_timers(),
                    }
                    for s in CATALOG.values()
                ]
            )
            return
        table(
            [(s.name, f"~{s.seconds}s", s.summary) for s in CATALOG.values()],
            ["Scenario", "Takes", "Summary"],
        )
        echo()
        echo("Run one with: paas lab:run NAME   (docs: docs/lab/<NAME>.md)")

    @cli.command("lab:run")
    @click.argument("name")
    @click.option(
        "--use-running",
        is_flag=True,
        help="run against the daemon you already have (its timers) instead of a throwaway one",
    )
    @click.option("--keep", is_flag=True, help="with --use-running: keep the scenario's apps afterwards")
    @click.option(
        "--runtime",
        type=click.Choice(["process", "docker"]),
        default="process",
        help="dyno runtime of the throwaway daemon (default process)",
    )
    @json_option()
    def lab_run(name: str, use_running: bool, keep: bool, runtime: str, as_json: bool) -> None:
        """Run a scenario: deploy, drive load, act, and report the codes the router logged.

        By default the scenario gets its own throwaway `paas daemon` with short timers
        (free ports, a temporary PAAS_HOME), stopped afterwards.
        """
        from paas.lab import scenarios
        from paas.lab.context import LabContext, LabError, examples_dir
        from paas.lab.engine import run_scenario
        from paas.lab.report import render
        from paas.lab.throwaway import ThrowawayDaemon

        try:
            scenario_cls = scenarios.get(name)
        except KeyError as exc:
            raise CliError(str(exc.args[0])) from None
        if keep and not use_running:
            raise CliError(
                "--keep only applies with --use-running (a throwaway daemon takes its apps with it)"
            )
        examples = examples_dir()
        missing = [a for a in scenario_cls.apps if not (examples / a / "Procfile").is_file()]
        if missing:
            raise CliError(
                f"the example apps {', '.join(missing)} are not in {examples}; set PAAS_EXAMPLES_DIR"
            )

        def say(text: str) -> None:
            click.echo(f"  {text}", err=True)

        throwaway: ThrowawayDaemon | None = None
        _interrupt_on(signal.SIGTERM, signal.SIGHUP)  # so the throwaway daemon is stopped, not orphaned
        try:
            if use_running:
                client = Client()
                status = client.get("/status")
                timers: dict[str, Any] = client.get("/lab/timers")
                _warn_slow_timers(scenario_cls.wanted_timers(), timers)
                ctx = LabContext(
                    client.url, client.token, int(status["router_port"]), timers, keep=keep, say=say
                )
            else:
                with action(f"Starting a throwaway paas daemon with short timers ({runtime} runtime)"):
                    throwaway = ThrowawayDaemon(scenario_cls.wanted_timers(), runtime=runtime).start()
                ctx = LabContext(
                    throwaway.api_url,
                    throwaway.token,
                    throwaway.router_port,
                    scenario_cls.wanted_timers(),
                    say=say,
                )
            click.echo(f"Running {name} (about {scenario_cls.seconds}s)...", err=True)
            try:
                result = asyncio.run(run_scenario(scenario_cls(), ctx))
            except LabError as exc:
                tail = f"\n{throwaway.log_tail()}" if throwaway is not None else ""
                raise CliError(f"{name} could not run: {exc}{tail}") from None
        finally:
            if throwaway is not None:
                with action("Stopping the throwaway daemon"):
                    throwaway.stop()
        if as_json:
            print_json(result.to_json())
        else:
            for line in render(result):
                echo(line)
        if not result.ok:
            raise CliError(f"{name} did not go as the lesson predicts; see the checks above")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _interrupt_on(*signals: signal.Signals) -> None:
    for sig in signals:
        signal.signal(sig, _interrupt)


def _warn_slow_timers(wanted: dict[str, float], actual: dict[str, float]) -> None:
    slower = [
        f"{k}={actual[k]:g}s (the scenario is sized for {v:g}s)"
        for k, v in sorted(wanted.items())
        if k in actual and actual[k] > v * 1.5 and actual[k] - v > 1
    ]
    if slower:
        warn(
            "your daemon's timers are longer than this scenario expects; it will run longer and may not "
            "show every effect: " + ", ".join(slower)
        )
