"""The static site buildpack: an `index.html` at the root is served by a tiny bundled server.

Default process type: `web: python3 .heroku/static/server.py` (127.0.0.1:$PORT, the slug root,
dotfiles refused). On SIGTERM the server stops accepting first, then finishes what it
accepted, so a deploy does not turn queued connections into H13s.
"""

from __future__ import annotations

from pathlib import Path

from paas.builds.buildpacks.common import copy_source_to_slug, step
from paas.builds.compile import BuildContext

SERVER = '''\
"""A tiny static file server for paas static sites (bundled by the static buildpack)."""
import http.server
import os
import signal
import sys
import threading


class Handler(http.server.SimpleHTTPRequestHandler):
    def send_head(self):
        if any(part.startswith(".") for part in self.path.split("?", 1)[0].split("/") if part):
            self.send_error(404, "Not Found")
            return None
        return super().send_head()

    def log_message(self, fmt, *args):
        sys.stdout.write("%s %s\\n" % (self.address_string(), fmt % args))


def main():
    port = int(os.environ.get("PORT", "5000"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = False

    def stop(_signum, _frame):
        server.socket.close()  # refuse new connections at once; the router retries elsewhere
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    print("static site listening on port %d" % port, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except OSError:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
'''

SERVER_PATH = Path(".heroku") / "static" / "server.py"


class StaticBuildpack:
    name = "Static site"

    def detect(self, source_dir: Path) -> bool:
        return (source_dir / "index.html").is_file()

    async def compile(self, ctx: BuildContext) -> None:
        await copy_source_to_slug(ctx)
        target = ctx.slug_dir / SERVER_PATH
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(SERVER)
        step(ctx, "Installing the static file server")
        ctx.extra["default_process_types"] = {"web": f"python3 {SERVER_PATH.as_posix()}"}
