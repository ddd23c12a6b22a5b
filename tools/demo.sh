#!/usr/bin/env bash
# The README's main job: installs what is missing, builds thaw and its cached
# guest artefacts, checks the host (thawd --doctor), then
#  1. deploys the embedded sample function (tools/quickstart/sample, Python
#     3.11) as an EROFS image and invokes it cold and warm in the process
#     backend, printing the latencies;
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
echo "== sample function, process backend: deploy, cold and warm invokes"
runtime_dir=$(guest/runtimes/build-image.sh python3.11 | tail -n 1)
work=$(mktemp -d /tmp/thaw-demo-XXXXXX)
trap 'rm -rf "$work"' EXIT
(cd tools/quickstart/sample && python3 -m zipfile -c "$work/function.zip" lambda_function.py)
"$builddir/tools/quickstart/thaw-quickstart" \
  --zip "$work/function.zip" --runtime python3.11 --handler lambda_function.lambda_handler \
  --runtime-image "$runtime_dir/image.erofs" --init "$builddir/runtime-api/thaw-init" \
  --seccomp-policy sandbox/process/seccomp-policy.txt --state-dir "$work/state" --warm 100

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
