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
rc=0
meson test -C "$builddir" --print-errorlogs --num-processes "$(nproc)" "$@" || rc=$?
# The closing line CI reads: counts of meson tests by outcome.
python3 - "$builddir/meson-logs/testlog.json" <<'PY'
import json, sys
counts = {"passed": 0, "failed": 0, "skipped": 0}
for line in open(sys.argv[1]):
    result = json.loads(line)["result"]
    if result in ("OK", "EXPECTEDFAIL"):
        counts["passed"] += 1
    elif result == "SKIP":
        counts["skipped"] += 1
    else:
        counts["failed"] += 1
print(f"tests: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
PY
exit $rc
