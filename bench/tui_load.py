"""Benchmark: keypress-to-render latency of `paas tui` while 5,000 router lines a second arrive.

A stub daemon (a separate process, so its CPU does not count against the TUI's loop) serves
`/events` as the real one does - newline-delimited JSON `log.line` events with
`heroku[router]` lines (mostly 200s, some H10/H12/H13) - at a fixed rate, plus the few JSON
endpoints the TUI reads on connect. The TUI runs headless (Textual's `run_test`) over real
HTTP against it, on the router view. Keys are pressed at intervals; each key's latency is
the time from sending the key event to the first frame the compositor produced after the
key's action ran.

    .venv/bin/python bench/tui_load.py [--rate 5000] [--seconds 10] [--presses 60] [--size 140x40]
        [--keys pause,cursor,switch_screen,filter,full_line]

Prints: lines/s received, events the stub had to skip (it never blocks), keypress latency
p50/p95/max per key kind, TUI CPU use under load and idle (the lazydocker complaint).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

APP = "loadtest"

# ---- the stub daemon (runs in its own process) ------------------------------------------------
LINES = [
    (
        "info",
        None,
        "200",
        'at=info method=GET path="/items/{n}" host=loadtest.localhost request_id={rid} '
        'fwd="127.0.0.1" dyno=web.{d} connect=0ms service={s}ms status=200 bytes=1532 protocol=http',
    ),
    (
        "error",
        "H12",
        "503",
        'at=error code=H12 desc="Request timeout" method=POST path="/slow" '
        'host=loadtest.localhost request_id={rid} fwd="127.0.0.1" dyno=web.{d} connect=0ms service=30000ms '
        "status=503 bytes=0 protocol=http",
    ),
    (
        "error",
        "H13",
        "503",
        'at=error code=H13 desc="Connection closed without response" method=GET '
        'path="/items/{n}" host=loadtest.localhost request_id={rid} fwd="127.0.0.1" dyno=web.{d} connect=0ms '
        "service=5ms status=503 bytes=0 protocol=http",
    ),
    (
        "error",
        "H10",
        "503",
        'at=error code=H10 desc="App crashed" method=GET path="/" host=loadtest.localhost '
        'request_id={rid} fwd="127.0.0.1" dyno= connect= service= status=503 bytes= protocol=http',
    ),
]
MIX = [0] * 90 + [1] * 4 + [2] * 4 + [3] * 2


def _event_line(i: int) -> bytes:
    _level, _code, _status, template = LINES[MIX[i % len(MIX)]]
    text = template.format(n=i % 997, rid=f"{i:08x}-0000-4000-8000-000000000000", d=1 + i % 4, s=i % 40)
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{i % 1000000:06d}+00:00"
    event = {
        "kind": "log.line",
        "app": APP,
        "ts": time.time(),
        "data": {"line": {"ts": ts, "app": APP, "source": "heroku", "dyno": "router", "text": text}},
    }
    return json.dumps(event).encode() + b"\n"


def _json(body: Any, status: str = "200 OK") -> bytes:
    data = json.dumps(body).encode()
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + data


STATIC = {
    "/apps": [
        {"name": APP, "maintenance": False, "web_url": f"http://{APP}.localhost:5000/", "released_at": "x"}
    ],
    f"/apps/{APP}/formation": [{"type": "web", "quantity": 4, "size": "standard-1x"}],
    f"/apps/{APP}/releases": [
        {"version": 3, "description": "Deploy 0a1b2c3", "status": "succeeded", "current": True}
    ],
    f"/apps/{APP}/dynos": [
        {"name": f"web.{n}", "type": "web", "state": "up", "port": 40000 + n} for n in range(1, 5)
    ],
    "/router/metrics": {"apps": {}},
}


async def _serve_stub(rate: int, port_file: str | None) -> None:
    stats = {"sent": 0, "skipped": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        path = head.split(b" ", 2)[1].decode().split("?", 1)[0]
        if path != "/events":
            body = STATIC.get(path)
            writer.write(
                _json(body)
                if body is not None
                else _json({"id": "not_found", "message": "Couldn't find that resource."}, "404 Not Found")
            )
            await writer.drain()
            writer.close()
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n")
        writer.write(json.dumps({"kind": "hello", "status": {}}).encode() + b"\n")
        tick = 0.01
        per_tick = rate * tick
        due = 0.0
        i = 0
        start = time.monotonic()
        try:
            while True:
                elapsed = time.monotonic() - start
                target = int(elapsed * rate)
                n = target - i
                if n > 0:
                    if writer.transport.get_write_buffer_size() > 4 * 1024 * 1024:
                        # the reader is behind: skip, like the daemon's bounded subscription does
                        stats["skipped"] += n
                        writer.write(json.dumps({"kind": "overflow", "dropped": n}).encode() + b"\n")
                    else:
                        writer.write(b"".join(_event_line(i + k) for k in range(n)))
                        stats["sent"] += n
                    i = target
                due += per_tick
                await writer.drain()
                await asyncio.sleep(tick)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    if port_file:
        Path(port_file).write_text(str(port))
    print(port, flush=True)
    async with server:
        await server.serve_forever()


# ---- the measurement -------------------------------------------------------------------------
@dataclass
class Result:
    rate: int
    seconds: float
    lines_received: int = 0
    dropped: int = 0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    cpu_load_percent: float = 0.0
    cpu_idle_percent: float = 0.0
    buffered: dict[str, int] = field(default_factory=dict)  # sizes of the bounded buffers at the end

    def all_latencies(self) -> list[float]:
        return [v for values in self.latencies.values() for v in values]

    @staticmethod
    def _pct(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")

    def summary(self) -> dict[str, Any]:
        every = self.all_latencies()
        out: dict[str, Any] = {
            "rate_target": self.rate,
            "lines_per_s_received": round(self.lines_received / self.seconds),
            "dropped_by_source": self.dropped,
            "presses": len(every),
            "latency_ms_p50": round(1000 * statistics.median(every), 1) if every else None,
            "latency_ms_p95": round(1000 * self._pct(every, 0.95), 1) if every else None,
            "latency_ms_max": round(1000 * max(every), 1) if every else None,
            "tui_cpu_percent_under_load": round(self.cpu_load_percent, 1),
            "tui_cpu_percent_idle_stream": round(self.cpu_idle_percent, 1),
            "buffers_at_end": self.buffered,
        }
        for kind, values in self.latencies.items():
            out[f"latency_ms_{kind}"] = {
                "n": len(values),
                "p50": round(1000 * statistics.median(values), 1),
                "p95": round(1000 * self._pct(values, 0.95), 1),
                "max": round(1000 * max(values), 1),
            }
        return out


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def start_stub(rate: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--rate", str(rate)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=str(ROOT),
    )
    assert proc.stdout is not None
    port = proc.stdout.readline().strip()
    if not port.isdigit():
        proc.kill()
        raise RuntimeError("the stub daemon did not start")
    return proc, f"http://127.0.0.1:{port}"


# what each key does on the router view, and the key that undoes it
KEY_PAIRS = [("p", "p"), ("up", "end"), ("4", "3"), ("slash", "escape"), ("enter", "escape")]
KIND = {"p": "pause", "up": "cursor", "4": "switch_screen", "slash": "filter", "enter": "full_line"}


async def measure(
    url: str,
    rate: int,
    seconds: float,
    presses: int,
    idle_seconds: float = 0.0,
    size: tuple[int, int] = (140, 40),
    kinds: tuple[str, ...] = tuple(KIND.values()),
) -> Result:
    from textual import events

    from tui.app import PaasApp
    from tui.client import HttpBackend

    result = Result(rate, seconds)
    pairs = [pair for pair in KEY_PAIRS if KIND[pair[0]] in kinds]
    assert pairs, f"no key kinds among {kinds}; choose from {', '.join(KIND.values())}"
    app = PaasApp(HttpBackend(url, "bench"), app_name=APP)
    frames: list[float] = []
    acted: list[float] = []
    started: list[float] = []
    breakdown: list[tuple[str, float, float, float]] = []
    original_display = app._display
    original_run_action = app.run_action

    def display(screen: Any, renderable: Any) -> None:
        if renderable is not None:
            frames.append(time.perf_counter())
        original_display(screen, renderable)

    async def run_action(*args: Any, **kwargs: Any) -> bool:
        started.append(time.perf_counter())
        done = await original_run_action(*args, **kwargs)
        acted.append(time.perf_counter())
        return done

    app._display = display  # type: ignore[method-assign]
    app.run_action = run_action  # type: ignore[method-assign]

    async with app.run_test(size=size) as pilot:
        await pilot.press("3")
        deadline = time.monotonic() + 10
        while app.store.events < rate // 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        events_before, cpu_before, t_before = app.store.events, _cpu(), time.monotonic()
        interval = seconds / max(1, presses)
        driver = app._driver
        assert driver is not None
        for n in range(presses):
            key, undo = pairs[(n // 2) % len(pairs)]
            press = key if n % 2 == 0 else undo
            await asyncio.sleep(interval * 0.5)
            acted.clear()
            started.clear()
            sent = time.perf_counter()
            char = {"p": "p", "4": "4", "3": "3", "slash": "/", "enter": "\r"}.get(press)
            driver.send_message(events.Key(press, char))
            # wait for the action, then for the first frame after it
            wait_until = time.monotonic() + 5
            while not acted and time.monotonic() < wait_until:
                await asyncio.sleep(0.001)
            if not acted:
                continue
            done_at = acted[0]
            while time.monotonic() < wait_until and not any(f >= done_at for f in frames[-5:]):
                await asyncio.sleep(0.001)
            frame = next((f for f in frames[-5:] if f >= done_at), None)
            if frame is not None:
                kind = KIND[key]
                result.latencies.setdefault(kind, []).append(frame - sent)
                breakdown.append((press, started[0] - sent, done_at - started[0], frame - done_at))
            frames.clear()
            await asyncio.sleep(interval * 0.5)
        elapsed = time.monotonic() - t_before
        result.seconds = elapsed
        result.lines_received = app.store.events - events_before
        result.cpu_load_percent = 100 * (_cpu() - cpu_before) / elapsed
        result.dropped = app.store.dropped
        state = app.store.apps.get(APP)
        if state is not None:
            from tui.widgets.stream_log import StreamLog

            views = [len(w.rows) for s in app.screen_stack for w in s.query(StreamLog)]
            result.buffered = {
                "router": len(state.router),
                "logs": len(state.logs),
                "view": max(views, default=0),
            }
        if os.environ.get("TUI_BENCH_DEBUG"):
            for press, queued, action, paint in breakdown:
                print(
                    f"{press:8} queued {1000 * queued:7.1f} ms  action {1000 * action:7.1f} ms  "
                    f"to frame {1000 * paint:7.1f} ms"
                )
        if idle_seconds:
            result.cpu_idle_percent = await _idle_cpu(app, idle_seconds)
    return result


async def _idle_cpu(app: Any, seconds: float) -> float:
    """CPU of the TUI with its stream connected but quiet (events stop arriving)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the test tree's fixture
    from tests.support.tui_backend import StaticBackend

    app.pump.backend = StaticBackend({}, [])
    app.workers.cancel_group(app, "events")
    app.run_worker(app.pump.run(), group="events", exclusive=True, exit_on_error=False)
    await asyncio.sleep(1.0)
    before, t0 = _cpu(), time.monotonic()
    await asyncio.sleep(seconds)
    return 100 * (_cpu() - before) / (time.monotonic() - t0)


def run_load(
    rate: int = 5000,
    seconds: float = 10.0,
    presses: int = 40,
    idle_seconds: float = 0.0,
    size: tuple[int, int] = (140, 40),
    kinds: tuple[str, ...] = tuple(KIND.values()),
) -> Result:
    proc, url = start_stub(rate)
    try:
        return asyncio.run(measure(url, rate, seconds, presses, idle_seconds, size, kinds))
    finally:
        proc.terminate()
        proc.wait(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=5000, help="router lines per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--presses", type=int, default=60)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle-CPU measurement")
    parser.add_argument("--size", default="140x40", help="terminal COLUMNSxROWS (80x24 folds the side panes)")
    parser.add_argument("--keys", default=",".join(KIND.values()), help="which key kinds to press")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port-file", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve_stub(args.rate, args.port_file))
        return
    os.environ.setdefault("TEXTUAL", "")
    columns, _, rows = args.size.partition("x")
    kinds = tuple(args.keys.split(","))
    result = run_load(args.rate, args.seconds, args.presses, args.idle, (int(columns), int(rows)), kinds)
    print(f"{'terminal':32} {columns}x{rows}")
    for key, value in result.summary().items():
        print(f"{key:32} {value}")


if __name__ == "__main__":
    main()
