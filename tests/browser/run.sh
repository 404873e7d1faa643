#!/usr/bin/env bash
# Browser test of the portal: starts a real `plexus serve` on a free loopback port with a
# temporary configuration and data directory, and drives Debian's chromium through it with
# playwright-core (portal.test.mjs says what it checks).
#
#   tests/browser/run.sh --plexus BUILD/bin/plexus [--plugin-dir DIR] [--artifacts DIR] [--keep]
#
#   --plexus PATH      the plexus executable (or env PLEXUS_BIN)
#   --plugin-dir DIR   where the connector libraries are (or env PLEXUS_PLUGIN_DIR; default:
#                      plexus's own default, <bin>/../plugins)
#   --artifacts DIR    screenshots (1280 px and phone width, every step), the downloaded
#                      exports and the server's log (or env PLEXUS_ARTIFACTS; default
#                      tests/browser/artifacts)
#   --keep             keep the temporary directory (configuration, data, database)
#   env CHROMIUM       the browser (default /usr/bin/chromium)
#
# Exit status: 0 every step passed; 1 a step failed (the message says which and why);
# 77 a tool is missing (chromium, node, npm, unzip), so the test could not run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
chromium="${CHROMIUM:-/usr/bin/chromium}"

missing=()
command -v node >/dev/null || missing+=("node (Debian package nodejs)")
command -v npm >/dev/null || missing+=("npm (Debian package npm)")
command -v unzip >/dev/null || missing+=("unzip (Debian package unzip)")
[ -x "$chromium" ] || missing+=("$chromium (Debian package chromium)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "browser test: cannot run, missing: ${missing[*]}" >&2
  echo "browser test: install with: apt-get install -y chromium nodejs npm unzip" >&2
  exit 77
fi

if [ ! -d "$here/node_modules/playwright-core" ]; then
  echo "browser test: installing playwright-core (npm ci in $here)"
  if ! (cd "$here" && npm ci --no-audit --no-fund --loglevel=error); then
    echo "browser test: npm ci failed in $here; is the npm registry reachable?" >&2
    exit 1
  fi
fi

# The browser must reach the portal on loopback directly, never through a proxy.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"
export CHROMIUM="$chromium"
# PLEXUS_BROWSER_TEST: another test script of this folder (runall.sh sets runall.test.mjs).
exec node "$here/${PLEXUS_BROWSER_TEST:-portal.test.mjs}" "$@"
