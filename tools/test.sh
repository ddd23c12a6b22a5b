#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is missing, builds
# everything including cached guest artefacts, and runs every GoogleTest
# suite through meson. Tests that need what the machine lacks report SKIP.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
builddir=${THAW_BUILDDIR:-build}
if [[ ! -f $builddir/build.ninja ]]; then
  meson setup "$builddir" >/dev/null
fi
ninja -C "$builddir"
meson test -C "$builddir" --print-errorlogs --num-processes "$(nproc)" "$@"
