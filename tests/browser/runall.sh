#!/usr/bin/env bash
# Browser acceptance of "Run all in order" on a fresh demo (runall.test.mjs says what it
# checks): the demo's sandboxes and `plexus serve` on free loopback ports, Chromium clicking
# the button. Same tools, options and exit statuses as run.sh.
#
#   tests/browser/runall.sh --plexus BUILD/bin/plexus [--plugin-dir DIR] [--artifacts DIR] [--keep]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PLEXUS_BROWSER_TEST=runall.test.mjs exec "$here/run.sh" "$@"
