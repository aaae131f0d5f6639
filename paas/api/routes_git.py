"""Deploy sources beyond tarballs: `git push` over smart HTTP, and container images.

`/git/<app>.git/...` runs the real `git http-backend` as a CGI subprocess (bare repositories
under `settings.repos_dir`). These paths are outside the bearer-token middleware; git sends
HTTP basic auth instead, and the password must be the daemon's token (any user name).
Pushes run the repository's pre-receive hook, which calls back `POST /apps/<app>/git-builds`
(bearer auth, like any API call) to build the pushed commit and streams the output back to
the pusher as `remote:` lines.

`POST /apps/<app>/container-releases` releases a local Docker image as process types
(`paas container:release web --image IMAGE`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict

from common.errors import PaasError, invalid, not_found
from paas.api.deps import Services, Svc
from paas.api.presenters import release_json
from paas.builds.compile import BuildFailed
from paas.builds.container import release_image
from paas.builds.gitrepo import ensure_repo, export_commit, git_env, repo_path
from paas.control import APP_NAME, USER

router = APIRouter()

STDERR_LIMIT = 16 * 1024
CGI_EXIT_GRACE = 10.0  # after its last byte, git http-backend gets this long to exit on its own
GIT_PATHS = re.compile(
    r"^(HEAD|info/refs|objects/info/(alternates|http-alternates|packs)|objects/[0-9a-f]{2}/[0-9a-f]{38,62}"
    r"|objects/pack/pack-[0-9a-f]{40,64}\.(pack|idx)|git-upload-pack|git-receive-pack)$"
)
_repo_locks: dict[str, asyncio.Lock] = {}


def _unauthorized(message: str = "Invalid credentials provided.") -> Response:
    return Response(
        f"{message}\n",
        status_code=401,
        media_type="text/plain",
        headers={"WWW-Authenticate": 'Basic realm="paas"'},
    )


def basic_auth_ok(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return False
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return False
    _user, _, password = decoded.partition(":")
    return hmac.compare_digest(password.encode(), token.encode())


async def _ensure(svc: Services, app: str) -> Path:
    data = svc.control.get_app(app)
    lock = _repo_locks.setdefault(data.name, asyncio.Lock())
    async with lock:
        return await asyncio.to_thread(ensure_repo, svc.settings.repos_dir, data.name, data.id)


@router.api_route("/git/{repo}/{path:path}", methods=["GET", "POST"], include_in_schema=False)
async def git_http(request: Request, svc: Svc, repo: str, path: str) -> Response:
    if not basic_auth_ok(request, svc.token):
        return _unauthorized()
    app = repo.removesuffix(".git")
    if not repo.endswith(".git") or not APP_NAME.match(app):
        return Response("Not a paas repository.\n", status_code=404, media_type="text/plain")
    if not GIT_PATHS.match(path):
        return Response("Not found.\n", status_code=404, media_type="text/plain")
    try:
        await _ensure(svc, app)
    except PaasError:
        return Response(f"Couldn't find that app ({app}).\n", status_code=404, media_type="text/plain")
    env = git_env()
    env.update(
        {
            "GIT_PROJECT_ROOT": str(svc.settings.repos_dir),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_HTTP_MAX_REQUEST_BUFFER": "100M",
            "PATH_INFO": f"/{app}.git/{path}",
            "REQUEST_METHOD": request.method,
            "QUERY_STRING": request.url.query,
            "CONTENT_TYPE": request.headers.get("content-type", ""),
            "REMOTE_USER": USER,
            "REMOTE_ADDR": request.client.host if request.client else "127.0.0.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "PAAS_HOOK_API": svc.api_url,
            "PAAS_HOOK_TOKEN": svc.token,
            "PAAS_HOOK_APP": app,
        }
    )
    for header, var in (
        ("content-length", "CONTENT_LENGTH"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "GIT_PROTOCOL"),
    ):
        value = request.headers.get(header)
        if value:
            env[var] = value
    return await run_cgi(request, ["git", "http-backend"], env)


async def run_cgi(request: Request, argv: list[str], env: dict[str, str]) -> Response:
    """Run a CGI program: the request body goes to its stdin while its stdout (headers, then the
    body) streams back as it is produced — git's sideband progress included."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    stdin, stdout, stderr = proc.stdin, proc.stdout, proc.stderr

    async def feed() -> None:
        try:
            async for chunk in request.stream():
                if chunk:
                    stdin.write(chunk)
                    await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with contextlib.suppress(Exception):
                stdin.close()

    errors = bytearray()

    async def collect_stderr() -> None:
        while chunk := await stderr.read(4096):
            if len(errors) < STDERR_LIMIT:
                errors.extend(chunk[: STDERR_LIMIT - len(errors)])

    feeder = asyncio.create_task(feed())
    err_task = asyncio.create_task(collect_stderr())

    async def finish(completed: bool) -> None:
        """completed: the response was read to its end, so git is finishing on its own."""
        if completed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), CGI_EXIT_GRACE)
        with contextlib.suppress(ProcessLookupError):
            if proc.returncode is None:
                proc.kill()
        feeder.cancel()
        await proc.wait()
        with contextlib.suppress(Exception):
            await err_task

    status, headers, ok = 200, {}, True
    try:
        head = await stdout.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        head, ok = exc.partial, False
    except asyncio.LimitOverrunError:
        head, ok = b"", False
    if not ok:
        await finish(completed=True)
        message = errors.decode(errors="replace").strip() or "git http-backend produced no response"
        return Response(message + "\n", status_code=500, media_type="text/plain")
    for line in head.decode("latin-1").split("\r\n"):
        name, sep, value = line.partition(":")
        if not sep:
            continue
        if name.strip().lower() == "status":
            with contextlib.suppress(ValueError):
                status = int(value.strip().split()[0])
        else:
            headers[name.strip()] = value.strip()
    media_type = headers.pop("Content-Type", None)

    async def body() -> AsyncIterator[bytes]:
        completed = False
        try:
            while chunk := await stdout.read(65536):
                yield chunk
            completed = True
        finally:
            await finish(completed)  # a client gone mid-response: the backend is killed at once

    return StreamingResponse(body(), status_code=status, headers=headers, media_type=media_type)


# ---- the pre-receive hook's call back -----------------------------------------------------
class GitBuild(BaseModel):
    model_config = ConfigDict(extra="ignore")
    commit: str
    old: str | None = None
    ref: str = "refs/heads/main"
    git_env: dict[str, str] = {}


@router.post("/apps/{app}/git-builds", status_code=201)
async def git_build(svc: Svc, app: str, body: GitBuild) -> StreamingResponse:
    """Build the pushed commit; the response streams the build output (header X-Build-Id)."""
    name = svc.control.get_app(app).name
    repo = repo_path(svc.settings.repos_dir, name)
    if not repo.is_dir():
        raise not_found("repository")
    source = svc.settings.home / "builds" / f"git-{uuid.uuid4().hex}"
    try:
        await export_commit(repo, body.commit, source, body.git_env)
    except BuildFailed as exc:
        shutil.rmtree(source, ignore_errors=True)
        raise invalid(str(exc)) from None
    try:
        build = svc.builds.start_build(name, None, body.commit, kind="git", source_dir=source)
    except BaseException:
        shutil.rmtree(source, ignore_errors=True)
        raise
    build_id = build["id"]

    async def cleanup() -> None:
        try:
            await svc.builds.wait(build_id)
        finally:
            await asyncio.to_thread(shutil.rmtree, source, True)

    _background.add(task := asyncio.create_task(cleanup()))
    task.add_done_callback(_background.discard)
    output = svc.builds.output(build_id)

    async def stream() -> AsyncIterator[bytes]:
        if output is None:
            return
        async for line in output.follow():
            yield (line + "\n").encode()

    return StreamingResponse(
        stream(), status_code=201, media_type="text/plain; charset=utf-8", headers={"X-Build-Id": build_id}
    )


_background: set[asyncio.Task[None]] = set()


# ---- container deploys ---------------------------------------------------------------------
class ContainerRelease(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image: str
    process_types: list[str] = ["web"]


@router.post("/apps/{app}/container-releases", status_code=201)
async def container_release(svc: Svc, app: str, body: ContainerRelease) -> dict[str, Any]:
    """Release a local Docker image as the given process types (its CMD runs; no rebuild)."""
    return release_json(await release_image(svc.control, svc.releases, app, body.image, body.process_types))


# ---- app setups (app.json) ------------------------------------------------------------------
class SetupSource(BaseModel):
    url: str
    version: str | None = None


class SetupOverrides(BaseModel):
    model_config = ConfigDict(extra="ignore")
    env: dict[str, str] = {}


class AppSetupCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    source_blob: SetupSource
    overrides: SetupOverrides = SetupOverrides()


@router.post("/apps/{app}/app-setups", status_code=201)
async def create_app_setup(svc: Svc, app: str, body: AppSetupCreate) -> dict[str, Any]:
    """Set an existing (new) app up from uploaded source with app.json; validated before any change."""
    setup = await svc.setups.start(app, body.source_blob.url, body.source_blob.version, body.overrides.env)
    return setup.to_json()


@router.get("/apps/{app}/app-setups/{setup_id}")
async def get_app_setup(svc: Svc, app: str, setup_id: str) -> dict[str, Any]:
    return svc.setups.get(svc.control.get_app(app).name, setup_id).to_json()


@router.get("/apps/{app}/app-setups/{setup_id}/output")
async def app_setup_output(svc: Svc, app: str, setup_id: str) -> StreamingResponse:
    setup = svc.setups.get(svc.control.get_app(app).name, setup_id)

    async def stream() -> AsyncIterator[bytes]:
        async for line in setup.output.follow():
            yield (line + "\n").encode()

    return StreamingResponse(stream(), media_type="text/plain; charset=utf-8")
