#!/usr/bin/env bash
# Quick start: install if needed, then run voxroute on its embedded default
# (SQLite + local master key + in-process provider emulators + a demo organization).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/voxroute serve "$@"
