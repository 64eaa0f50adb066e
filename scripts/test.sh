#!/usr/bin/env bash
# Install everything the tests need, make sure PostgreSQL and Redis run, then run ruff, mypy,
# the suite and the wheel check (scripts/test_wheel.sh; SKIP_WHEEL_TEST=1 skips it). Extra
# arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/install_haproxy.sh

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --daemonize yes --port 6379 --save "" --appendonly no || true
fi

.venv/bin/ruff check src tests scripts bench
.venv/bin/ruff format --check src tests scripts bench
.venv/bin/mypy
.venv/bin/pytest -p no:cacheprovider "$@"
if [ "${SKIP_WHEEL_TEST:-0}" != 1 ]; then
  bash scripts/test_wheel.sh
fi
