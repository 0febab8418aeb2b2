#!/usr/bin/env bash
# Screenshots of every end-user page, desktop and phone width, rendered by headless Chromium.
#
#   scripts/screenshots.sh [output-dir]      (default: target/screenshots)
#
# The journey test (tests/api/journey.rs) walks light sign-up → code sign-in → profiling → consent → the
# account portal → export → deletion, saving each page as standalone HTML (stylesheet inlined); Chromium
# renders each to <page>.png (1280 px) and <page>-phone.png (390 px). Needs Debian's chromium
# (`apt-get install -y chromium`).
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mkdir -p "${1:-target/screenshots}" && cd "${1:-target/screenshots}" && pwd)"
browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
if [ -z "$browser" ]; then
  echo "error: Chromium not found (apt-get install -y chromium)" >&2
  exit 1
fi
rm -f "$out"/*.html "$out"/*.png
SCREENSHOTS_DIR="$out" cargo test --quiet --test api journey::the_whole_journey::sqlite -- --exact
shot() {
  "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 \
    --window-size="$2" --screenshot="$3" "file://$1" >/dev/null 2>&1
}
count=0
for html in "$out"/*.html; do
  shot "$html" 1280,1000 "${html%.html}.png"
  shot "$html" 390,1100 "${html%.html}-phone.png"
  count=$((count + 1))
done
echo "$count pages rendered to $out"
