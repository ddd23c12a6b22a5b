#!/usr/bin/env bash
# Runs every Google Benchmark suite of perf/ and writes one JSON file per
# suite plus machine.json (CPU, kernel, KVM kind, commit) into a results
# directory, then prints a summary table. Compare two runs with
# perf/compare.py OLD_DIR NEW_DIR.
#   usage: perf/run.sh [--builddir build] [--out perf-results/<commit>] [--filter REGEX]
set -euo pipefail
cd "$(dirname "$0")/.."
builddir=build
out=""
filter=""
while (($#)); do
  case $1 in
    --builddir) builddir=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --filter) filter=$2; shift 2 ;;
    *) echo "perf/run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
out=${out:-perf-results/$commit}
mkdir -p "$out"
out=$(cd "$out" && pwd)
[[ -f $builddir/build.ninja ]] || meson setup "$builddir" >/dev/null
ninja -C "$builddir" >/dev/null

kvm_kind=$("$builddir/agent/thawd" --doctor --json 2>/dev/null |
  python3 -c 'import json,sys; print(json.load(sys.stdin).get("kvm_kind","unknown"))' 2>/dev/null || echo unknown)
python3 - "$out/machine.json" "$commit" "$kvm_kind" <<'PY'
import json, os, platform, sys
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
json.dump({"commit": sys.argv[2], "kvm_kind": sys.argv[3], "cpu": cpu, "cores": os.cpu_count(),
           "kernel": platform.release(), "load_avg": os.getloadavg()}, open(sys.argv[1], "w"), indent=2)
PY

# meson runs each benchmark with its registered environment (thaw-init path,
# bootstraps); Google Benchmark reads its flags from BENCHMARK_* variables.
for name in $(meson test -C "$builddir" --benchmark --list 2>/dev/null | grep -E '^[a-z_]+$'); do
  [[ -n $filter && ! $name =~ $filter ]] && continue
  echo "== $name"
  BENCHMARK_OUT="$out/$name.json" BENCHMARK_OUT_FORMAT=json \
    meson test -C "$builddir" --benchmark --no-rebuild "$name" --print-errorlogs >/dev/null ||
    echo "   $name failed: see $builddir/meson-logs/testlog.txt"
done
python3 perf/summary.py "$out"
