"""The CLI's way to the daemon: find it (PAAS_API_URL or PAAS_HOME/daemon.json), call its API."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from common.config import Settings


class CliError(Exception):
    """Printed as ` ›   Error: <message>` with exit code `code`."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.message = message
        self.code = code


def paas_home() -> Path:
    raw = os.environ.get("PAAS_HOME")
    return Path(os.path.expanduser(raw)) if raw else Settings().home


def find_daemon() -> tuple[str, str]:
    """(api url, token)."""
    home = paas_home()
    token = os.environ.get("PAAS_API_TOKEN")
    if token is None:
        try:
            token = (home / "token").read_text().strip()
        except FileNotFoundError:
            token = ""
    url = os.environ.get("PAAS_API_URL")
    if url:
        return url.rstrip("/"), token
    try:
        info = json.loads((home / "daemon.json").read_text())
    except (FileNotFoundError, ValueError):
        raise CliError(
            f"the paas daemon is not running for PAAS_HOME={home}. Start it with: paas daemon"
        ) from None
    return str(info["api_url"]).rstrip("/"), token


class Client:
    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 60.0):
        if url is None or token is None:
            found_url, found_token = find_daemon()
            url = url or found_url
            token = token if token is not None else found_token
        self.url = url
        self.token = token
        self.http = httpx.Client(
            base_url=url,
            timeout=httpx.Timeout(timeout, connect=5.0),
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.heroku+json; version=3",
            },
        )

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.ConnectError:
            raise CliError(f"cannot reach the paas daemon at {self.url}. Is `paas daemon` running?") from None
        except httpx.TimeoutException:
            raise CliError(f"the paas daemon at {self.url} did not answer in time") from None
        return self._result(response)

    @staticmethod
    def _result(response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                body = response.json()
                message = body.get("message") or str(body)
            except ValueError:
                message = response.text.strip() or response.reason_phrase
            raise CliError(message)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, json=json, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.request("PATCH", path, json=json, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)

    def stream_lines(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        *,
        method: str = "GET",
        json: Any = None,
    ) -> Iterator[str]:
        try:
            with self.http.stream(
                method, path, params=params, json=json, timeout=httpx.Timeout(timeout, connect=5.0)
            ) as r:
                if r.status_code >= 400:
                    r.read()
                    self._result(r)
                yield from r.iter_lines()
        except httpx.ConnectError:
            raise CliError(f"cannot reach the paas daemon at {self.url}. Is `paas daemon` running?") from None
        except httpx.RemoteProtocolError:
            return
