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
# The Linux guest (kernel + test initramfs), cached by input hash: ~3 min the
# first time on 2 cores, instant after. doctor picks the variant this host's
# KVM needs; tests read THAW_GUEST_DIR and skip without it.
variant=$("$builddir/agent/thawd" --doctor --guest-variant)
THAW_GUEST_DIR=$(tools/build-guest.sh --variant "$variant" --print-dir)
export THAW_GUEST_DIR
meson test -C "$builddir" --print-errorlogs --num-processes "$(nproc)" "$@"
