#!/usr/bin/env bash
# The main job on a fresh machine: install, start the daemon with the sample app, open the TUI.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/paas up "$@"
