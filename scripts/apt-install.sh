#!/usr/bin/env bash
# Install Debian packages with apt-get, as root or through password-less sudo; shared by the
# *-deps.sh scripts, which call it only when what they need is missing.
#   scripts/apt-install.sh WHO HINT PACKAGE...
# WHO prefixes the messages; HINT says how to do without apt-get (e.g. an EXCHANGE_TEST_* variable).
set -euo pipefail
WHO="$1"; HINT="$2"; shift 2
if ! command -v apt-get >/dev/null 2>&1; then
  echo "$WHO: $* missing and there is no apt-get; $HINT" >&2
  exit 1
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "$WHO: $* missing; run as root: apt-get install -y --no-install-recommends $*" >&2
    exit 1
  fi
fi
echo "$WHO: installing $*"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
