#!/usr/bin/env bash
# Run the whole test suite: sets up .venv with the test extras (and the enigma.js client suite's npm
# packages, the hub's bundle when its sources changed, Chromium for the browser tests) on first use, then
# runs pytest. Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh" test
enigma="$root/tests/clients/enigma"
if [ -f "$enigma/package-lock.json" ] && command -v npm >/dev/null 2>&1; then
  if [ ! -d "$enigma/node_modules" ] || [ "$enigma/package-lock.json" -nt "$enigma/node_modules" ]; then
    (cd "$enigma" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
source "$root/scripts/hub-bundle.sh"
# the hub's browser tests drive the distribution's Chromium (never a browser Playwright would download)
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium for the hub's browser tests" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
    || echo "chromium could not be installed: the browser tests will be skipped" >&2
fi
cd "$root"
exec "$venv/bin/python" -m pytest "$@"
