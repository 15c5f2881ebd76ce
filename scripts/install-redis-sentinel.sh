#!/usr/bin/env bash
# Install Debian's redis-sentinel for the failover test (tests/platform/test_sentinel.py). Does nothing when it
# is already there (scripts/apt-install.sh: waits for the dpkg lock, retries).
# The package's own sentinel service is not started (--no-services): the test starts its own on spare ports.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$here/apt-install.sh" --name install-redis-sentinel --no-services --needs redis-sentinel redis-sentinel
