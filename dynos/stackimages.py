"""The daemon's door to the stack image (`paas stack`, `paas stack:build` go through the API).

`StackImages.describe()` says what is configured, what exists on the engine and what dynos
would run on; `build()` makes `paas/stack:local` from this machine's own files
(`dynos/stack.py`), one build at a time, reporting progress as it goes. Both talk to the local
engine on a worker thread (the docker SDK blocks); neither needs the Docker runtime to be the
one in use.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import requests

from common.config import Settings
from dynos.runtimes.docker.engine import Engine, EngineError, connect_error, engine_error
from dynos.stack import LOCAL_STACK_IMAGE, StackBuild, StackError, build_local_stack, choose_stack_image

BUILD_TIMEOUT = 600  # seconds for one engine call of a build (the import streams the tar)
PING_TIMEOUT = 5
# a Docker image reference we accept as a tag: [registry/]name[:tag], lowercase name parts
_REFERENCE = re.compile(
    r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
)
MAX_REFERENCE = 255


class StackUnavailable(RuntimeError):
    """No engine answers (the message says where and what to do)."""


class StackBusy(RuntimeError):
    """A stack build is already running."""


@dataclass(frozen=True)
class ImageInfo:
    name: str
    present: bool
    id: str | None = None
    size_bytes: int = 0
    created: str | None = None


@dataclass(frozen=True)
class StackStatus:
    configured: ImageInfo
    local: ImageInfo
    in_use: str | None  # what dynos run on (None: no stack image)
    reason: str


def valid_tag(tag: str) -> bool:
    return len(tag) <= MAX_REFERENCE and _REFERENCE.fullmatch(tag) is not None


def _describe(client: Any, name: str) -> ImageInfo:
    import docker.errors

    try:
        image = client.images.get(name)
    except docker.errors.ImageNotFound:
        return ImageInfo(name, present=False)
    return ImageInfo(
        name,
        present=True,
        id=str(image.id),
        size_bytes=int(image.attrs.get("Size") or 0),
        created=image.attrs.get("Created"),
    )


@dataclass(frozen=True)
class BuildProgress:
    message: str


@dataclass(frozen=True)
class BuildFailed:
    message: str


BuildEvent = BuildProgress | StackBuild | BuildFailed


class StackBuildRun:
    """One stack build's events in order: progress lines, then the image built or why not."""

    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None
        self.done = False
        self._events: asyncio.Queue[BuildEvent | None] = asyncio.Queue()

    def put(self, event: BuildEvent) -> None:
        self._events.put_nowait(event)

    def finish(self) -> None:
        self.done = True
        self._events.put_nowait(None)

    async def events(self) -> AsyncIterator[BuildEvent]:
        while (event := await self._events.get()) is not None:
            yield event


class StackImages:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._run: StackBuildRun | None = None

    def _client(self, timeout: int) -> Any:
        try:
            engine = Engine.from_env()
        except EngineError as exc:
            raise StackUnavailable(str(exc)) from None
        client = None
        try:
            client = engine.sdk_client(timeout=timeout)  # asks the engine its API version
            client.ping()
        except Exception as exc:  # the SDK raises many kinds; all mean "no engine"
            if client is not None:
                client.close()
            raise StackUnavailable(
                f"no Docker engine answers at {engine.where} ({connect_error(exc)}); "
                "start one (scripts/ensure-docker.sh) and try again"
            ) from None
        return client

    async def describe(self) -> StackStatus:
        return await asyncio.to_thread(self._describe_now)

    def _describe_now(self) -> StackStatus:
        import docker.errors

        client = self._client(PING_TIMEOUT)
        configured_name = self.settings.stack_image
        try:
            configured = _describe(client, configured_name)
            local = _describe(client, LOCAL_STACK_IMAGE)
            in_use, reason = choose_stack_image(client, configured_name, pull=False)
        except docker.errors.APIError as exc:
            raise StackUnavailable(
                f"the engine could not look up the stack image: {engine_error(exc)}"
            ) from None
        except requests.RequestException as exc:  # a busy engine that stops answering: not our bug
            raise StackUnavailable(f"the engine did not answer in time ({exc.__class__.__name__})") from None
        finally:
            client.close()
        return StackStatus(configured, local, in_use, reason)

    @property
    def building(self) -> bool:
        return self._run is not None and not self._run.done

    def start_build(self, tag: str) -> StackBuildRun:
        """Start building the stack as `tag`; its events say how it goes. The build belongs to
        this service: it runs to its end even when nobody follows it any more."""
        if self.building:
            raise StackBusy("a stack build is already running")
        run = StackBuildRun()
        run.task = asyncio.get_running_loop().create_task(self._build(tag, run))
        self._run = run
        return run

    async def _build(self, tag: str, run: StackBuildRun) -> None:
        loop = asyncio.get_running_loop()

        def report(line: str) -> None:  # on the build's thread
            loop.call_soon_threadsafe(run.put, BuildProgress(line))

        try:
            run.put(await asyncio.to_thread(self._build_now, tag, report))
        except (StackError, StackUnavailable) as exc:
            run.put(BuildFailed(str(exc)))
        finally:
            run.finish()

    def _build_now(self, tag: str, progress: Callable[[str], None]) -> StackBuild:
        import docker.errors

        client = self._client(BUILD_TIMEOUT)
        try:
            return build_local_stack(client, tag, workdir=self.settings.cache_dir, progress=progress)
        except docker.errors.DockerException as exc:  # the engine refused the import
            raise StackError(f"could not import the stack image: {engine_error(exc)}") from None
        finally:
            client.close()
