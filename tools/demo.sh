#!/usr/bin/env bash
# The README's main job: installs what is missing, builds thaw and its cached
# guest artefacts, checks the host (thawd --doctor), then
#  1. starts thawd on a private socket, deploys the embedded sample function
#     (tools/sample, Python 3.11) with CreateFunction and invokes it cold and
#     warm through the Lambda API (process backend), printing the latencies;
#  2. boots the project's test guest in a KVM microVM with thaw-vmm and
#     prints the time from process start to the guest's clean exit;
#  3. with --linux, boots the Linux guest kernel to userspace too (slow on
#     PVM hosts: 20-80 s of emulated guest kernel time).
# Needs root (apt-get, namespaces, mounts, /dev/kvm).
set -euo pipefail
cd "$(dirname "$0")/.."
with_linux=false
[[ ${1:-} == --linux ]] && with_linux=true

tools/install-deps.sh
builddir=${THAW_BUILDDIR:-build}
[[ -f $builddir/build.ninja ]] || meson setup "$builddir" >/dev/null
ninja -C "$builddir" >/dev/null

echo "== host check (thawd --doctor)"
"$builddir/agent/thawd" --doctor || echo "(doctor found problems; the process backend may still run)"

echo
echo "== sample function through thawd (process backend): deploy, cold and warm invokes"
runtime_dir=$(guest/runtimes/build-image.sh python3.11 | tail -n 1)
work=$(mktemp -d /tmp/thaw-demo-XXXXXX)
thawd_pid=""
cleanup() {
  [[ -n $thawd_pid ]] && kill "$thawd_pid" 2>/dev/null && wait "$thawd_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
sock=$work/thaw.sock
"$builddir/agent/thawd" --socket "$sock" --state-dir "$work/state" \
  --init "$builddir/runtime-api/thaw-init" --seccomp-policy sandbox/process/seccomp-policy.txt \
  --runtime-image "python3.11=$runtime_dir/image.erofs" 2>"$work/thawd.log" &
thawd_pid=$!
for _ in $(seq 100); do
  curl -sf --unix-socket "$sock" http://thaw/agent/v1/health >/dev/null 2>&1 && break
  sleep 0.1
done
api() { curl -sS --unix-socket "$sock" "$@"; }

(cd tools/sample && python3 -m zipfile -c "$work/function.zip" lambda_function.py)
printf '{"FunctionName":"hello","Runtime":"python3.11","Handler":"lambda_function.lambda_handler","MemorySize":128,"Timeout":10,"Code":{"ZipFile":"%s"}}' \
  "$(base64 -w0 "$work/function.zip")" >"$work/create.json"
api -o "$work/created.json" -w 'CreateFunction: HTTP %{http_code} in %{time_total} s\n' \
  -X POST -H 'Content-Type: application/json' --data-binary @"$work/create.json" \
  http://thaw/2015-03-31/functions
invoke() {
  api -o "$work/response.json" -w '%{time_total}' -X POST --data-binary '{"name":"thaw"}' \
    http://thaw/2015-03-31/functions/hello/invocations
}
cold=$(invoke)
echo "response: $(cat "$work/response.json")"
warm=()
for _ in $(seq 50); do warm+=("$(invoke)"); done
python3 - "$cold" "${warm[@]}" <<'PY'
import sys
cold, warm = float(sys.argv[1]) * 1000, sorted(float(x) * 1000 for x in sys.argv[2:])
print(f"cold invoke (sandbox start + runtime init + handler), one curl process each: {cold:.1f} ms")
print(f"warm invoke x{len(warm)}, one curl process each (perf/ has the in-process figures): p50 {warm[len(warm) // 2]:.2f} ms, "
      f"p99 {warm[min(len(warm) - 1, len(warm) * 99 // 100)]:.2f} ms")
PY
echo "thawd's log for the cold and the first warm invocation:"
grep -m 6 -E '^(START|END|REPORT)' "$work/state/logs/hello.log" | sed 's/^/  | /'

echo
echo "== test guest in a KVM microVM (thaw-vmm)"
start=$(date +%s%N)
"$builddir/sandbox/bin/thaw-vmm" --kernel "$builddir/tests/guest/thaw-test-guest" \
  --cmdline "thaw.test=hello" --mem 64 --vcpus 1 --serial "$work/serial.log"
end=$(date +%s%N)
sed 's/^/  | /' "$work/serial.log"
echo "thaw-vmm start to guest exit: $(( (end - start) / 1000 )) us"

if $with_linux; then
  echo
  echo "== Linux guest in a KVM microVM (thaw-vmm)"
  variant=$("$builddir/agent/thawd" --doctor --guest-variant)
  guest_dir=$(tools/build-guest.sh --variant "$variant" --print-dir)
  start=$(date +%s%N)
  "$builddir/sandbox/bin/thaw-vmm" --kernel "$guest_dir/vmlinux" --initrd "$guest_dir/initramfs-test.cpio" \
    --cpu-model "$(cat "$guest_dir/cpu-model")" --cmdline "$(cat "$guest_dir/cmdline")" \
    --mem 256 --vcpus 1 --serial "$work/linux.log"
  end=$(date +%s%N)
  grep -a "THAW-GUEST-USERSPACE-OK" "$work/linux.log" | sed 's/^/  | /'
  echo "thaw-vmm start to Linux guest exit: $(( (end - start) / 1000000 )) ms"
fi
