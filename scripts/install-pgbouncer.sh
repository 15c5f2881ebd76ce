#!/usr/bin/env bash
# Install Debian's pgbouncer for the PgBouncer tests (tests/platform/test_pgbouncer.py) and the fault run's
# --pgbouncer option (bench/faults.py). Does nothing when it is already there (scripts/apt-install.sh: waits
# for the dpkg lock, retries). The package's own pgbouncer service is not started (--no-services): the tests
# and the bench start their own on spare loopback ports (tests/support/pgbouncer.py).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$here/apt-install.sh" --name install-pgbouncer --no-services --needs pgbouncer pgbouncer
