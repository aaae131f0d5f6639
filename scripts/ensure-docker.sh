#!/usr/bin/env bash
# Make sure a Docker engine answers `docker info`; start one if not. Idempotent.
#
#   scripts/ensure-docker.sh            # exit 0 when an engine answers (started or not)
#
# 1. `docker info` answers → done.
# 2. dockerd missing → `apt-get install -y docker.io` (needs root).
# 3. Start `dockerd` in the background, log to $DOCKERD_LOG (default /tmp/dockerd.log).
# 4. Wait until `docker info` answers, at most $DOCKER_WAIT seconds (default 60).
set -u

LOG=${DOCKERD_LOG:-/tmp/dockerd.log}
WAIT=${DOCKER_WAIT:-60}

answers() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && answers; then
    echo "ensure-docker: engine already answers"
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        echo "ensure-docker: dockerd is not installed and we are not root (apt-get install docker.io)" >&2
        exit 1
    fi
    echo "ensure-docker: installing docker.io"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y docker.io >/tmp/ensure-docker-apt.log 2>&1; then
        apt-get update >>/tmp/ensure-docker-apt.log 2>&1
        apt-get install -y docker.io >>/tmp/ensure-docker-apt.log 2>&1 || {
            echo "ensure-docker: apt-get install docker.io failed (see /tmp/ensure-docker-apt.log)" >&2
            exit 1
        }
    fi
fi

# A daemon may already be starting (another caller, or a slow previous start): give it a chance
# rather than starting a second one that would fight over /var/run/docker.pid.
if ! pgrep -x dockerd >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        echo "ensure-docker: no engine answers and only root can start dockerd" >&2
        exit 1
    fi
    # A pid file left by a killed dockerd makes the next one refuse to start.
    if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid 2>/dev/null)" 2>/dev/null; then
        rm -f /var/run/docker.pid
    fi
    echo "ensure-docker: starting dockerd (log: $LOG)"
    nohup dockerd >"$LOG" 2>&1 </dev/null &
fi

for _ in $(seq 1 $((WAIT * 2))); do
    if answers; then
        echo "ensure-docker: engine answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
        exit 0
    fi
    sleep 0.5
done
echo "ensure-docker: dockerd did not answer within ${WAIT}s; last log lines:" >&2
tail -n 20 "$LOG" >&2 2>/dev/null
exit 1
