#!/usr/bin/env bash
# Start the engine; on first use, create .venv and install the engine into it.
# Usage: scripts/start.sh [--port 9076] [-S Key=Value ...]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh" ""
source "$root/scripts/hub-bundle.sh"
cd "$root"
exec "$venv/bin/python" -m engine "$@"
