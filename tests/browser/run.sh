#!/usr/bin/env bash
# Runs the browser tests: headless Chromium against the real server binary.
#
#   bash tests/browser/run.sh
#
# Needs the server built (target/debug/websocketchat, or under CARGO_TARGET_DIR, or set WSCHAT_BIN).
# Installs what is missing: Debian's chromium (as root, with apt-get) and the
# npm packages in package-lock.json. SCREENSHOT=1 also writes docs/screenshot.png.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
export DEBIAN_FRONTEND=noninteractive

apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "run.sh: $* missing and not root: install it with apt-get" >&2
    exit 1
  fi
  apt-get update
  apt-get install -y "$@"
}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "run.sh: warning: Node.js $(node --version) found; these tests are written for Node.js 20" >&2
fi

if [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM_BIN:-}" ]; then
  apt_install chromium
fi

# npm ci when node_modules is missing or was installed from another lockfile.
lock_sum="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -d node_modules ] || [ "$(cat node_modules/.lock-sha256 2>/dev/null || true)" != "$lock_sum" ]; then
  npm ci --no-audit --no-fund
  echo "$lock_sum" > node_modules/.lock-sha256
fi

# Where cargo builds: CARGO_TARGET_DIR (relative to the repository) when set, else target/.
target_dir="$(cd ../.. && pwd)/target"
case "${CARGO_TARGET_DIR:-}" in
  '') ;;
  /*) target_dir="$CARGO_TARGET_DIR" ;;
  *) target_dir="$(cd ../.. && pwd)/$CARGO_TARGET_DIR" ;;
esac
bin="${WSCHAT_BIN:-$target_dir/debug/websocketchat}"
if [ ! -x "$bin" ]; then
  echo "run.sh: server binary not found at $bin (run 'cargo build' first, or set WSCHAT_BIN)" >&2
  exit 1
fi

exec node --test --test-reporter=spec chat.test.mjs wire.test.mjs compression.test.mjs sessions.test.mjs crowd.test.mjs changes.test.mjs moderation.test.mjs
