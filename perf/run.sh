#!/usr/bin/env bash
# The whole perf suite in one command (< 10 minutes on a 2-core dev VM):
#  1. machine facts (commit, CPU, kernel, KVM kind from thawd --doctor, QEMU);
#  2. every Google Benchmark suite of perf/ (one JSON file each);
#  3. thaw-bench through thawd, process backend: warm closed and open loop,
#     throughput, cold starts with phases, creation rate, density, beside
#     the native baseline (thaw-native) in the same run;
#  4. the microvm backend: thaw-bench through thawd --backend microvm where
#     thawd has one, and the suites that boot the Linux guest
#     (microvm_cold_start), given half of what is left of the 10 minutes;
#  5. QEMU microvm vs thaw-vmm: boot and snapshot restore of the same guest
#     (boots in the rest of the budget, else restores of cached snapshots);
# then prints report.md. --smoke runs a few seconds of each tool (CI checks
# the tools work, not the numbers). Compare two runs: perf/compare.py A B.
#   usage: perf/run.sh [--smoke] [--builddir build] [--out perf-results/<commit>]
#                      [--filter REGEX] [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."
builddir=build
out=""
filter=""
smoke=false
build=true
while (($#)); do
  case $1 in
    --builddir) builddir=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --filter) filter=$2; shift 2 ;;
    --smoke) smoke=true; shift ;;
    --no-build) build=false; shift ;;
    *) echo "perf/run.sh: unknown option $1 (see the usage line at the top of perf/run.sh)" >&2; exit 2 ;;
  esac
done
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
out=${out:-perf-results/$commit}
mkdir -p "$out"
out=$(cd "$out" && pwd)
if $build; then
  [[ -f $builddir/build.ninja ]] || meson setup "$builddir" >/dev/null
  # A target that does not build (someone mid-edit) costs only its suite.
  ninja -C "$builddir" -k 0 >"$out/build.log" 2>&1 ||
    echo "perf/run.sh: some targets did not build (see $out/build.log); their suites will fail" >&2
fi
B=$builddir
for f in agent/thawd runtime-api/thaw-init perf/thaw-bench/thaw-bench perf/thaw-native/thaw-native; do
  [[ -x $B/$f ]] || { echo "perf/run.sh: $B/$f is not built (run without --no-build)" >&2; exit 1; }
done
suite_start=$(date +%s)
stage() { echo "== $1 ($(($(date +%s) - suite_start)) s)"; }
budget_left() { echo $((${PERF_BUDGET_S:-600} - ($(date +%s) - suite_start) - 45)); }

stage "machine facts"
"$B/agent/thawd" --doctor --json >"$out/doctor.json" 2>/dev/null || true
variant=$("$B/agent/thawd" --doctor --guest-variant 2>/dev/null || echo pvm)
guest_dir=$(tools/build-guest.sh --variant "$variant" --only-if-cached --print-dir 2>/dev/null || true)
# snapshot_restore's Linux-guest case reads it (without it that case reports an error).
if [[ -n $guest_dir ]]; then export THAW_GUEST_DIR=$guest_dir; fi
python3 perf/machine_facts.py "$out/machine.json" "$commit" "$out/doctor.json" "$guest_dir" "$smoke"

stage "micro-benchmarks"
# Smoke: the fast suites only, briefly; the full run gives each benchmark
# 0.2 s (Google Benchmark reads BENCHMARK_* variables; meson passes them).
# Suites that boot the Linux guest run later, within the time budget.
fast='^(common_io_loop|http_parse|snapshot_state_codec|runtime_api_frame_codec|virtio_virtqueue)$'
linux_boot='^(microvm_cold_start)$'
if $smoke; then export BENCHMARK_MIN_TIME=${BENCHMARK_MIN_TIME:-0.01}; else export BENCHMARK_MIN_TIME=${BENCHMARK_MIN_TIME:-0.2}; fi
run_suite() {  # NAME [meson test options...]
  local name=$1
  shift
  echo "   $name"
  # Own log files: perf_smoke runs this inside `meson test` on the same build
  # directory, whose testlog.json must not be rewritten under it.
  BENCHMARK_OUT="$out/$name.json" BENCHMARK_OUT_FORMAT=json \
    meson test -C "$B" --benchmark --no-rebuild --logbase perf-benchlog "$@" "$name" >/dev/null 2>&1 ||
    echo "   $name failed or timed out (load $(cut -d' ' -f1 /proc/loadavg)): see $B/meson-logs/perf-benchlog.txt" |
    tee -a "$out/failures.txt"
}
suites=$(meson test -C "$B" --benchmark --list --no-rebuild 2>/dev/null | grep -E '^[a-z_]+$' || true)
for name in $suites; do
  [[ -n $filter && ! $name =~ $filter ]] && continue
  [[ $name =~ $linux_boot ]] && continue
  $smoke && [[ ! $name =~ $fast ]] && continue
  run_suite "$name"
done

common=(--init "$B/runtime-api/thaw-init" --seccomp-policy sandbox/process/seccomp-policy.txt
        --native "$B/perf/thaw-native/thaw-native" --out "$out")
if $smoke; then
  # The C++ test runtime needs no runtime image, so CI need not build one.
  function=(--function provided --bootstrap "$B/tests/runtime-api/test_bootstrap")
  sizes=(--duration 0.5 --warmup 0.2 --rate 50 --connections 2 --throughput-concurrency 2
         --cold-samples 2 --create-count 2 --create-concurrency 2 --density-max 2)
else
  rt=$(guest/runtimes/build-image.sh python3.11 | tail -n 1)
  function=(--function python --sample-dir tools/sample --runtime-image "python3.11=$rt/image.erofs")
  sizes=(--duration 10 --warmup 2 --rate 200 --connections 8 --throughput-concurrency 8
         --cold-samples 30 --create-count 16 --create-concurrency 4 --density-max 48
         --density-budget-mb 1024)
fi
modes=warm,open,throughput,cold,create-rate,density

if [[ -z $filter || thaw-bench =~ $filter ]]; then
  stage "thaw-bench: thawd process backend + native baseline"
  "$B/perf/thaw-bench/thaw-bench" --thawd "$B/agent/thawd" "${common[@]}" "${function[@]}" "${sizes[@]}" \
    --modes "$modes" --label "thawd process" --stem thaw-bench-process >/dev/null ||
    echo "thaw-bench (process backend) failed: see $out/thaw-bench-process.md" | tee -a "$out/failures.txt"

  stage "thaw-bench: thawd microvm backend (within the budget)"
  left=$(budget_left)
  if ! "$B/agent/thawd" --help 2>&1 | grep -q -- '--backend'; then
    printf '# thaw-bench: thawd microvm\n\nSkipped: this thawd (%s) has no --backend option.\n' "$commit" \
      >"$out/thaw-bench-microvm.md"
  elif [[ -z $guest_dir || ! -x $B/sandbox/bin/thaw-vmm ]]; then
    printf '# thaw-bench: thawd microvm\n\nSkipped: no built guest kernel (tools/build-guest.sh) or thaw-vmm.\n' \
      >"$out/thaw-bench-microvm.md"
  elif $smoke || ((left < 120)); then
    printf '# thaw-bench: thawd microvm\n\nSkipped: %s; the first cold start of a version boots the Linux guest (25 s idle, minutes on a loaded PVM host).\n' \
      "$($smoke && echo "smoke run" || echo "only ${left} s left of the budget")" >"$out/thaw-bench-microvm.md"
  else
    # One function: its first cold start boots and snapshots (not a sample);
    # each cold sample restores it after thawd's reaper (1 s) killed the
    # last sandbox. One sandbox at a time: a VM is heavy on 2 cores.
    # THAW_BENCH_MICROVM_ARGS: extra thawd arguments the backend needs here.
    extra=()
    for a in ${THAW_BENCH_MICROVM_ARGS:-}; do extra+=("--thawd-arg=$a"); done
    timeout --kill-after=20 "$((left / 2))" \
      "$B/perf/thaw-bench/thaw-bench" --thawd "$B/agent/thawd" "${common[@]:0:4}" --out "$out" "${function[@]}" \
      --thawd-arg=--backend=microvm "--thawd-arg=--vmm=$B/sandbox/bin/thaw-vmm" "--thawd-arg=--guest-dir=$guest_dir" \
      --thawd-arg=--idle-timeout=1 "${extra[@]}" --modes warm,open,cold --cold-by reap --concurrency 1 \
      --connections 1 --rate 20 --duration 5 --warmup 1 --cold-samples 5 \
      --label "thawd microvm" --stem thaw-bench-microvm >/dev/null ||
      { [[ -s $out/thaw-bench-microvm.md ]] ||
          printf '# thaw-bench: thawd microvm\n\nDid not finish within %s s (load %s): the Linux guest boot before the first snapshot is emulated CPL0 code on PVM.\n' \
            "$((left / 2))" "$(cut -d' ' -f1 /proc/loadavg)" >"$out/thaw-bench-microvm.md"
        echo "thaw-bench (microvm backend) failed or ran out of time: see $out/thaw-bench-microvm.md" |
          tee -a "$out/failures.txt"; }
  fi
fi

if ! $smoke; then
  stage "micro-benchmarks that boot the Linux guest (within the budget)"
  for name in $suites; do
    [[ $name =~ $linux_boot ]] || continue
    [[ -n $filter && ! $name =~ $filter ]] && continue
    left=$(budget_left)
    if [[ -z $guest_dir ]]; then
      echo "   $name skipped: no built guest (tools/build-guest.sh)" | tee -a "$out/failures.txt"
    elif ((left < 120)); then
      echo "   $name skipped: ${left} s left of the budget; run it alone: THAW_GUEST_DIR=$guest_dir meson test -C $B --benchmark $name" |
        tee -a "$out/failures.txt"
    else
      # meson's timeout for these suites is 900 s; scale it to what is left.
      THAW_GUEST_DIR=$guest_dir run_suite "$name" --timeout-multiplier "$(python3 -c "print(max(0.1, $left / 2 / 900))")"
    fi
  done
fi

if [[ -z $filter || vm_peers =~ $filter ]]; then
  stage "VM peers: QEMU microvm vs thaw-vmm"
  peer_args=(--thaw-vmm "$B/sandbox/bin/thaw-vmm" --guest-dir "$guest_dir" --out "$out")
  # The boots get what is left of the 10 minutes (PVM boots take 25 s idle,
  # minutes under load); with under 2 minutes left only the restores run,
  # from the snapshots an earlier run's boots left in the cache.
  left=$(budget_left)
  if $smoke; then peer_args+=(--check)
  elif ((left < 120)); then peer_args+=(--no-boot)
  else peer_args+=(--boot-timeout "$left")
  fi
  python3 perf/peers/vm_peers.py "${peer_args[@]}" >/dev/null ||
    echo "VM peers reported errors: see $out/vm_peers.md" | tee -a "$out/failures.txt"
fi

stage "report"
python3 perf/report.py "$out" "$(($(date +%s) - suite_start))" >"$out/report.md"
cat "$out/report.md"
[[ ! -s $out/failures.txt ]]
