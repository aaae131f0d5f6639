"""ps, ps:scale, ps:restart, ps:stop, ps:kill, restart, run, run:detached."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import click

from paas.cli.client import Client, CliError
from paas.cli.main import app_option, json_option, resolve_app
from paas.cli.ui import APP_GLYPH, action, echo, print_json

SCALE_USAGE = (
    "Usage: paas ps:scale DYNO1=AMOUNT1[:SIZE] [DYNO2=AMOUNT2 ...]\n"
    "Must specify DYNO and AMOUNT to scale.\n"
    "DYNO must be a process type (e.g. web), AMOUNT a count (web=3) or a change (web+2, web-1),\n"
    "SIZE a dyno size (web=2:standard-2x); web=standard-2x changes the size only."
)
ONE_OFF_TYPES = ("run", "release")  # one-off dynos: `paas run`, the release phase
_SCALE_ARG = re.compile(r"([A-Za-z0-9_-]+?)([=+-])(\d+)(?::([A-Za-z0-9-]+))?")
_SIZE_ONLY = re.compile(r"([A-Za-z0-9_-]+)=([A-Za-z][A-Za-z0-9-]*)")


def size_label(name: str) -> str:
    return "-".join(
        part.upper() if any(c.isdigit() for c in part) or len(part) == 1 else part.capitalize()
        for part in str(name).split("-")
    )


def parse_iso(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def ago(when: datetime, now: datetime | None = None) -> str:
    seconds = max(0, int(((now or datetime.now(UTC)) - when).total_seconds()))
    if seconds < 60:
        return f"~ {seconds}s ago"
    if seconds < 3600:
        return f"~ {seconds // 60}m ago"
    if seconds < 86400:
        return f"~ {seconds // 3600}h ago"
    return f"~ {seconds // 86400}d ago"


def state_line(dyno: dict[str, Any]) -> str:
    when = parse_iso(dyno["since"])
    local = when.astimezone()
    return f"{dyno['state']} {local.strftime('%Y/%m/%d %H:%M:%S %z')} ({ago(when)})"


def _dyno_number(name: str) -> tuple[str, int]:
    ptype, _, number = name.partition(".")
    return ptype, int(number) if number.isdigit() else 0


def render_ps(app: str, dynos: list[dict[str, Any]]) -> Iterator[str]:
    """Heroku's `ps` layout: one block per (type, size, command), then one-off dynos."""
    if not dynos:
        yield f"No dynos on {APP_GLYPH} {app}"
        return
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    runs = []
    for dyno in sorted(dynos, key=lambda d: _dyno_number(d["name"])):
        if dyno["type"] in ONE_OFF_TYPES:
            runs.append(dyno)
        else:
            groups.setdefault((dyno["type"], dyno["size"], dyno["command"]), []).append(dyno)
    first = True
    if runs:
        yield f"=== run: one-off processes ({len(runs)})"
        yield ""
        for run in runs:
            yield f"{run['name']} ({run['size']}): {state_line(run)}: {run['command']}"
        first = False
    for (ptype, size, command), members in groups.items():
        if not first:
            yield ""
        first = False
        yield f"=== {ptype} ({size}): {command} ({len(members)})"
        yield ""
        for dyno in members:
            yield f"{dyno['name']}: {state_line(dyno)}"


def parse_scale(args: tuple[str, ...], formation: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """web=3 worker=1 | web+2 | web-1 | web=2:standard-2x | web=standard-2x → PATCH updates."""
    current = {f["type"]: f for f in formation}
    updates: list[dict[str, Any]] = []
    for arg in args:
        size_only = _SIZE_ONLY.fullmatch(arg)
        match = _SCALE_ARG.fullmatch(arg)
        if size_only and not size_only.group(2).isdigit():
            ptype, size = size_only.groups()
            updates.append({"type": ptype, "size": size.lower()})
            continue
        if not match:
            raise CliError(SCALE_USAGE)
        ptype, op, amount, size = match.groups()
        quantity = int(amount)
        if op in "+-":
            if ptype not in current:
                known = ", ".join(sorted(current)) or "none (deploy first)"
                raise CliError(f"Couldn't find that process type ({ptype}). Known types: {known}.")
            quantity = current[ptype]["quantity"] + (quantity if op == "+" else -quantity)
            quantity = max(0, quantity)
        update: dict[str, Any] = {"type": ptype, "quantity": quantity}
        if size:
            update["size"] = size.lower()
        updates.append(update)
    return updates


def _restart(app: str | None, target: str | None) -> None:
    name = resolve_app(app)
    client = Client()
    if target is None:
        with action(f"Restarting dynos on {APP_GLYPH} {name}"):
            client.delete(f"/apps/{name}/dynos")
        return
    what = f"{target} dyno" if "." in target else f"{target} dynos"
    with action(f"Restarting {what} on {APP_GLYPH} {name}"):
        client.delete(f"/apps/{name}/dynos/{target}")


def build_command(words: tuple[str, ...]) -> str:
    """One word is a whole shell command (`paas run "rake test"`); several are quoted as needed,
    so `paas run python -c "import sys; sys.exit(3)"` reaches the dyno's bash intact."""
    if len(words) == 1:
        return words[0]
    return " ".join(shlex.quote(word) for word in words)


def split_app_flag(app: str | None, command: tuple[str, ...]) -> tuple[str | None, tuple[str, ...]]:
    """`paas run bash -a myapp` works like Heroku's: a trailing -a/--app belongs to us, unless
    the app was given before the command (then everything after it is the command's)."""
    if app:
        return app, command
    words = list(command)
    for i, word in enumerate(words):
        if word in ("-a", "--app") and i + 1 < len(words):
            return words[i + 1], tuple(words[:i] + words[i + 2 :])
        if word.startswith("--app="):
            return word.split("=", 1)[1], tuple(words[:i] + words[i + 1 :])
    return app, command


def parse_env(values: tuple[str, ...]) -> dict[str, str]:
    """-e 'A=1;B=2' -e C=3 → {A: 1, B: 2, C: 3} (Heroku's --env syntax)."""
    env: dict[str, str] = {}
    for value in values:
        for part in value.split(";"):
            if not part.strip():
                continue
            key, sep, val = part.partition("=")
            if not sep or not key.strip():
                raise CliError(f"--env must look like KEY=value, not {part!r}")
            env[key.strip()] = val
    return env


def register(cli: click.Group) -> None:
    @cli.command("ps")
    @click.argument("types", nargs=-1)
    @app_option()
    @json_option()
    def ps(types: tuple[str, ...], app: str | None, as_json: bool) -> None:
        """List the dynos of an app (optionally only some types)."""
        name = resolve_app(app)
        dynos = Client().get(f"/apps/{name}/dynos")
        if types:
            dynos = [d for d in dynos if d["type"] in types or d["name"] in types]
        if as_json:
            print_json(dynos)
            return
        for line in render_ps(name, dynos):
            echo(line)

    @cli.command("ps:scale")
    @click.argument("changes", nargs=-1)
    @app_option()
    def ps_scale(changes: tuple[str, ...], app: str | None) -> None:
        """Scale dyno quantity up or down: web=3 worker=1, web+2, web=2:standard-2x."""
        name = resolve_app(app)
        client = Client()
        formation = client.get(f"/apps/{name}/formation")
        if not changes:
            if not formation:
                raise CliError(f"No process types on {APP_GLYPH} {name}. Deploy your app first.")
            echo(" ".join(f"{f['type']}={f['quantity']}:{size_label(f['size'])}" for f in formation))
            return
        updates = parse_scale(changes, formation)
        with action("Scaling dynos") as result:
            rows = client.patch(f"/apps/{name}/formation", json={"updates": updates})
            result["suffix"] = "now running " + ", ".join(
                f"{r['type']} at {r['quantity']}:{size_label(r['size'])}" for r in rows
            )

    @cli.command("ps:restart")
    @click.argument("target", required=False)
    @app_option()
    def ps_restart(target: str | None, app: str | None) -> None:
        """Restart all dynos, one process type (web) or one dyno (web.1)."""
        _restart(app, target)

    @cli.command("restart")
    @click.argument("target", required=False)
    @app_option()
    def restart(target: str | None, app: str | None) -> None:
        """Restart app dynos (same as ps:restart)."""
        _restart(app, target)

    @cli.command("ps:stop")
    @click.argument("target")
    @app_option()
    def ps_stop(target: str, app: str | None) -> None:
        """Stop a dyno (web.1) or every dyno of a type; formation dynos then start again."""
        name = resolve_app(app)
        what = f"{target} dyno" if "." in target else f"{target} dynos"
        with action(f"Stopping {what} on {APP_GLYPH} {name}"):
            Client().post(f"/apps/{name}/dynos/{target}/actions/stop")

    @cli.command("ps:kill")
    @click.argument("target")
    @click.option("-s", "--signal", "sig", default="SIGKILL", help="signal to send (default SIGKILL)")
    @app_option()
    def ps_kill(target: str, sig: str, app: str | None) -> None:
        """Crash a dyno on purpose: send it a signal (paas extension)."""
        name = resolve_app(app)
        with action(f"Killing {target} dyno on {APP_GLYPH} {name}") as result:
            data = Client().post(f"/apps/{name}/dynos/{target}/actions/kill", json={"signal": sig})
            result["suffix"] = f"sent {data['signal']}"

    run_settings = {"ignore_unknown_options": True, "allow_interspersed_args": False}

    @cli.command("run", context_settings=run_settings)
    @click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
    @app_option()
    @click.option("-s", "--size", default=None, help="dyno size (e.g. standard-2x)")
    @click.option("-e", "--env", "env", multiple=True, help="environment variables, KEY=value;KEY2=value2")
    @click.option("--no-tty", is_flag=True, help="force the command to not run in a tty")
    @click.option(
        "-x", "--exit-code", is_flag=True, hidden=True, help="(always on) exit with the dyno's status"
    )
    def run(
        command: tuple[str, ...],
        app: str | None,
        size: str | None,
        env: tuple[str, ...],
        no_tty: bool,
        exit_code: bool,
    ) -> None:
        """Run a one-off process inside a dyno, attached to this terminal."""
        app, command = split_app_flag(app, command)
        if not command:
            raise CliError("Usage: paas run -a APP COMMAND...")
        name = resolve_app(app)
        text = build_command(command)
        client = Client()
        body: dict[str, Any] = {"command": text, "attach": True, "env": parse_env(env) or None}
        if size:
            body["size"] = size
        dyno = client.post(f"/apps/{name}/dynos", json=body)
        tty = not no_tty and sys.stdin.isatty() and sys.stdout.isatty()
        status = attach(websocket_url(client.url, dyno["attach_url"]), text, dyno["name"], tty)
        sys.exit(status)

    @cli.command("run:detached", context_settings=run_settings)
    @click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
    @app_option()
    @click.option("-s", "--size", default=None, help="dyno size (e.g. standard-2x)")
    @click.option("-e", "--env", "env", multiple=True, help="environment variables, KEY=value;KEY2=value2")
    @json_option()
    def run_detached(
        command: tuple[str, ...], app: str | None, size: str | None, env: tuple[str, ...], as_json: bool
    ) -> None:
        """Run a detached dyno; its output goes to the log stream."""
        app, command = split_app_flag(app, command)
        if not command:
            raise CliError("Usage: paas run:detached -a APP COMMAND...")
        name = resolve_app(app)
        text = build_command(command)
        body: dict[str, Any] = {"command": text, "attach": False, "env": parse_env(env) or None}
        if size:
            body["size"] = size
        click.echo(f"Running `{text}` on {APP_GLYPH} {name}... ", err=True, nl=False)
        try:
            dyno = Client().post(f"/apps/{name}/dynos", json=body)
        except CliError:
            click.echo("!", err=True)
            raise
        click.echo(f"up, {dyno['name']}", err=True)
        if as_json:
            print_json(dyno)
            return
        echo(f"Run paas logs --app {name} --dyno {dyno['name']} to view the output.")


def websocket_url(api_url: str, attach_url: str) -> str:
    """The WebSocket door to the same one-off: `attach_url` is Heroku's rendezvous URL
    (`rendezvous://host:port/<secret>`); its secret also opens `<api>/attach/<secret>`, where
    paas's own protocol carries the exit status and signals."""
    secret = attach_url.rstrip("/").rsplit("/", 1)[-1]
    return f"{api_url.replace('http://', 'ws://', 1)}/attach/{secret}"


def attach(url: str, command: str, name: str, tty: bool) -> int:
    """Bridge this terminal to the dyno over the attach WebSocket. Returns the dyno's status."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    try:
        ws = connect(url, max_size=None, open_timeout=10)
    except (OSError, TimeoutError) as exc:
        raise CliError(f"could not attach to {name}: {exc}") from None
    rows, cols = _terminal_size()
    ws.send(json.dumps({"type": "start", "tty": tty, "rows": rows, "cols": cols}))
    try:
        stdin_fd = sys.stdin.fileno() if sys.stdin is not None else -1
    except (OSError, ValueError):  # stdin closed: the dyno just gets none
        stdin_fd = -1
    restore = None
    status = 1
    previous_handlers: dict[int, Any] = {}
    try:
        first = ws.recv()
        answer = json.loads(first) if isinstance(first, str) else {}
        if answer.get("type") == "error":
            raise CliError(f"could not attach to {name}: {answer.get('message')}")
        if answer.get("type") == "up":
            click.echo(f"Running `{command}` attached to terminal... up, {name}", err=True)
        if tty:
            restore = _raw_mode(stdin_fd)

            def on_winch(*_: Any) -> None:
                r, c = _terminal_size()
                with contextlib.suppress(Exception):
                    ws.send(json.dumps({"type": "resize", "rows": r, "cols": c}))

            previous_handlers[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, on_winch)
        else:

            def on_interrupt(signum: int, _frame: Any) -> None:
                with contextlib.suppress(Exception):
                    ws.send(json.dumps({"type": "signal", "signal": signal.Signals(signum).name}))

            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
                previous_handlers[sig] = signal.signal(sig, on_interrupt)
        if stdin_fd >= 0:
            threading.Thread(target=_pump_stdin, args=(ws, stdin_fd), daemon=True).start()
        else:
            ws.send(json.dumps({"type": "stdin_eof"}))
        while True:
            try:
                message = ws.recv()
            except ConnectionClosed:
                break
            if isinstance(message, bytes):
                target = sys.stderr if message[:1] == b"\x02" else sys.stdout
                target.buffer.write(message[1:])
                target.buffer.flush()
                continue
            data = json.loads(message)
            if data.get("type") == "exit":
                status = int(data.get("status", 1))
                break
    finally:
        if restore is not None:
            restore()
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)
        with contextlib.suppress(Exception):
            ws.close()
    return status


def _pump_stdin(ws: Any, fd: int) -> None:
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        try:
            if not data:
                ws.send(json.dumps({"type": "stdin_eof"}))
                return
            ws.send(data)
        except Exception:
            return


def _terminal_size() -> tuple[int, int]:
    size = shutil.get_terminal_size((80, 24))
    return size.lines, size.columns


def _raw_mode(fd: int) -> Any:
    import termios
    import tty

    try:
        saved = termios.tcgetattr(fd)
    except termios.error:
        return None
    tty.setraw(fd)

    def restore() -> None:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)

    return restore
