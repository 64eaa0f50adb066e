#!/usr/bin/env bash
# HAProxy (Debian package) for the several-nodes tests (tests/cluster/test_several_nodes.py).
set -euo pipefail
if ! command -v haproxy >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get install -y --no-install-recommends haproxy >/dev/null \
      || { apt-get update >/dev/null && apt-get install -y --no-install-recommends haproxy >/dev/null; }
  else
    echo "haproxy is missing (install the distribution's package); the load-balancer test skips" >&2
  fi
fi
