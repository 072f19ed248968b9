# Sourced by start.sh and test.sh (needs $root): rebuild the hub's bundle (engine/hub_static) when hub/ changed
# since it was built and Node is here. The built bundle is committed, so without Node the shipped one is served.
if [ -f "$root/hub/build.mjs" ] && command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  if ! node "$root/hub/build.mjs" --check; then
    echo "hub/ changed since engine/hub_static was built: rebuilding the hub bundle" >&2
    if [ ! -d "$root/hub/node_modules" ] || [ "$root/hub/package-lock.json" -nt "$root/hub/node_modules" ]; then
      (cd "$root/hub" && npm ci --no-audit --no-fund --loglevel=error)
    fi
    (cd "$root/hub" && node build.mjs)
  fi
fi
