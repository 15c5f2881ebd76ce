#!/usr/bin/env bash
# Install Debian's nginx and wrk for the cluster, the benchmark and the fault run.
# Does nothing when both are already there (scripts/apt-install.sh: waits for the dpkg lock, retries).
#
# Debian's nginx package starts its own service on port 80 of every address when it is
# installed; the cluster only ever runs nginx with its own loopback config, so service
# starts are refused during the install (--no-services).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$here/../scripts/apt-install.sh" --name install-tools --no-services \
  --needs nginx --needs wrk nginx wrk
