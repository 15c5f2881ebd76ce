#!/usr/bin/env bash
# Install Debian's nginx and wrk for the cluster, the benchmark and the fault run.
# Does nothing when both are already there. Another process may hold the dpkg lock
# (an unattended upgrade, another install): wait and retry.
#
# Debian's nginx package starts its own service on port 80 of every address when it is
# installed; the cluster only ever runs nginx with its own loopback config, so service
# starts are refused during the install (policy-rc.d, removed again afterwards).
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

if command -v nginx >/dev/null 2>&1 && command -v wrk >/dev/null 2>&1; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod +x "$POLICY"
  trap '$SUDO rm -f "$POLICY"' EXIT
fi

updated=""
attempts=30
for attempt in $(seq 1 "$attempts"); do
  if [ -z "$updated" ] && $SUDO apt-get -o DPkg::Lock::Timeout=60 update -q; then
    updated=1
  fi
  if [ -n "$updated" ] && DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=60 \
    install -y -q --no-install-recommends nginx wrk; then
    command -v nginx >/dev/null 2>&1 && command -v wrk >/dev/null 2>&1 && exit 0
  fi
  echo "install-tools: attempt ${attempt}/${attempts} failed (dpkg busy?); retrying in 10 s" >&2
  sleep 10
done
echo "install-tools: could not install nginx and wrk" >&2
exit 1
