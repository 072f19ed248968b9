# Sourced by start.sh and test.sh: make sure .venv exists with the project installed (with extras "$1").
# Re-installs only when setup.cfg changed since the last install.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
extras="${1:-}"
stamp="$venv/.installed${extras:+-$extras}-$(sha1sum "$root/setup.cfg" | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet -e "$root${extras:+[$extras]}"
  touch "$stamp"
fi
