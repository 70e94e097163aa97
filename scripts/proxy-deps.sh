#!/usr/bin/env bash
# The reverse proxy of the failover test (tests/integration/test_failover.py): Debian's nginx,
# which the test starts itself with a config of its own in a scratch folder (never as the system
# service). Installed with apt-get only when `nginx` is missing; EXCHANGE_TEST_NGINX names another.
set -euo pipefail
NGINX="${EXCHANGE_TEST_NGINX:-nginx}"
if command -v "$NGINX" >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  echo "proxy-deps: nginx present: $({ command -v "$NGINX" || echo /usr/sbin/nginx; } | head -n1)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "proxy-deps: nginx is missing and there is no apt-get; install nginx and set EXCHANGE_TEST_NGINX" >&2
  exit 1
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "proxy-deps: nginx is missing; run as root: apt-get install -y --no-install-recommends nginx" >&2
    exit 1
  fi
fi
echo "proxy-deps: installing nginx"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
# On a machine with systemd the package also enables and starts Debian's default site on port 80;
# the test does not use that service (`systemctl disable --now nginx` if it is not wanted).
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends nginx >/dev/null
echo "proxy-deps: installed $(/usr/sbin/nginx -v 2>&1)"
