#!/bin/bash
# Builds a Lambda runtime image (python3.11 or nodejs20) from the Debian
# packages installed on this host: the runtime's package and its
# dependency closure (apt-cache, installed versions only), dash for
# /bin/sh, the project's bootstrap at /var/runtime, Lambda's sandbox user.
# Output: <cache>/runtimes/<runtime>-<hash>/{rootfs/,image.erofs}; the hash
# covers this script, the bootstrap sources and every package version, so a
# rebuild happens only when one of them changes. Prints the output dir.
#   usage: build-image.sh <python3.11|nodejs20> [cache_dir]
set -euo pipefail

runtime=${1:?usage: build-image.sh <python3.11|nodejs20> [cache_dir]}
cache=${2:-${THAW_CACHE:-$HOME/.cache/thaw}}
here=$(cd "$(dirname "$0")" && pwd)

case "$runtime" in
  python3.11) roots=(python3.11-minimal libpython3.11-stdlib)
              exclude='^(dpkg|tar|debconf|perl.*|readline-common)$' ;;
  nodejs20)   roots=(nodejs)
              exclude='^(dpkg|tar|debconf|perl.*|readline-common|python3.*|libpython3.*|openssl|ca-certificates)$' ;;
  *) echo "build-image: unknown runtime '$runtime' (python3.11, nodejs20)" >&2; exit 2 ;;
esac
[[ -d "$here/$runtime" ]] || { echo "build-image: no bootstrap dir $here/$runtime" >&2; exit 2; }

closure=$(apt-cache depends --installed --recurse --no-recommends --no-suggests --no-conflicts \
            --no-breaks --no-replaces --no-enhances "${roots[@]}" dash |
          grep -v '^ ' | grep -Ev "$exclude" | sort -u)
for p in $closure; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || {
    echo "build-image: package $p (needed by $runtime) is not installed; apt-get install -y $p" >&2
    exit 1
  }
done
if [[ "$runtime" == nodejs20 ]]; then
  major=$(dpkg-query -W -f='${Version}' nodejs | cut -d. -f1)
  [[ "$major" == 20 ]] || { echo "build-image: nodejs is version $major, need 20" >&2; exit 1; }
fi

key=$( { cat "$0"; cat "$here/$runtime"/*; dpkg-query -W $closure; } | sha256sum | cut -c1-16)
out="$cache/runtimes/$runtime-$key"
if [[ -f "$out/image.erofs" ]]; then echo "$out"; exit 0; fi

mkdir -p "$cache/runtimes"
tmp=$(mktemp -d "$cache/runtimes/.build-$runtime-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root="$tmp/rootfs"
mkdir -p "$root"/{usr/bin,usr/sbin,usr/lib,usr/lib64,etc,var/runtime,var/task,opt,tmp,proc,dev,sys}
# Debian 12 is merged-/usr: keep its top-level symlinks so package paths land.
for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done
chmod 1777 "$root/tmp"

# Regular files and symlinks of every package (directories come implicitly).
dpkg -L $closure | sort -u | while IFS= read -r f; do
  case "$f" in /usr/share/doc/*|/usr/share/man/*|/usr/share/info/*|/usr/share/lintian/*|/usr/include/*) continue ;; esac
  if [[ -L "$f" || -f "$f" ]]; then printf '%s\n' "${f#/}"; fi
done > "$tmp/files"
tar -C / --no-recursion -cf - -T "$tmp/files" | tar -C "$root" --keep-directory-symlink -xf -

[[ -e "$root/usr/bin/sh" ]] || ln -s dash "$root/usr/bin/sh"
cp -a "$here/$runtime"/. "$root/var/runtime/"
chmod 0755 "$root/var/runtime/bootstrap"
# Lambda runs functions as sbx_user1051 (uid 993).
cat > "$root/etc/passwd" <<PASSWD
root:x:0:0:root:/root:/bin/sh
sbx_user1051:x:993:990::/tmp:/sbin/nologin
PASSWD
printf 'root:x:0:\nsbx_user1051:x:990:\n' > "$root/etc/group"

mkfs.erofs --quiet -T0 --all-root "$tmp/image.erofs" "$root" >/dev/null
mv "$tmp" "$out.partial" && mv "$out.partial" "$out"
trap - EXIT
echo "$out"
