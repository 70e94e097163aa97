#!/usr/bin/env bash
# The browser the page tests drive: Debian's Chromium at /usr/bin/chromium (Playwright for Python
# talks to it directly, so no browser download is needed). Installed with apt-get only when missing.
set -euo pipefail
CHROMIUM="${EXCHANGE_TEST_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  echo "browser-deps: $CHROMIUM present"
  exit 0
fi
"$(dirname "$0")/apt-install.sh" browser-deps "install Chromium and set EXCHANGE_TEST_CHROMIUM" chromium
echo "browser-deps: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
