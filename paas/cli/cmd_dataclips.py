"""dataclips, dataclips:create, dataclips:run, dataclips:share, dataclips:revoke."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import httpx

from paas.cli.client import Client, CliError
from paas.cli.main import json_option
from paas.cli.ui import echo, header, key_values, print_json, table

TABLE_ROWS = 1_000


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _run_error(client: Client, clip_id: str, body: dict[str, Any]) -> Any:
    """POST run; SQL errors come back as 422 with the position, shown like psql would."""
    try:
        response = client.http.post(f"/dataclips/api/clips/{clip_id}/run", json=body)
    except httpx.ConnectError:
        raise CliError(f"cannot reach the paas daemon at {client.url}. Is `paas daemon` running?") from None
    data = response.json() if response.content else {}
    if response.status_code >= 400:
        message = data.get("message") or response.reason_phrase
        err = data.get("error") or {}
        if err.get("line"):
            message += f" (line {err['line']}, column {err['column']})"
        if err.get("hint"):
            message += f"\nHint: {err['hint']}"
        raise CliError(message)
    return data


def register(cli: click.Group) -> None:
    @cli.command("dataclips")
    @json_option()
    def dataclips(as_json: bool) -> None:
        """List dataclips."""
        data = Client().get("/dataclips/api/clips")
        if as_json:
            print_json(data)
            return
        if not data:
            echo("No dataclips.")
            return
        table([[c["id"], c["title"], c["target"], f"v{c['version']}", c["updated_at"]] for c in data],
              ["ID", "Title", "Database", "Version", "Updated"])  # fmt: skip

    @cli.command("dataclips:create")
    @click.option("--title", required=True, help="title of the dataclip")
    @click.option("--addon", required=True, help="Postgres add-on name to query, or `platform`")
    @click.option("--sql", default=None, help="SQL of the query")
    @click.option(
        "--file", "file", type=click.Path(dir_okay=False), default=None, help="file holding the SQL"
    )
    @json_option()
    def dataclips_create(title: str, addon: str, sql: str | None, file: str | None, as_json: bool) -> None:
        """Create a dataclip from SQL (--sql or --file)."""
        if (sql is None) == (file is None):
            raise CliError("Give the query with exactly one of --sql SQL or --file FILE.")
        if file is not None:
            try:
                sql = Path(file).read_text()
            except (OSError, UnicodeDecodeError) as e:
                raise CliError(f"Cannot read {file}: {e}") from None
        data = Client().post("/dataclips/api/clips", json={"title": title, "target": addon, "sql": sql})
        if as_json:
            print_json(data)
            return
        echo(f"Created dataclip {data['id']} ({data['title']}) on {data['target']}, v{data['version']}")

    @cli.command("dataclips:run")
    @click.argument("clip_id")
    @json_option()
    def dataclips_run(clip_id: str, as_json: bool) -> None:
        """Run a dataclip and print its results."""
        client = Client(timeout=None)  # type: ignore[arg-type]  # the server enforces the clip timeout
        data = _run_error(client, clip_id, {"fresh": True, "limit": 100_000 if as_json else TABLE_ROWS})
        result = data["result"]
        if as_json:
            print_json({"title": data["clip"]["title"], **result})
            return
        header(data["clip"]["title"])
        if result["fields"]:
            table([[_cell(v) for v in row] for row in result["values"]], result["fields"])
        echo(result["summary"])
        if result["message"]:
            echo(result["message"])

    @cli.command("dataclips:share")
    @click.argument("clip_id")
    @json_option()
    def dataclips_share(clip_id: str, as_json: bool) -> None:
        """Show the secret link of a dataclip (opens without login)."""
        data = Client().post(f"/dataclips/api/clips/{clip_id}/share")
        if as_json:
            print_json({k: v for k, v in data.items() if k != "clip"})
            return
        header(data["clip"]["title"])
        key_values([("Link", data["url"]), ("CSV", data["csv_url"]), ("JSON", data["json_url"])])

    @cli.command("dataclips:revoke")
    @click.argument("clip_id")
    @json_option()
    def dataclips_revoke(clip_id: str, as_json: bool) -> None:
        """Revoke a dataclip's secret link; a new one replaces it."""
        data = Client().post(f"/dataclips/api/clips/{clip_id}/revoke")
        if as_json:
            print_json({k: v for k, v in data.items() if k != "clip"})
            return
        echo(f"Revoked the old link of dataclip {clip_id}; it now answers 404.")
        key_values([("New link", data["url"])])
