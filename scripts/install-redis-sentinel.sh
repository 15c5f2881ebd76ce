#!/usr/bin/env bash
# Install Debian's redis-sentinel for the failover test (tests/test_sentinel.py). Does nothing when it
# is already there. Another process may hold the dpkg lock (an unattended upgrade, another install): wait and retry.
set -euo pipefail

if command -v redis-sentinel >/dev/null 2>&1; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

# Keep the package from starting its own sentinel service: the test starts its own on spare ports.
POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod +x "$POLICY"
  trap '$SUDO rm -f "$POLICY"' EXIT
fi

attempts=30
for attempt in $(seq 1 "$attempts"); do
  if $SUDO apt-get -o DPkg::Lock::Timeout=60 update -q \
    && DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=60 install -y -q \
      --no-install-recommends redis-sentinel; then
    command -v redis-sentinel >/dev/null 2>&1 && exit 0
  fi
  echo "install-redis-sentinel: attempt ${attempt}/${attempts} failed (dpkg busy?); retrying in 10 s" >&2
  sleep 10
done
echo "install-redis-sentinel: could not install redis-sentinel" >&2
exit 1
