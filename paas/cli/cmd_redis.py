"""redis:info, redis:cli, redis:credentials, redis:maxmemory, redis:timeout (Heroku Key-Value Store).

DATABASE picks the add-on as the heroku CLI does: part of its name or of a config var name.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from typing import Any

import click
from redis.connection import SSLConnection
from redis.exceptions import RedisError, ResponseError

from paas.cli.client import Client, CliError
from paas.cli.main import app_option, json_option, resolve_app
from paas.cli.ui import echo, header, key_values, print_json

REDIS_CLI_CANDIDATES = ("/usr/bin/redis-cli",)


def _params(database: str | None) -> dict[str, str]:
    return {"database": database} if database else {}


def find_redis_cli() -> str:
    found = shutil.which("redis-cli")
    for candidate in (found, *REDIS_CLI_CANDIDATES):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise CliError(
        "The local redis-cli command could not be located. Install it (apt-get install redis-tools)."
    )


def _print_reply(reply: Any) -> None:
    """As redis-cli prints replies when its output is not a terminal: values, one per line."""
    if isinstance(reply, list):
        for item in reply:
            _print_reply(item)
    elif reply is None:
        click.echo("")
    elif isinstance(reply, bytes):
        click.echo(reply.decode(errors="replace"))
    else:
        click.echo(str(reply))


def command_args(command: str) -> list[str]:
    """Shell-like words: `SET greeting 'hello world'` is three."""
    try:
        args = shlex.split(command)
    except ValueError as exc:
        raise CliError(f"Cannot read the command: {exc}.") from None
    if not args:
        raise CliError("The command is empty.")
    return args


def run_one(creds: dict[str, Any], args: list[str]) -> int:
    """One command over TLS (the local CA verifies the server): the reply on stdout as
    redis-cli prints it to a pipe; an error reply on stderr and exit status 1."""
    conn = SSLConnection(
        host=creds["host"],
        port=creds["port"],
        password=creds["password"],
        ssl_ca_certs=creds["ca_path"],
        socket_connect_timeout=10,
        socket_timeout=60,
        protocol=2,  # replies as redis-cli shows them: arrays, not maps or sets
    )
    try:
        conn.send_command(*args)  # type: ignore[no-untyped-call]
        reply = conn.read_response()
    except ResponseError as exc:
        click.echo(f"(error) {exc}", err=True)
        return 1
    except RedisError as exc:
        raise CliError(f"Cannot reach {creds['addon']}: {exc}") from None
    finally:
        conn.disconnect()  # type: ignore[no-untyped-call]
    _print_reply(reply)
    return 0


def interactive(creds: dict[str, Any]) -> None:
    """Debian's redis-cli over TLS; the password goes through the environment, not argv."""
    redis_cli = find_redis_cli()
    args = [
        redis_cli, "--tls", "--cacert", creds["ca_path"], "-h", creds["host"], "-p", str(creds["port"]),
    ]  # fmt: skip
    env = dict(os.environ, REDISCLI_AUTH=creds["password"])
    if sys.stdin.isatty():
        os.execve(redis_cli, args, env)  # redis-cli owns the terminal from here on
    result = subprocess.run(args, env=env)
    if result.returncode != 0:
        sys.exit(result.returncode)


def _info(target: str, database: str | None, as_json: bool) -> None:
    data = Client().get(f"/apps/{target}/redis", params=_params(database))
    if as_json:
        print_json(data)
        return
    for n, d in enumerate(data):
        if n:
            echo()
        header(f"{d['name']} ({', '.join(d['config_vars'])})")
        key_values([(row["name"], "\n".join(row["values"])) for row in d["info"]])


def register(cli: click.Group) -> None:
    @cli.command("redis:info")
    @click.argument("database", required=False)
    @app_option()
    @json_option()
    def redis_info(database: str | None, app: str | None, as_json: bool) -> None:
        """Gets information about redis."""
        _info(resolve_app(app), database, as_json)

    @cli.command("redis", hidden=True)
    @click.argument("database", required=False)
    @app_option()
    @json_option()
    def redis_alias(database: str | None, app: str | None, as_json: bool) -> None:
        """Gets information about redis (alias of redis:info)."""
        _info(resolve_app(app), database, as_json)

    @cli.command("redis:cli")
    @click.argument("database", required=False)
    @app_option()
    @click.option("-c", "--command", "command", default=None, help="run one command and print its reply")
    @click.option(
        "--confirm", default=None, hidden=True, help="accepted for the heroku CLI's sake (always TLS)"
    )
    def redis_cli(database: str | None, app: str | None, command: str | None, confirm: str | None) -> None:
        """Opens a redis prompt (or runs one command with -c)."""
        _cli(resolve_app(app), database, command)

    @cli.command("redis:credentials")
    @click.argument("database", required=False)
    @app_option()
    @click.option("--reset", is_flag=True, help="reset credentials")
    def redis_credentials(database: str | None, app: str | None, reset: bool) -> None:
        """Display credentials information (--reset: new credentials, a new release)."""
        _credentials(resolve_app(app), database, reset)

    @cli.command("redis:maxmemory")
    @click.argument("database", required=False)
    @app_option()
    @click.option("-p", "--policy", required=True, help="set policy name")
    def redis_maxmemory(database: str | None, app: str | None, policy: str) -> None:
        """Set the key eviction policy when instances reach their storage limit."""
        _maxmemory(resolve_app(app), database, policy)

    @cli.command("redis:timeout")
    @click.argument("database", required=False)
    @app_option()
    @click.option("-s", "--seconds", required=True, type=int, help="set timeout value")
    def redis_timeout(database: str | None, app: str | None, seconds: int) -> None:
        """Set the number of seconds to wait before killing idle connections (0: never)."""
        _timeout(resolve_app(app), database, seconds)


def _credentials(target: str, database: str | None, reset: bool) -> None:
    client = Client(timeout=120)
    creds = client.get(f"/apps/{target}/redis/credentials", params=_params(database))
    if not reset:
        echo(creds["url"])
        return
    echo(f"Resetting credentials for {creds['addon']}")
    client.post(f"/apps/{target}/redis/credentials-rotation", params={"database": creds["addon"]})


def _maxmemory(target: str, database: str | None, policy: str) -> None:
    c = Client().patch(
        f"/apps/{target}/redis/config", json={"maxmemory_policy": policy}, params=_params(database)
    )
    value = c["maxmemory_policy"]["value"]
    echo(f"Maxmemory policy for {c['addon']} ({', '.join(c['config_vars'])}) set to {value}.")
    echo(f"{value} {c['maxmemory_policy']['values'][value]}.")


def _timeout(target: str, database: str | None, seconds: int) -> None:
    c = Client().patch(f"/apps/{target}/redis/config", json={"timeout": seconds}, params=_params(database))
    value = c["timeout"]["value"]
    echo(f"Timeout for {c['addon']} ({', '.join(c['config_vars'])}) set to {value} seconds.")
    if value == 0:
        echo("Connections to the Redis instance can idle indefinitely.")
    else:
        echo(f"Connections to the Redis instance will be stopped after idling for {value} seconds.")


def _cli(target: str, database: str | None, command: str | None) -> None:
    args = command_args(command) if command is not None else None
    creds = Client().get(f"/apps/{target}/redis/credentials", params=_params(database))
    click.echo(f"Connecting to {creds['addon']} ({', '.join(creds['config_vars'])}):", err=True)
    if args is None:
        interactive(creds)
        return
    status = run_one(creds, args)
    if status:
        sys.exit(status)
