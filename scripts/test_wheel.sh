#!/usr/bin/env bash
# The installed package works on its own: build the wheel, install it (not editable) into a
# fresh virtualenv, start `voxroute serve` from a directory outside the checkout on a port
# the kernel picks (the server reports it), and place a full Twilio-style test call.
#
# Dependencies are the pinned ones already installed in .venv (requirements.lock), made
# visible to the new virtualenv after voxroute itself is installed there from the wheel;
# nothing is downloaded. WHEEL_TEST_CLEAN=1 installs requirements.lock into the new
# virtualenv instead (downloads unless pip's cache has the wheels).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-$ROOT/.venv}
unset PYTHONPATH  # the checkout's src/ must not be importable
for name in $(env | grep -o '^VOXROUTE_[A-Z0-9_]*' || true); do unset "$name"; done

work=$(mktemp -d "${TMPDIR:-/tmp}/voxroute-wheel.XXXXXX")
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    for _ in $(seq 1 40); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "test_wheel: $*" >&2
  [ -f "$work/run/server.log" ] && tail -n 40 "$work/run/server.log" >&2
  exit 1
}
start=$(date +%s)

# 1. The wheel, built with the pinned hatchling already in .venv (no build isolation).
"$VENV/bin/python" -m pip wheel --quiet --no-deps --no-build-isolation \
  --wheel-dir "$work/dist" "$ROOT"
wheel=$(ls "$work"/dist/voxroute-*.whl)
# Every file of the package in the checkout is in the wheel (data files included).
"$VENV/bin/python" - "$wheel" <<'EOF' || fail "the wheel lacks package files"
import sys
import zipfile
from pathlib import Path

src = Path("src")
files = [
    p.relative_to(src).as_posix()
    for p in (src / "voxroute").rglob("*")
    if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
]
shipped = set(zipfile.ZipFile(sys.argv[1]).namelist())
missing = sorted(name for name in files if name not in shipped)
if missing:
    raise SystemExit("not in the wheel: " + ", ".join(missing))
EOF

# 2. A fresh virtualenv holding voxroute from the wheel.
"$VENV/bin/python" -m venv --without-pip "$work/venv"
if [ "${WHEEL_TEST_CLEAN:-0}" = 1 ]; then
  "$VENV/bin/python" -m pip --python "$work/venv/bin/python" install --quiet \
    -r "$ROOT/requirements.lock"
  "$VENV/bin/python" -m pip --python "$work/venv/bin/python" install --quiet --no-deps "$wheel"
else
  "$VENV/bin/python" -m pip --python "$work/venv/bin/python" install --quiet --no-deps "$wheel"
  # Appended after the venv's own site-packages, so voxroute resolves to the wheel; .pth
  # files in .venv (its editable install) are not processed for a plain path entry.
  deps=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  site=$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$deps" >"$site/_voxroute_locked_dependencies.pth"
fi

mkdir "$work/run"
cd "$work/run"
origin=$("$work/venv/bin/python" -c 'import voxroute; print(voxroute.__file__)')
case "$origin" in
  "$work/venv/"*) ;;
  *) fail "voxroute imported from $origin, not from the installed wheel" ;;
esac
"$work/venv/bin/python" - <<'EOF' || fail "installed dependencies do not satisfy the wheel"
from importlib import metadata

from packaging.requirements import Requirement

missing = []
for text in metadata.requires("voxroute") or []:
    req = Requirement(text)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    try:
        version = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        missing.append(f"{req} (not installed)")
        continue
    if not req.specifier.contains(version, prereleases=True):
        missing.append(f"{req} (installed {version})")
if missing:
    raise SystemExit("\n".join(missing))
EOF

# 3. The server on the embedded default, from a directory outside the checkout, port 0.
VOXROUTE_LOOP_LAG_LIMIT_MS=2000 VOXROUTE_LOOP_BUSY_LIMIT_PCT=100 \
  "$work/venv/bin/voxroute" serve --port 0 --workers 1 --url-file "$work/run/url" \
  >"$work/run/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 120); do
  [ -s "$work/run/url" ] && break
  kill -0 "$server_pid" 2>/dev/null || fail "voxroute serve exited"
  sleep 0.5
done
[ -s "$work/run/url" ] || fail "voxroute serve did not report its URL"
url=$(cat "$work/run/url")
healthy=0
for _ in $(seq 1 120); do
  if "$work/venv/bin/python" -c "import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=1)" \
    "$url/health" 2>/dev/null; then
    healthy=1
    break
  fi
  kill -0 "$server_pid" 2>/dev/null || fail "voxroute serve exited"
  sleep 0.5
done
[ "$healthy" = 1 ] || fail "voxroute serve did not become healthy at $url"

# 4. A real test call: signed webhook, TwiML, media stream, the demo assistant's replies.
if ! "$work/venv/bin/voxroute" call --url "$url" --pause 1 --record "$work/run/call.wav" \
  >"$work/run/call.out" 2>&1; then
  cat "$work/run/call.out" >&2
  fail "voxroute call failed"
fi
grep -Eq '^call CA[0-9a-f]+: ok$' "$work/run/call.out" || fail "no completed call in: $(cat "$work/run/call.out")"
grep -q '^end reason: ' "$work/run/call.out" || fail "the call's record was not read back"
[ -s "$work/run/call.wav" ] || fail "no audio recorded from the assistant"
echo "test_wheel: $(basename "$wheel") installed outside the checkout served a call at $url" \
  "($(head -n 1 "$work/run/call.out"); $(($(date +%s) - start)) s)"
