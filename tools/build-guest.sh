#!/usr/bin/env bash
# Builds the guest kernel (Debian linux-source-6.1 + guest/kernel fragments)
# and the test initramfs, cached under ${THAW_CACHE:-~/.cache/thaw}/guest/
# keyed by a hash of every input, so the second run is instant.
#
#   tools/build-guest.sh [--variant auto|standard|pvm] [--only-if-cached] [--print-dir]
#
# Variants: `standard` is the unpatched kernel for hardware KVM; `pvm` adds
# guest/kernel/pvm/ (config, patches, command line) for hosts whose KVM is the
# kvm_pvm module. `auto` picks by the rule `thawd --doctor` reports: pvm when
# /sys/module/kvm_pvm exists. One variant per run: a build takes ~3 minutes on
# 2 cores and a host only ever runs one of them.
#
# The build runs in a temporary directory beside the cache entry and is
# renamed into place only when complete, so an interrupted build never leaves
# a half artefact. Logs go to stderr; stdout carries `name=path` lines
# (dir, bzImage, vmlinux, initramfs), or only the directory with --print-dir.
# With --only-if-cached a missing entry exits 3 without building.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
self=$repo/tools/$(basename "$0")
tarball=${THAW_LINUX_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
busybox=${THAW_BUSYBOX:-/bin/busybox}
cache=${THAW_CACHE:-$HOME/.cache/thaw}/guest
variant=auto
only_if_cached=0
print_dir=0

die() { echo "build-guest: $*" >&2; exit 1; }
log() { echo "build-guest: $*" >&2; }

while (($#)); do
  case $1 in
    --variant) variant=${2:?--variant needs auto, standard or pvm}; shift 2 ;;
    --variant=*) variant=${1#*=}; shift ;;
    --only-if-cached) only_if_cached=1; shift ;;
    --print-dir) print_dir=1; shift ;;
    -h|--help) sed -n '2,18p' "$self" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

case $variant in
  auto) if [[ -d /sys/module/kvm_pvm ]]; then variant=pvm; else variant=standard; fi ;;
  standard|pvm) ;;
  *) die "--variant '$variant' is not one of auto, standard, pvm" ;;
esac

[[ -r $tarball ]] || die "kernel source $tarball not found; install it with 'apt-get install linux-source-6.1' (tools/install-deps.sh) or set THAW_LINUX_TARBALL"
[[ -x $busybox ]] || die "static busybox $busybox not found; install 'busybox-static' (tools/install-deps.sh) or set THAW_BUSYBOX"
[[ $(file -L "$busybox" 2>/dev/null) == *"statically linked"* ]] \
  || die "$busybox is not statically linked; the initramfs has no libc. Install 'busybox-static'"

kdir=$repo/guest/kernel
idir=$repo/guest/initramfs
inputs=("$kdir/thaw.config" "$kdir/cmdline" "$idir/test-init" "$idir/test.list" "$self")
patches=()
if [[ $variant == pvm ]]; then
  inputs+=("$kdir/pvm/pvm.config" "$kdir/pvm/cmdline")
  mapfile -t patches < <(find "$kdir/pvm" -maxdepth 1 -name '*.patch' | LC_ALL=C sort)
  inputs+=("${patches[@]}")
fi
for f in "${inputs[@]}"; do [[ -r $f ]] || die "input $f is missing"; done

# The key covers the sources (tarball and busybox by content), every file
# under guest/ this variant uses, this script, and the compiler.
key=$({
  echo "variant=$variant"
  sha256sum "$tarball" "$busybox" | cut -d' ' -f1
  for f in "${inputs[@]}"; do echo "${f#"$repo"/}"; sha256sum < "$f"; done
  gcc --version | head -n1
} | sha256sum | cut -c1-16)
out=$cache/$variant-$key

report() {
  if ((print_dir)); then echo "$out"; return; fi
  echo "dir=$out"
  echo "bzImage=$out/bzImage"
  echo "vmlinux=$out/vmlinux"
  echo "initramfs=$out/initramfs-test.cpio"
}

if [[ -f $out/complete ]]; then report; exit 0; fi
if ((only_if_cached)); then
  log "no cached $variant guest at $out (run tools/build-guest.sh without --only-if-cached to build it, ~3 min)"
  exit 3
fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9  # one build at a time; a second caller waits, then finds it cached
if [[ -f $out/complete ]]; then report; exit 0; fi

# Under the lock no build runs, so any .build-* left is from a killed one.
rm -rf "$cache"/.build-*
tmp=$(mktemp -d "$cache/.build-$variant-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
log "building $variant guest kernel into $out (log: $tmp/build.log while running)"

tar -xJf "$tarball" -C "$tmp"
src=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d -name 'linux-source-*' | head -n1)
[[ -n $src ]] || die "$tarball did not contain a linux-source-* directory"

for p in "${patches[@]}"; do
  patch -d "$src" -p1 --forward --batch --quiet < "$p" \
    || die "patch $(basename "$p") does not apply to $(basename "$tarball"); refresh it against this source"
done

fragments=("$kdir/thaw.config")
[[ $variant == pvm ]] && fragments+=("$kdir/pvm/pvm.config")
mk=(make -C "$src" ARCH=x86_64 -j"$(nproc)" KBUILD_BUILD_USER=thaw KBUILD_BUILD_HOST=thaw
    KBUILD_BUILD_TIMESTAMP="thaw-$key")
"${mk[@]}" tinyconfig >"$tmp/build.log" 2>&1 || die "make tinyconfig failed (see above)"
"$src/scripts/kconfig/merge_config.sh" -m -O "$src" "$src/.config" "${fragments[@]}" >>"$tmp/build.log" 2>&1 \
  || die "merging ${fragments[*]} failed"
"${mk[@]}" olddefconfig >>"$tmp/build.log" 2>&1 || die "make olddefconfig failed"

# olddefconfig silently drops a symbol whose dependencies are unmet; every
# fragment line is a promise, so a dropped one fails the build by name.
while IFS= read -r line; do
  sym=${line%%=*} want=${line#*=}
  if [[ $want == n ]]; then
    grep -q "^$sym=" "$src/.config" && die "$sym=n in the fragment but the kernel config has $(grep "^$sym=" "$src/.config"): something selects it"
  else
    grep -qxF "$line" "$src/.config" \
      || die "$line from the fragment did not survive olddefconfig (now: $(grep -E "^$sym=|^# $sym is not set" "$src/.config" || echo absent)); add its missing dependency to guest/kernel/thaw.config"
  fi
done < <(grep -hE '^CONFIG_[A-Za-z0-9_]+=' "${fragments[@]}")

if ! "${mk[@]}" bzImage vmlinux >>"$tmp/build.log" 2>&1; then
  tail -n 40 "$tmp/build.log" >&2
  die "kernel build failed (last 40 lines above)"
fi

dest=$tmp/out
mkdir "$dest"
cp "$src/arch/x86/boot/bzImage" "$dest/bzImage"
cp "$src/vmlinux" "$dest/vmlinux"
cp "$src/.config" "$dest/config"

# The initramfs is written by the kernel's own gen_init_cpio, so /dev/console
# is a real device node without needing root or mknod.
cc -O2 -o "$tmp/gen_init_cpio" "$src/usr/gen_init_cpio.c"
sed -e "s|@INIT@|$idir/test-init|" -e "s|@BUSYBOX@|$busybox|" "$idir/test.list" > "$tmp/test.list"
"$tmp/gen_init_cpio" "$tmp/test.list" > "$dest/initramfs-test.cpio"

cmdline_files=("$kdir/cmdline")
[[ $variant == pvm ]] && cmdline_files+=("$kdir/pvm/cmdline")
grep -hv '^[[:space:]]*\(#\|$\)' "${cmdline_files[@]}" | paste -sd' ' > "$dest/cmdline"
echo "$variant" > "$dest/cpu-model"
echo "$variant" > "$dest/variant"
{
  echo "linux-source: $(basename "$tarball") $(make -s -C "$src" kernelversion)"
  echo "busybox: $("$busybox" 2>&1 | head -n1)"
  echo "compiler: $(gcc --version | head -n1)"
  echo "patches: ${patches[*]##*/}"
  echo "built: $(date -u +%FT%TZ) in $(($(date +%s) - start)) s"
} > "$dest/BUILD-INFO"
touch "$dest/complete"

rm -rf "$out"  # an incomplete leftover (no `complete` marker) from an older layout
mv -T "$dest" "$out"
log "built $variant guest in $(($(date +%s) - start)) s"
report
