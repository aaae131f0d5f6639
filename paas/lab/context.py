"""What a scenario works with: throwaway apps on a daemon, driven only through its HTTP API and
router (like any client), with the app's event stream watched as things happen.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import secrets
import tarfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from paas.lab.load import LoadReport, drive, request

SKIP = {".git", "__pycache__", ".venv"}
SAMPLE_HEROKU = ("State changed", "Error R", "SIGTERM", "SIGKILL", "Process exited", "Process running mem")


class LabError(Exception):
    """A scenario could not be set up (daemon, example apps, a dyno that never came up)."""


def examples_dir() -> Path:
    """Where the example apps are: $PAAS_EXAMPLES_DIR, else `examples/` beside the package."""
    raw = os.environ.get("PAAS_EXAMPLES_DIR")
    path = Path(raw).expanduser() if raw else Path(__file__).resolve().parents[2] / "examples"
    return path


def tarball(directory: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        for entry in sorted(directory.iterdir()):
            if entry.name not in SKIP:
                tar.add(
                    entry, arcname=entry.name, filter=lambda i: None if set(Path(i.name).parts) & SKIP else i
                )
    return buf.getvalue()


class EventWatch:
    """One app's `/events` stream: current dyno states and every router request, pushed."""

    def __init__(self, http: httpx.AsyncClient, app: str):
        self.http = http
        self.app = app
        self.states: dict[str, str] = {}  # dyno -> state of its newest release
        self.releases: dict[str, int] = {}  # dyno -> newest release seen for it
        # (dyno, release) -> state: with preboot, old and new web.1 live side by side
        self.by_release: dict[tuple[str, int], str] = {}
        self.transitions: list[tuple[float, str, str]] = []  # (monotonic, dyno, state)
        self.requests: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._read())
        try:
            await asyncio.wait_for(self._ready.wait(), 15)
        except TimeoutError:
            raise LabError(f"the daemon's event stream for {self.app} did not open") from None
        for dyno in (await self.http.get(f"/apps/{self.app}/dynos")).json():
            if dyno["name"] not in self.states:
                self._record(
                    dyno["name"], int((dyno.get("release") or {}).get("version") or 0), dyno["state"]
                )

    async def _read(self) -> None:
        params = {"app": self.app, "kinds": "dyno.state,router.request"}
        async with self.http.stream("GET", "/events", params=params, timeout=None) as response:
            async for line in response.aiter_lines():
                if not line:
                    continue
                event = json.loads(line)
                kind = event.get("kind")
                data = event.get("data") or {}
                if kind == "hello":
                    self._ready.set()
                elif kind == "dyno.state" and data.get("dyno"):
                    self._record(data["dyno"], int(data.get("release") or 0), data["state"])
                    self.transitions.append((time.monotonic(), data["dyno"], data["state"]))
                elif kind == "router.request":
                    self.requests.append(data)
                else:
                    continue
                self._changed.set()

    def _record(self, dyno: str, release: int, state: str) -> None:
        self.by_release[(dyno, release)] = state
        if release >= self.releases.get(dyno, 0):  # an old release retiring does not hide the new one
            self.states[dyno] = state
            self.releases[dyno] = release

    async def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 1.0))
        return True

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await self._task


class LabApp:
    """One throwaway app of a scenario."""

    def __init__(self, ctx: LabContext, name: str):
        self.ctx = ctx
        self.name = name
        self.watch = EventWatch(ctx.http, name)

    @property
    def host(self) -> str:
        return f"{self.name}.localhost:{self.ctx.router_port}"

    # ---- platform actions (the API, as `paas` would call it) -------------------------------
    async def api(self, method: str, path: str, **kw: Any) -> Any:
        response = await self.ctx.http.request(method, path, **kw)
        if response.status_code >= 400:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            raise LabError(f"{method} {path}: {response.status_code} {message}")
        return response.json() if response.content else None

    async def set_config(self, config: dict[str, str]) -> None:
        await self.api("PATCH", f"/apps/{self.name}/config-vars", json=config)

    async def feature(self, feature: str, enabled: bool = True) -> None:
        await self.api("PATCH", f"/apps/{self.name}/features/{feature}", json={"enabled": enabled})

    async def deploy(self, example: str) -> dict[str, Any]:
        """Upload examples/<example>, build it, wait for the build; returns the build."""
        directory = self.ctx.examples / example
        if not (directory / "Procfile").is_file():
            raise LabError(f"example app {example} not found at {directory} (set PAAS_EXAMPLES_DIR)")
        source = await self.api(
            "POST",
            f"/apps/{self.name}/sources",
            content=tarball(directory),
            headers={"Content-Type": "application/gzip"},
        )
        build = await self.api(
            "POST",
            f"/apps/{self.name}/builds",
            json={"source_blob": {"url": source["source_blob"]["url"], "version": secrets.token_hex(4)}},
        )
        async with self.ctx.http.stream(
            "GET", f"/apps/{self.name}/builds/{build['id']}/output", timeout=None
        ) as response:
            async for _ in response.aiter_lines():
                pass
        final = await self.api("GET", f"/apps/{self.name}/builds/{build['id']}")
        if final["status"] != "succeeded":
            raise LabError(f"the build of {example} for {self.name} {final['status']}")
        return dict(final)

    async def scale(self, quantity: int, ptype: str = "web") -> None:
        await self.api("PATCH", f"/apps/{self.name}/formation/{ptype}", json={"quantity": quantity})

    async def restart(self, target: str | None = None) -> None:
        await self.api("DELETE", f"/apps/{self.name}/dynos" + (f"/{target}" if target else ""))

    async def add_fault(self, dyno: str, kind: str, **attributes: int) -> None:
        await self.api(
            "POST", f"/apps/{self.name}/faults", json={"dyno": dyno, "type": kind, "attributes": attributes}
        )

    # ---- waiting ---------------------------------------------------------------------------
    def web_states(self) -> dict[str, str]:
        return {d: s for d, s in self.watch.states.items() if d.startswith("web.")}

    async def wait_up(self, count: int = 1, timeout: float = 30.0) -> None:
        ok = await self.watch.wait(
            lambda: sum(1 for s in self.web_states().values() if s == "up") >= count, timeout
        )
        if not ok:
            raise LabError(
                f"{self.name}: {count} web dyno(s) not up within {timeout:g}s (states: {self.web_states()})"
            )

    async def wait_release_up(self, version: int, count: int = 1, timeout: float = 30.0) -> None:
        """Wait until `count` web dynos of release `version` are up."""

        def ready() -> bool:
            up = [
                d
                for (d, rel), st in self.watch.by_release.items()
                if d.startswith("web.") and rel == version and st == "up"
            ]
            return len(up) >= count

        if not await self.watch.wait(ready, timeout):
            raise LabError(
                f"{self.name}: release v{version} not up within {timeout:g}s (states: {self.web_states()})"
            )

    async def current_release(self) -> int:
        releases = await self.api("GET", f"/apps/{self.name}/releases")
        return int(releases[-1]["version"]) if releases else 0

    async def wait_state(self, dyno: str, states: tuple[str, ...], timeout: float) -> bool:
        return await self.watch.wait(lambda: self.watch.states.get(dyno) in states, timeout)

    def mark(self) -> int:
        """A point in the dyno-state history, for `wait_transition`."""
        return len(self.watch.transitions)

    async def wait_transition(self, dyno: str, state: str, since: int, timeout: float) -> bool:
        """Wait until `dyno` has entered `state` after the mark `since` (even if it left again)."""
        return await self.watch.wait(
            lambda: any(d == dyno and st == state for _, d, st in self.watch.transitions[since:]), timeout
        )

    async def wait_requests(self, count: int, timeout: float = 10.0) -> None:
        """Router events trail the client by a moment; wait until `count` are in."""
        await self.watch.wait(lambda: len(self.watch.requests) >= count, timeout)

    # ---- traffic -----------------------------------------------------------------------------
    async def get(self, path: str, timeout: float = 60.0) -> str:
        async with httpx.AsyncClient(
            base_url=self.ctx.router_url, headers={"Host": self.host}, timeout=timeout
        ) as c:
            return await request(c, path)

    async def load(self, path: str | Callable[[int], str], **kw: Any) -> LoadReport:
        return await drive(self.ctx.router_url, self.host, path, **kw)

    # ---- what happened -------------------------------------------------------------------
    def router_counts(self, since: int = 0) -> Counter[str]:
        return Counter(str(r.get("code") or r.get("status") or "?") for r in self.watch.requests[since:])

    def router_requests(self, since: int = 0) -> list[dict[str, Any]]:
        return self.watch.requests[since:]

    async def log_lines(self) -> list[str]:
        response = await self.ctx.http.get(f"/apps/{self.name}/log-stream", params={"lines": 1500})
        return response.text.splitlines() if response.status_code == 200 else []

    async def samples(self, limit: int = 10, app_markers: tuple[str, ...] = ()) -> list[str]:
        """A few telling lines: the first of each router outcome (errors first), the
        dyno-manager lines that explain them, and app lines containing one of `app_markers`."""
        lines = await self.log_lines()
        chosen: list[str] = []
        seen: set[str] = set()
        router = [ln for ln in lines if "heroku[router]:" in ln]
        for line in sorted(router, key=lambda ln: "code=" not in ln):
            key = "code=" + line.split("code=", 1)[1].split(" ", 1)[0] if "code=" in line else "ok"
            if key not in seen:
                seen.add(key)
                chosen.append(line)
        for line in lines:
            platform = "heroku[web" in line and any(s in line for s in SAMPLE_HEROKU)
            app = " app[web" in line and any(m in line for m in app_markers)
            if (platform or app) and line not in chosen:
                chosen.append(line)
        errors = [ln for ln in chosen if "code=" in ln]
        rest = [ln for ln in chosen if "code=" not in ln]
        return (errors + rest)[:limit]

    async def wait_log(self, needle: str, timeout: float, source: str = "heroku") -> bool:
        """Follow the app's log (pushed by the daemon) until a line contains `needle`."""
        params: dict[str, str | int] = {"lines": 1500, "tail": "true", "source": source}

        async def follow() -> bool:
            async with self.ctx.http.stream(
                "GET", f"/apps/{self.name}/log-stream", params=params, timeout=None
            ) as response:
                async for line in response.aiter_lines():
                    if needle in line:
                        return True
            return False

        try:
            return await asyncio.wait_for(follow(), timeout)
        except (TimeoutError, httpx.HTTPError):
            return False

    async def heroku_lines(self, needle: str) -> list[str]:
        return [ln for ln in await self.log_lines() if "heroku[" in ln and needle in ln]


class LabContext:
    """A daemon to experiment on (API URL + token + router port) and the timers it runs with."""

    def __init__(
        self,
        api_url: str,
        token: str,
        router_port: int,
        timers: dict[str, float],
        examples: Path | None = None,
        keep: bool = False,
        say: Callable[[str], None] | None = None,
    ):
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.router_port = router_port
        self.timers = timers
        self.examples = examples or examples_dir()
        self.keep = keep
        self.say = say or (lambda text: None)
        self.run_id = secrets.token_hex(2)
        self.apps: list[LabApp] = []
        self.http = httpx.AsyncClient(
            base_url=self.api_url,
            timeout=httpx.Timeout(120, connect=5),
            headers={"Authorization": f"Bearer {token}"},
        )

    @property
    def router_url(self) -> str:
        return f"http://127.0.0.1:{self.router_port}"

    def timer(self, name: str, default: float) -> float:
        return float(self.timers.get(name, default))

    async def app(self, label: str) -> LabApp:
        """A throwaway app `lab-<label>-<run id>`, with its event stream open."""
        name = f"lab-{label}-{self.run_id}"[:30]
        response = await self.http.post("/apps", json={"name": name})
        if response.status_code >= 400:
            raise LabError(f"cannot create app {name}: {response.text}")
        app = LabApp(self, name)
        self.apps.append(app)
        await app.watch.start()
        return app

    async def close(self) -> None:
        for app in self.apps:
            await app.watch.stop()
            if not self.keep:
                with contextlib.suppress(httpx.HTTPError):
                    await self.http.delete(f"/apps/{app.name}")
        await self.http.aclose()
