#!/usr/bin/env bash
# Passkeys in a real browser: builds Gatehouse, then scripts/passkeys_browser.py drives headless Chromium
# with a virtual WebAuthn authenticator over the DevTools protocol (Python standard library only).
#
#   scripts/passkeys_browser.sh
#
# Needs Debian's chromium (`apt-get install -y chromium`; or set CHROMIUM=/path/to/chrome) and python3.
# Screenshots: target/screenshots/passkeys-*.png. Exit status 0 only when every step passed.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v "${CHROMIUM:-chromium}" >/dev/null 2>&1; then
  echo "error: Chromium not found (apt-get install -y chromium, or set CHROMIUM)" >&2
  exit 1
fi
cargo build --quiet --bin gatehouse
exec python3 scripts/passkeys_browser.py "$@"
