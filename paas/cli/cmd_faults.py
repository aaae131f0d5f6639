"""faults, faults:add, faults:remove, faults:clear — toxiproxy-style faults between router and a dyno."""

from __future__ import annotations

from typing import Any

import click

from paas.cli.client import Client, CliError
from paas.cli.main import app_option, json_option, resolve_app
from paas.cli.ui import APP_GLYPH, action, echo, header, print_json, table

FAULT_TYPES = ("latency", "timeout", "reset_peer", "slow_close", "bandwidth", "limit_data")
# which attribute --ms sets, per type (toxiproxy's attribute names)
MS_ATTRIBUTE = {"latency": "latency", "timeout": "timeout", "reset_peer": "timeout", "slow_close": "delay"}
REQUIRED = {"latency": "--ms", "slow_close": "--ms", "bandwidth": "--rate", "limit_data": "--bytes"}
EFFECT = {
    "latency": "responses start {ms} ms later (see service= in the router log)",
    "timeout": "the dyno's bytes never reach the router: expect H12 (or H13 if it closes first)",
    "reset_peer": "connections are reset: expect H13 (H18 if a response had started)",
    "slow_close": "closes reach the router late: close-delimited responses take longer",
    "bandwidth": "responses trickle at the given rate",
    "limit_data": "responses are cut off: expect H18 (H13 with --bytes 0)",
}


def attributes_for(
    kind: str, ms: int | None, jitter: int | None, rate: int | None, nbytes: int | None
) -> dict[str, int]:
    given = {"--ms": ms, "--jitter": jitter, "--rate": rate, "--bytes": nbytes}
    accepted = {
        "latency": {"--ms", "--jitter"},
        "timeout": {"--ms"},
        "reset_peer": {"--ms"},
        "slow_close": {"--ms"},
        "bandwidth": {"--rate"},
        "limit_data": {"--bytes"},
    }[kind]
    for flag, value in given.items():
        if value is not None and flag not in accepted:
            raise CliError(f"{flag} does not apply to {kind} (it takes: {', '.join(sorted(accepted))})")
    need = REQUIRED.get(kind)
    if need and given[need] is None:
        raise CliError(f"{kind} needs {need}")
    attrs: dict[str, int] = {}
    if ms is not None:
        attrs[MS_ATTRIBUTE[kind]] = ms
    if jitter is not None:
        attrs["jitter"] = jitter
    if rate is not None:
        attrs["rate"] = rate
    if nbytes is not None:
        attrs["bytes"] = nbytes
    return attrs


def _attrs(fault: dict[str, Any]) -> str:
    units = {"latency": "ms", "jitter": "ms", "timeout": "ms", "delay": "ms", "rate": "KB/s", "bytes": "B"}
    return " ".join(f"{k}={v}{units.get(k, '')}" for k, v in fault["attributes"].items())


def register(cli: click.Group) -> None:
    @cli.command("faults")
    @app_option()
    @json_option()
    def faults(app: str | None, as_json: bool) -> None:
        """List the faults injected between the router and the app's dynos."""
        name = resolve_app(app)
        data = Client().get(f"/apps/{name}/faults")
        if as_json:
            print_json(data)
            return
        if not data["faults"]:
            echo(f"No faults on {APP_GLYPH} {name}.")
            return
        header(f"{name} Faults")
        rows = [
            (f["dyno"], f["name"], f["type"], _attrs(f), f["stream"], f"{f['toxicity']:g}", f["connections"])
            for f in data["faults"]
        ]
        table(rows, ["Dyno", "Name", "Type", "Attributes", "Stream", "Toxicity", "Connections"])

    @cli.command("faults:add")
    @click.argument("dyno")
    @click.argument("kind", metavar="TYPE", type=click.Choice(FAULT_TYPES))
    @click.option(
        "--ms",
        type=click.IntRange(0),
        default=None,
        help="latency / timeout / reset_peer delay / slow_close delay, in ms",
    )
    @click.option("--jitter", type=click.IntRange(0), default=None, help="latency jitter (± ms)")
    @click.option("--rate", type=click.IntRange(0), default=None, help="bandwidth in KB/s")
    @click.option(
        "--bytes", "nbytes", type=click.IntRange(0), default=None, help="limit_data: bytes before close"
    )
    @click.option("--name", default=None, help="fault name (default: the type)")
    @click.option(
        "--stream",
        type=click.Choice(["downstream", "upstream"]),
        default="downstream",
        help="downstream = dyno→router (default), upstream = router→dyno",
    )
    @click.option(
        "--toxicity",
        type=click.FloatRange(0, 1),
        default=1.0,
        help="chance a new connection gets the fault (default 1)",
    )
    @app_option()
    @json_option()
    def faults_add(
        dyno: str,
        kind: str,
        ms: int | None,
        jitter: int | None,
        rate: int | None,
        nbytes: int | None,
        name: str | None,
        stream: str,
        toxicity: float,
        app: str | None,
        as_json: bool,
    ) -> None:
        """Add a fault between the router and DYNO (web.1, or web for every web dyno).

        \b
        TYPE is one of:
          latency     --ms N [--jitter N]  delay every chunk
          timeout     [--ms N]             swallow the bytes; close after N ms (0 = never)
          reset_peer  [--ms N]             TCP RST N ms after the connection opens
          slow_close  --ms N               pass the close on N ms late
          bandwidth   --rate KB/s          throttle
          limit_data  --bytes N            close after N bytes
        """
        app_name = resolve_app(app)
        attrs = attributes_for(kind, ms, jitter, rate, nbytes)
        body = {
            "dyno": dyno,
            "type": kind,
            "name": name,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": attrs,
        }
        client = Client()
        if as_json:
            print_json(client.post(f"/apps/{app_name}/faults", json=body))
            return
        with action(f"Adding {kind} fault to {dyno} on {APP_GLYPH} {app_name}"):
            created = client.post(f"/apps/{app_name}/faults", json=body)
        echo(
            f"{created['dyno']} {created['name']}: {_attrs(created)} ({created['stream']})".replace(
                ":  (", ": ("
            )
        )
        echo(EFFECT[kind].format(ms=ms))

    @cli.command("faults:remove")
    @click.argument("dyno")
    @click.argument("name")
    @app_option()
    def faults_remove(dyno: str, name: str, app: str | None) -> None:
        """Remove the fault NAME from DYNO."""
        app_name = resolve_app(app)
        with action(f"Removing fault {name} from {dyno} on {APP_GLYPH} {app_name}"):
            Client().delete(f"/apps/{app_name}/faults/{dyno}/{name}")

    @cli.command("faults:clear")
    @click.argument("dyno", required=False)
    @app_option()
    def faults_clear(dyno: str | None, app: str | None) -> None:
        """Remove every fault of the app (or of one DYNO)."""
        app_name = resolve_app(app)
        where = f"{dyno} on " if dyno else ""
        with action(f"Clearing faults of {where}{APP_GLYPH} {app_name}") as result:
            data = Client().delete(f"/apps/{app_name}/faults", params={"dyno": dyno} if dyno else None)
            result["suffix"] = f"{data['removed']} removed"
