"""certs, certs:add, certs:remove, certs:auto, certs:auto:enable, certs:auto:disable, certs:trust.

The output follows the heroku CLI's: `certs` lists the app's certificates (uploaded ones as
type SNI, the ACM one as type ACM), `certs:auto` shows ACM's certificate and each custom
domain's status. Certificates here are signed by the local CA (`certs:trust` prints it).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from paas.cli.client import Client, CliError
from paas.cli.main import app_option, json_option, resolve_app
from paas.cli.ui import APP_GLYPH, action, echo, header, key_values, print_json, table

MAX_FILE = 64 * 1024


def _when(iso: str | None) -> str:
    """`2026-12-05T12:00:00Z` → `2026-12-05 12:00 UTC` (the heroku CLI's style)."""
    if not iso:
        return ""
    return iso.replace("T", " ")[:16] + " UTC"


def _details(cert: dict[str, Any]) -> None:
    echo("Certificate details:")
    key_values(
        [
            ("Common Name(s)", ", ".join(cert["cert_domains"])),
            ("Expires At", _when(cert["expires_at"])),
            ("Issuer", cert["issuer"]),
            ("Starts At", _when(cert["starts_at"])),
            ("Subject", cert["subject"]),
        ]
    )
    if cert.get("local_ca_signed?"):
        echo("SSL certificate is signed by the paas local CA (trust it with `paas certs:trust`).")
    elif cert.get("self_signed?"):
        echo("SSL certificate is self signed.")
    else:
        echo("SSL certificate is not trusted.")


def _read(path: str, what: str) -> str:
    file = Path(path)
    try:
        if file.stat().st_size > MAX_FILE:
            raise CliError(f"{path} is too large to be a {what} (over {MAX_FILE // 1024} KiB).")
        return file.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read the {what} {path}: {getattr(exc, 'strerror', None) or exc}") from None


def register(cli: click.Group) -> None:
    _register_listing(cli)
    _register_uploads(cli)
    _register_acm(cli)


def _register_listing(cli: click.Group) -> None:
    @cli.command("certs:trust")
    @json_option()
    def certs_trust(as_json: bool) -> None:
        """Print the local CA's file and how to make curl, browsers and git trust it."""
        data = Client().get("/certs/authority")
        if as_json:
            print_json({"path": data["path"]})
            return
        echo(str(data["instructions"]))

    @cli.command("certs")
    @app_option()
    @json_option()
    def certs(app: str | None, as_json: bool) -> None:
        """List the app's TLS certificates (uploaded and ACM)."""
        _list_certs(resolve_app(app), as_json)


def _register_uploads(cli: click.Group) -> None:
    @cli.command("certs:add")
    @click.argument("crt")
    @click.argument("key")
    @app_option()
    @json_option()
    def certs_add(crt: str, key: str, app: str | None, as_json: bool) -> None:
        """Add a TLS certificate (PEM chain and unencrypted key) for the app's custom domains."""
        name = resolve_app(app)
        body = {"certificate_chain": _read(crt, "certificate"), "private_key": _read(key, "private key")}
        with action(f"Adding SSL certificate to {APP_GLYPH} {name}"):
            ep = Client().post(f"/apps/{name}/sni-endpoints", json=body)
        if as_json:
            print_json(ep)
            return
        _details(ep["ssl_cert"])
        if not ep["domains"]:
            echo(f"No domain of {name} matches this certificate yet: add one with paas domains:add.")

    @cli.command("certs:remove")
    @click.option("--name", "cert_name", default=None, help="name of the certificate to remove")
    @click.option("--confirm", default=None, help="set to app name to bypass confirm prompt")
    @app_option()
    def certs_remove(cert_name: str | None, confirm: str | None, app: str | None) -> None:
        """Remove an uploaded TLS certificate from the app."""
        _remove_cert(resolve_app(app), cert_name, confirm)


def _register_acm(cli: click.Group) -> None:
    @cli.command("certs:auto")
    @app_option()
    @json_option()
    def certs_auto(app: str | None, as_json: bool) -> None:
        """Show ACM's status: its certificate and each custom domain."""
        name = resolve_app(app)
        _show_acm(Client().get(f"/apps/{name}/acm"), name, as_json)

    @cli.command("certs:auto:enable")
    @app_option()
    def certs_auto_enable(app: str | None) -> None:
        """Turn on Automatic Certificate Management for the app's custom domains."""
        name = resolve_app(app)
        with action(f"Enabling Automatic Certificate Management for {APP_GLYPH} {name}"):
            Client().post(f"/apps/{name}/acm")
        echo("=== Your certificate will now be managed by paas. Check the status by running paas certs:auto.")

    @cli.command("certs:auto:disable")
    @app_option()
    def certs_auto_disable(app: str | None) -> None:
        """Turn off Automatic Certificate Management (custom domains then get the default certificate)."""
        name = resolve_app(app)
        with action(f"Disabling Automatic Certificate Management for {APP_GLYPH} {name}"):
            Client().delete(f"/apps/{name}/acm")


def _trusted(cert: dict[str, Any]) -> str:
    return "True" if cert.get("local_ca_signed?") else "False"


def _show_acm(data: dict[str, Any], name: str, as_json: bool) -> None:
    if as_json:
        print_json(data)
        return
    if not data["acm"]:
        header(f"Automatic Certificate Management is disabled on {name}")
        return
    header(f"Automatic Certificate Management is enabled on {name}")
    echo()
    if data["ssl_cert"] is not None:
        _details(data["ssl_cert"])
        echo()
    domains = data["domains"]
    if not domains:
        echo(f"{name} has no custom domains: add one with paas domains:add, and ACM issues its certificate.")
        return
    table(
        [
            [d["hostname"], (d["acm_status"] or "").capitalize(), d["acm_status_reason"] or ""]
            for d in domains
        ],
        ["Domain", "Status", "Reason"],
    )


def _list_certs(name: str, as_json: bool) -> None:
    endpoints = Client().get(f"/apps/{name}/sni-endpoints")  # ACM's certificate among them, as on Heroku
    if as_json:
        print_json(endpoints)
        return
    rows = [
        [ep["name"], ", ".join(ep["ssl_cert"]["cert_domains"]), _when(ep["ssl_cert"]["expires_at"]),
         _trusted(ep["ssl_cert"]), "ACM" if ep["ssl_cert"].get("acm") else "SNI",
         len(ep["ssl_cert"]["cert_domains"]) if ep["ssl_cert"].get("acm") else len(ep["domains"])]
        for ep in sorted(endpoints, key=lambda ep: str(ep["name"]))
    ]  # fmt: skip
    if not rows:
        echo(f"{name} has no SSL certificates.")
        echo(f"Use paas certs:add CRT KEY to add one, or paas certs:auto:enable -a {name}.")
        return
    table(rows, ["Name", "Common Name(s)", "Expires", "Trusted", "Type", "Domains"])


def _remove_cert(name: str, cert_name: str | None, confirm: str | None) -> None:
    client = Client()
    uploaded = client.get(f"/apps/{name}/sni-endpoints")
    endpoints = [ep for ep in uploaded if not ep["ssl_cert"].get("acm")]  # ACM's goes with certs:auto:disable
    if cert_name is None:
        if len(endpoints) != 1:
            names = ", ".join(ep["name"] for ep in endpoints) or "none"
            raise CliError(f"Pass --name with one of the app's certificates ({names}).")
        cert_name = str(endpoints[0]["name"])
    if confirm != name:
        if confirm is not None or not sys.stdin.isatty():
            raise CliError(f"Confirmation did not match {name}. Aborted. Pass --confirm {name}.")
        click.confirm(f"This removes the certificate {cert_name} from {name}. Continue?", abort=True)
    with action(f"Removing SSL certificate {cert_name} from {APP_GLYPH} {name}"):
        client.delete(f"/apps/{name}/sni-endpoints/{cert_name}")
