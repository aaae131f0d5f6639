"""env — the exports that point Heroku's own CLI (npm `heroku`) at this local platform.

`eval "$(paas env)"` and then `heroku apps`, `heroku run`, `git push heroku main`, ... talk to
the local daemon: the API (`HEROKU_HOST`, which the CLI accepts for 127.0.0.1), its key, the
particleboard lookups, the data API and git (both over TLS with the local CA, as Heroku's
clients insist on https there), and the trust Node and git need for that CA. git's trust is
scoped to the local git host (`http.<url>.sslCAInfo` through git's GIT_CONFIG_* variables), so
other https remotes keep the system's authorities.
"""

from __future__ import annotations

import shlex
from typing import Any
from urllib.parse import urlsplit

import click

from paas.cli.client import Client
from paas.cli.main import json_option
from paas.cli.ui import echo, print_json


def heroku_env(status: dict[str, Any], token: str) -> dict[str, str]:
    api = str(status["api_url"]).rstrip("/")
    tls_host = urlsplit(str(status["api_tls_url"])).netloc
    ca = str(status["ca_path"])
    return {
        "HEROKU_HOST": api,
        "HEROKU_API_KEY": token,
        "HEROKU_PARTICLEBOARD_URL": api,
        # a host name without a port: the CLI keeps HEROKU_HOST's scheme and port for it
        "HEROKU_DATA_HOST": str(urlsplit(api).hostname),
        "HEROKU_GIT_HOST": tls_host,
        "NODE_EXTRA_CA_CERTS": ca,
        # `heroku pg:psql` asks psql for TLS unless the host is `localhost`; the embedded
        # PostgreSQL listens on 127.0.0.1 without TLS. `prefer` is libpq's own default.
        "PGSSLMODE": "prefer",
        # a local platform's commands are nobody's business: no usage reports to Heroku
        "DISABLE_TELEMETRY": "true",
        "HEROKU_SKIP_ANALYTICS": "1",
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"http.https://{tls_host}/.sslCAInfo",
        "GIT_CONFIG_VALUE_0": ca,
    }


def register(cli: click.Group) -> None:
    @cli.command("env")
    @json_option()
    def env(as_json: bool) -> None:
        """Print the exports that point the official heroku CLI at this platform:
        eval "$(paas env)"."""
        client = Client()
        values = heroku_env(client.get("/status"), client.token)
        if as_json:
            print_json(values)
            return
        echo('# point the official heroku CLI at this paas daemon: eval "$(paas env)"')
        for key, value in values.items():
            echo(f"export {key}={shlex.quote(value)}")
