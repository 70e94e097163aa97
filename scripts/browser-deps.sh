#!/usr/bin/env bash
# The browser the page tests drive: Debian's Chromium at /usr/bin/chromium (Playwright for Python
# talks to it directly, so no browser download is needed). Installed with apt-get only when missing.
set -euo pipefail
CHROMIUM="${EXCHANGE_TEST_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  echo "browser-deps: $CHROMIUM present"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "browser-deps: $CHROMIUM is missing and there is no apt-get; install Chromium and set EXCHANGE_TEST_CHROMIUM" >&2
  exit 1
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "browser-deps: $CHROMIUM is missing; run as root: apt-get install -y chromium" >&2
    exit 1
  fi
fi
echo "browser-deps: installing chromium"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "browser-deps: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
