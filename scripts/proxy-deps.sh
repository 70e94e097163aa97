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
# On a machine with systemd the package also enables and starts Debian's default site on port 80;
# the test does not use that service (`systemctl disable --now nginx` if it is not wanted).
"$(dirname "$0")/apt-install.sh" proxy-deps "install nginx and set EXCHANGE_TEST_NGINX" nginx
echo "proxy-deps: installed $(/usr/sbin/nginx -v 2>&1)"
