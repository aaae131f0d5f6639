#!/usr/bin/env bash
# Installs what paas needs into ./.venv (idempotent). With --system, also the Debian packages
# the test suite drives for real (git, chromium, nginx, haproxy, wrk, psql, redis-server, docker.io,
# kcat, node, prometheus).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--system" ]; then
  need=()
  command -v git >/dev/null || need+=(git)
  command -v chromium >/dev/null || need+=(chromium)
  command -v nginx >/dev/null || need+=(nginx-light)
  command -v haproxy >/dev/null || need+=(haproxy)
  command -v wrk >/dev/null || need+=(wrk)
  command -v psql >/dev/null || need+=(postgresql-client)
  command -v redis-server >/dev/null || need+=(redis-server)
  command -v dockerd >/dev/null || need+=(docker.io)
  command -v kcat >/dev/null || command -v kafkacat >/dev/null || need+=(kafkacat)
  command -v node >/dev/null || need+=(nodejs npm)
  command -v prometheus >/dev/null || need+=(prometheus)
  if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "==> installing system packages: ${need[*]}"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    else
      echo "==> missing system packages (install them for the full suite): ${need[*]}" >&2
    fi
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.paas-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "==> installing paas and its dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e '.[test]'
  touch "$stamp"
fi
# kafkajs for the Kafka interop suite, kept inside .venv (ignored) and run by node
if command -v npm >/dev/null && [ ! -d .venv/node/node_modules/kafkajs ]; then
  echo "==> installing kafkajs into .venv/node"
  mkdir -p .venv/node
  (cd .venv/node && npm install --no-audit --no-fund --silent kafkajs@2.2.4 >/dev/null) || echo "==> kafkajs not installed" >&2
fi
# The router's hot path compiled with mypyc (a no-op when the build matches the sources; if it
# cannot be built, e.g. no C compiler, the same code runs interpreted, only slower).
.venv/bin/python -m router.compile || true
