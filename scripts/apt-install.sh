#!/usr/bin/env bash
# Install Debian packages when a command they provide is missing; does nothing when every
# command named with --needs is already there. The installers of the bench's and the tests'
# tools (bench/install-tools.sh, scripts/install-chromium.sh, scripts/install-redis-sentinel.sh)
# are calls of this one.
#
#   scripts/apt-install.sh [--name LABEL] [--no-services] --needs COMMAND [--needs COMMAND ...] PACKAGE...
#
# --name LABEL   prefix of the messages (the calling script's name)
# --no-services  refuse service starts during the install (policy-rc.d, removed again afterwards):
#                packages such as nginx or redis-sentinel start a service of their own when
#                installed, and the bench and tests only ever run their own instances
#
# Non-interactive; `apt-get update` runs once. Another process may hold the dpkg lock (an
# unattended upgrade, another install): wait and retry, 30 attempts 10 s apart.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

usage() {
  echo "usage: $(sed -n 7p "${BASH_SOURCE[0]}" | sed 's/^# *//')" >&2
  exit 2
}

label="apt-install"
no_services=""
needs=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --name) [ "$#" -ge 2 ] || usage; label="$2"; shift 2 ;;
    --no-services) no_services=1; shift ;;
    --needs) [ "$#" -ge 2 ] || usage; needs+=("$2"); shift 2 ;;
    --) shift; break ;;
    -*) usage ;;
    *) break ;;
  esac
done
packages=("$@")
[ "${#needs[@]}" -gt 0 ] && [ "${#packages[@]}" -gt 0 ] || usage

all_present() {
  local command
  for command in "${needs[@]}"; do
    command -v "$command" >/dev/null 2>&1 || return 1
  done
}

if all_present; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

POLICY=/usr/sbin/policy-rc.d
if [ -n "$no_services" ] && [ ! -e "$POLICY" ]; then
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
    install -y -q --no-install-recommends "${packages[@]}"; then
    all_present && exit 0
  fi
  echo "${label}: attempt ${attempt}/${attempts} failed (dpkg busy?); retrying in 10 s" >&2
  sleep 10
done
echo "${label}: could not install ${packages[*]}" >&2
exit 1
