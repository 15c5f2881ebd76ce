#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium;
# it never downloads a browser of its own). Does nothing when chromium is already there.
# Another process may hold the dpkg lock (an unattended upgrade, another install): wait and retry.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

attempts=30
for attempt in $(seq 1 "$attempts"); do
  if $SUDO apt-get -o DPkg::Lock::Timeout=60 update -q \
    && DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=60 install -y -q --no-install-recommends \
      chromium fonts-dejavu-core; then
    command -v chromium >/dev/null 2>&1 && exit 0
  fi
  echo "install-chromium: attempt ${attempt}/${attempts} failed (dpkg busy?); retrying in 10 s" >&2
  sleep 10
done
echo "install-chromium: could not install chromium" >&2
exit 1
