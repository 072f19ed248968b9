#!/usr/bin/env bash
# Run the whole test suite: sets up .venv with the test extras (and the enigma.js client suite's npm
# packages) on first use, then runs pytest. Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh" test
enigma="$root/tests/clients/enigma"
if [ -f "$enigma/package-lock.json" ] && command -v npm >/dev/null 2>&1; then
  if [ ! -d "$enigma/node_modules" ] || [ "$enigma/package-lock.json" -nt "$enigma/node_modules" ]; then
    (cd "$enigma" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
cd "$root"
exec "$venv/bin/python" -m pytest "$@"
