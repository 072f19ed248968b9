#!/usr/bin/env bash
# Start the engine; on first use, create .venv and install the engine into it.
# Usage: scripts/start.sh [--port 9076] [-S Key=Value ...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
stamp="$venv/.installed-$(sha1sum "$root/setup.cfg" | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet -e "$root"
  touch "$stamp"
fi
cd "$root"
exec "$venv/bin/python" -m engine "$@"
