#!/usr/bin/env bash
# Installs the Debian 12 packages thaw builds and tests with. Idempotent and
# quick when everything is present; needs root (apt-get).
set -euo pipefail

packages=(
  # build
  meson ninja-build pkg-config g++ clang libclang-rt-14-dev
  # libraries
  liburing-dev libseccomp-dev libcap-dev libboost-json1.81-dev libboost1.81-dev libfmt-dev
  libspdlog-dev libcli11-dev libarchive-dev libssl-dev libsystemd-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # images and the guest kernel
  erofs-utils linux-source-6.1 bc flex bison libelf-dev cpio xz-utils
  busybox-static lz4 make patch file
  # the main job (tools/demo.sh) talks to thawd over its socket with curl
  curl
  # perf/run.sh: thaw-bench's latency CDF plots, the QEMU microvm peer
  gnuplot-nox qemu-system-x86
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root (apt-get)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
