#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium;
# it never downloads a browser of its own). Does nothing when chromium is already there
# (scripts/apt-install.sh: waits for the dpkg lock, retries).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$here/apt-install.sh" --name install-chromium --needs chromium chromium fonts-dejavu-core
