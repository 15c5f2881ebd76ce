#!/usr/bin/env bash
# Install axe-core from the npm registry into node_modules/ (pinned in package.json, checked
# against package-lock.json's integrity hash), for the accessibility tests
# (tests/browser/test_accessibility.py). Does nothing when it is already there. The tests never
# fetch it: without it they skip, or fail when CI=true.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
want="$(sed -n 's/.*"axe-core": "\(.*\)".*/\1/p' package.json)"
have="$(sed -n 's/.*"version": "\(.*\)".*/\1/p' node_modules/axe-core/package.json 2>/dev/null | head -1 || true)"
if [ -f node_modules/axe-core/axe.min.js ] && [ "$have" = "$want" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  bash "$root/scripts/apt-install.sh" --name install-axe --needs npm npm
fi
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
echo "install-axe: axe-core $(sed -n 's/.*"version": "\(.*\)".*/\1/p' node_modules/axe-core/package.json | head -1) in node_modules/"
