"""What each H/R/L code means, why it usually happens and how to fix it — the TUI's side pane.

The router's catalog (router/codes.py) says what a code *is* (desc, status, level); this table
says what a person looking at it should *do*. Written from Heroku's Dev Center "Error codes",
the routing and dyno pages, Logplex's page and the Puma H13 post-mortem
(blog.heroku.com/puma-4-hammering-out-h13s-a-debugging-story).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CodeHelp:
    code: str
    title: str
    meaning: str
    causes: tuple[str, ...]
    fixes: tuple[str, ...]
    story: str = ""  # a longer account, when there is one worth telling

    @property
    def kind(self) -> str:
        return {"H": "router", "R": "runtime", "L": "logging"}.get(self.code[0], "")


def _h(
    code: str, title: str, meaning: str, causes: tuple[str, ...], fixes: tuple[str, ...], story: str = ""
) -> CodeHelp:
    return CodeHelp(code, title, meaning, causes, fixes, story)


H13_STORY = (
    "Puma 4, 2019. Busy Puma apps logged H13 only while deploying, scaling or restarting. "
    "SIGTERM and the router's removal of a dyno are separate systems, so a few requests still "
    "arrive after SIGTERM. Puma (cluster mode) trapped SIGTERM, stopped its workers, and only "
    "closed its listen socket as a side effect of exiting. Between those two moments the socket "
    "was still open with nobody accepting: the kernel completed the TCP handshake and parked "
    "each new connection in the listen backlog (Puma's default: 1024). When the process exited, "
    "those connections were closed unanswered - 'accepted, then closed' is exactly H13. Had the "
    "socket been closed first, the router would have got ECONNREFUSED and retried another dyno "
    "silently. The fix (Puma PR #1808, shipped in 4.0.0): on SIGTERM close the listeners "
    "*before* stopping the workers; requests already accepted are still answered. Reproduce it "
    "here: crash a dyno with `c` (SIGKILL mid-request) or run a server that ignores SIGTERM "
    "while keeping its socket open, send traffic, and watch H13 appear."
)

HELP: dict[str, CodeHelp] = {
    c.code: c
    for c in (
        _h(
            "H10",
            "App crashed",
            "No web dyno could take the request because the web dynos are crashed (or failed to boot).",
            (
                "The web process exited - any exit of the main command is a crash, even status 0.",
                "It hit the boot timeout (R10) or the memory limit (R15) and was killed.",
                "It crashed again soon after a restart, so the platform is backing off before the next try.",
            ),
            (
                "Read the dyno's own lines just before the crash: `/ source:app` in Logs, or "
                "`paas logs -d web.1`.",
                "Fix the exception or missing config, then deploy or `paas restart`.",
                "A new release resets the crash back-off.",
            ),
        ),
        _h(
            "H11",
            "Backlog too deep",
            "Too many requests are already waiting for this app at the router, so new ones fail at once.",
            (
                "Requests arrive faster than the dynos answer them (slow endpoints, too few dynos).",
                "A dependency (database, API) got slow and every request now waits on it.",
            ),
            (
                "Scale web up (`+`) or make slow requests faster.",
                "Move slow work to a worker dyno and answer the request quickly.",
            ),
        ),
        _h(
            "H12",
            "Request timeout",
            "The dyno accepted the request but sent no response byte within the router's timeout "
            "(30 s on Heroku; PAAS_ROUTER_TIMEOUT here). The client gets a 503; the app is not told "
            "and keeps working on it.",
            (
                "A slow query, an external call without a timeout, or a long computation in the request.",
                "All app threads busy, so the request waited in the app's own queue (time in the "
                "kernel's accept queue counts too).",
            ),
            (
                "Put timeouts on every outbound call; make the app give up before the router does.",
                "Move long work to a worker and poll for the result.",
                "Add web concurrency or dynos.",
            ),
        ),
        _h(
            "H13",
            "Connection closed without response",
            "The dyno accepted the TCP connection and then closed it without writing a single byte.",
            (
                "The process died mid-request (SIGKILL, segfault, out of memory) - curl shows exit 52, "
                "'Empty reply from server'.",
                "Shutdown in the wrong order: after SIGTERM the server stopped its workers but kept the "
                "listen socket open, so connections queued in the kernel backlog were closed "
                "unanswered when it exited.",
                "A server that closes idle keep-alive connections sooner than the router reuses them "
                "(Router 2.0: keep the server's idle timeout at 90 s or more).",
            ),
            (
                "On SIGTERM, close the listening socket first, then finish in-flight requests, then exit.",
                "Find what kills the process: look for R14/R15 and crash lines around the same time.",
                "Raise the server's keep-alive timeout above the router's (90 s) on Router 2.0.",
            ),
            H13_STORY,
        ),
        _h(
            "H14",
            "No web processes running",
            "The app has no web dynos: the web process type is scaled to 0 (or has none in the Procfile).",
            ("`paas ps:scale web=0`, or the Procfile has no `web:` line.",),
            (
                "Scale web up (`+` here, or `paas ps:scale web=1`).",
                "Add a `web:` process to the Procfile that listens on $PORT.",
            ),
        ),
        _h(
            "H15",
            "Idle connection",
            "The response had started but then nothing came from the dyno for the idle window "
            "(55 s on Heroku; PAAS_ROUTER_IDLE_TIMEOUT here).",
            (
                "A streaming response or long-poll that stopped sending.",
                "The app hung half-way through writing a response.",
            ),
            (
                "Send a heartbeat byte at least every 55 s on long-lived responses.",
                "Find what blocks the writer (locks, slow generators).",
            ),
        ),
        _h(
            "H17",
            "Poorly formatted HTTP response",
            "The router could not parse what the dyno sent back as HTTP.",
            (
                "A status line without a reason phrase (`HTTP/1.1 200`) or malformed headers.",
                "Something other than HTTP listening on $PORT.",
            ),
            ("Use a real HTTP server library; check the raw response with `curl -v`.",),
        ),
        _h(
            "H18",
            "Server Request Interrupted",
            "The dyno sent part of a response and then closed the socket (`sock=backend`).",
            (
                "The process crashed or was killed while streaming a response.",
                "Router 2.0: a keep-alive connection the server closed while the router reused it.",
            ),
            (
                "Look for crash, R14/R15 or R12 lines at the same time.",
                "Align keep-alive timeouts (server idle ≥ 90 s on Router 2.0).",
            ),
        ),
        _h(
            "H19",
            "Backend connection timeout",
            "The TCP connect to the dyno took longer than 5 s (PAAS_ROUTER_CONNECT_TIMEOUT here); "
            "other dynos were tried first.",
            (
                "The dyno is overloaded and not accepting (full accept queue).",
                "The dyno is frozen (stopped, swapping, stuck in a GC pause).",
            ),
            ("Add dynos or concurrency; look for R14 (swapping) on the same dyno.",),
        ),
        _h(
            "H20",
            "App boot timeout",
            "Requests were held while dynos booted, and no dyno came up within the hold window "
            "(75 s on Heroku; PAAS_ROUTER_HOLD_TIMEOUT here).",
            (
                "Slow boot after a deploy, restart or scale from 0.",
                "The web process never binds $PORT (it will also show R10).",
            ),
            (
                "Make boot faster (lazy-load, precompile in the build).",
                "Bind $PORT early; check for R10 lines.",
            ),
        ),
        _h(
            "H21",
            "Backend connection refused",
            "Every dyno tried refused the TCP connection (nothing listening on its port).",
            (
                "The server is restarting or has closed its listener.",
                "The app listens on the wrong port or interface instead of $PORT on all interfaces.",
            ),
            (
                "Listen on $PORT; check the dyno's boot lines.",
                "A refused connect is retried on other dynos, so it only surfaces when all refuse.",
            ),
        ),
        _h(
            "H22",
            "Connection limit reached",
            "The router is holding too many client connections for this app.",
            ("A flood of clients, or many slow clients holding connections open.",),
            ("Reduce client concurrency; make responses faster so connections free up.",),
        ),
        _h(
            "H25",
            "HTTP restriction",
            "The dyno's response broke a protocol limit and the client got a 502.",
            (
                "Conflicting Content-Length headers, a cookie over 8192 bytes, a header line over "
                "512 KB or a status line over 8 KB.",
            ),
            ("Fix the response headers; keep cookies small.",),
        ),
        _h(
            "H26",
            "Request Error",
            "The client's request broke the protocol (400), or sent an Expect header other than "
            "100-continue (417). The `cause=` field says which.",
            ("A bad header, bad chunked encoding or malformed request line from the client.",),
            ("Fix the client; the app never saw this request.",),
        ),
        _h(
            "H27",
            "Client Request Interrupted",
            "The client closed its connection before the response was sent (`sock=client`, 499, a warning).",
            ("Users navigating away, clients with short timeouts, load balancers giving up.",),
            ("Usually nothing to fix; if frequent, the app is too slow for its clients' timeouts.",),
        ),
        _h(
            "H28",
            "Client Connection Idle",
            "The client sent nothing for 55 s before finishing its request (499, a warning).",
            ("A slow or stalled upload; a client that opened a connection and went away.",),
            ("Usually nothing to fix on the app side.",),
        ),
        _h(
            "H80",
            "Maintenance mode",
            "Maintenance mode is on, so the router answers every request itself (503, at=info). "
            "Dynos keep running.",
            ("`paas maintenance:on`, or `m` in this TUI.",),
            ("Turn it off with `m` or `paas maintenance:off`.",),
        ),
        _h(
            "H81",
            "Blank app",
            "Nothing has been deployed to this app yet.",
            ("A new app without a release with a slug.",),
            ("Deploy: `paas deploy . -a <app>` or `git push paas main`.",),
        ),
        _h(
            "H99",
            "Platform error",
            "An internal error in the platform itself, not in the app - with R99 the only codes that blame the platform.",
            ("A bug in paas (the router), or every dyno quarantined for the whole hold window.",),
            ("Look at the daemon log (PAAS_HOME/daemon.log) and report it.",),
        ),
        _h(
            "R10",
            "Boot timeout",
            "The web process did not bind $PORT within the boot timeout (60 s on Heroku; "
            "PAAS_BOOT_TIMEOUT here), so it was killed with SIGKILL and marked crashed.",
            (
                "Listening on a hard-coded port instead of $PORT.",
                "Slow start-up work (migrations, cache warm-up) before listening.",
            ),
            (
                "Read $PORT from the environment and bind it first.",
                "Move slow start-up work to the release phase or a worker.",
            ),
        ),
        _h(
            "R12",
            "Exit timeout",
            "After SIGTERM the process did not exit within the grace period (30 s on Heroku; "
            "PAAS_STOP_TIMEOUT here), so it was killed with SIGKILL.",
            ("The app ignores SIGTERM, or waits on work that never finishes.",),
            ("Handle SIGTERM: stop accepting, finish in-flight work, exit within the grace period.",),
        ),
        _h(
            "R13",
            "Attach error",
            "A one-off `run` dyno could not attach to the caller's terminal.",
            ("The client disconnected or the attach URL expired.",),
            ("Retry `paas run`; use `run:detached` for long jobs.",),
        ),
        _h(
            "R14",
            "Memory quota exceeded",
            "The dyno's memory passed 100% of its size's quota; on Heroku it starts swapping and slows down.",
            ("A memory leak, large in-memory datasets, too many workers/threads for the dyno size.",),
            (
                "Find the growth (per-request allocations, caches without bounds).",
                "Use fewer worker processes, or a larger dyno size.",
            ),
        ),
        _h(
            "R15",
            "Memory quota vastly exceeded",
            "The dyno passed its hard memory limit (2x the quota for Standard sizes) and was killed with SIGKILL.",
            ("Same causes as R14, only worse; a single huge allocation.",),
            ("Fix the leak or the allocation; size up the dyno.",),
        ),
        _h(
            "R16",
            "Detached",
            "A one-off dyno ignored the SIGHUP sent when its client went away.",
            ("A process that traps or ignores SIGHUP.",),
            ("Let one-off processes exit on SIGHUP, or use `run:detached`.",),
        ),
        _h(
            "R17",
            "Checksum error",
            "The slug's checksum did not match, so the dyno did not start.",
            ("A slug changed or corrupted after it was built.",),
            ("Rebuild and redeploy.",),
        ),
        _h(
            "R99",
            "Platform error",
            "An internal error in the dyno manager itself.",
            ("A bug in paas (dynos), or the container engine failing.",),
            ("Look at the daemon log (PAAS_HOME/daemon.log) and report it.",),
        ),
        _h(
            "L10",
            "Drain buffer overflow",
            "A log drain could not keep up; its buffer (1024 messages) overflowed and the oldest lines were dropped.",
            ("The drain endpoint is slow or unreachable while the app logs heavily.",),
            ("Fix or speed up the drain endpoint; log less.",),
        ),
        _h(
            "L11",
            "Tail buffer overflow",
            "A `logs --tail` session (or this TUI) could not keep up, so lines were dropped for it.",
            ("Very high log volume for a slow reader or slow terminal.",),
            ("Filter the tail (`-d router`, `-s app`), or log less. Nothing was lost from the buffer.",),
        ),
        _h(
            "L12",
            "Local buffer overflow",
            "The dyno's log shipper dropped lines because the app wrote faster than it could forward.",
            ("Extremely chatty logging.",),
            ("Log less, or at a lower level.",),
        ),
        _h(
            "L13",
            "Local delivery error",
            "Lines from the dyno were lost on the way to the log router.",
            ("A platform problem between dyno and log router.",),
            ("Usually transient; nothing to fix in the app.",),
        ),
        _h(
            "L14",
            "Certificate validation error",
            "A TLS syslog drain presented a certificate that did not validate.",
            ("Expired or self-signed certificate on the drain endpoint.",),
            ("Install a valid certificate on the drain endpoint.",),
        ),
        _h(
            "L15",
            "Tail buffer temporarily unavailable",
            "The log tail could not be served for a moment.",
            ("A platform problem in the log router.",),
            ("Retry the tail.",),
        ),
    )
}

_CODE = re.compile(r"\b([HRL]\d\d)\b")


def find_code(text: str) -> str | None:
    """The first H/R/L code mentioned in a log line (`code=H13`, `Error R14 (...)`, `L11 (...)`)."""
    for match in _CODE.finditer(text):
        if match.group(1) in HELP:
            return match.group(1)
    return None


def explain(code: str | None) -> CodeHelp | None:
    return HELP.get(code) if code else None
